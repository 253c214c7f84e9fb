import { asyncScheduler, catchError, defer, EMPTY, filter, from, of, repeat, switchMap, take, timer, type Observable, type MonoTypeOperatorFunction, type ObservableInput, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { retryBackoff } from './retry-backoff.js';
import type { Probe } from '../core/events.js';

/** s6-supervise's event characters (its fifodir): `u` ./run spawned, `d` it died, `D` its finish script ran. */
const UP = 'u';
const DOWN = new Set(['d', 'D']);

export interface UpWait {
  /** How often to try the socket after s6 reports the service up. */
  readonly pollMs: number;
  /** Stop trying after this long (the periodic probe still runs). */
  readonly maxWaitMs: number;
}

/**
 * The first probe that finds the daemon up: `probe` now, then `pollMs` after
 * each one that does not (a failed probe counts as not up), as long as
 * `maxWaitMs` has not passed when it ends; empty when the time is up.
 */
function untilUp(probe: () => ObservableInput<Probe>, o: UpWait, scheduler: SchedulerLike = asyncScheduler): Observable<Probe> {
  return defer(() => {
    const deadline = scheduler.now() + o.maxWaitMs;
    return defer(() => from(probe())).pipe(
      catchError(() => of<Probe>({ up: false })),
      repeat({ delay: () => (scheduler.now() < deadline ? timer(o.pollMs, scheduler) : EMPTY) }),
      filter((p) => p.up),
      take(1),
    );
  });
}

/**
 * A supervised daemon's probes from its s6 events: `d`/`D` is a down probe;
 * `u` waits for the control socket to answer (`untilUp`) and emits that
 * probe, so a BIRD that s6 restarted is seen at once instead of at the next
 * periodic probe. Each event ends the wait of the one before.
 */
export function s6EventProbes(service: string, probe: () => ObservableInput<Probe>, o: UpWait, scheduler: SchedulerLike = asyncScheduler): OperatorFunction<string, Probe> {
  return (events$) =>
    events$.pipe(
      filter((ch) => ch === UP || DOWN.has(ch)),
      switchMap((ch) => (ch === UP ? untilUp(probe, o, scheduler) : of<Probe>({ up: false, reason: `s6: ${service} down` }))),
    );
}

/**
 * Subscribe to a service's s6 events again `retryMs` after each failed
 * attempt (its event fifodir not there yet, mkfifo failed, the FIFO gone),
 * for as long as it is wanted: a subscription that cannot be made is never
 * the end of the events.
 */
export function resubscribeEvery(retryMs: number, scheduler: SchedulerLike = asyncScheduler): MonoTypeOperatorFunction<string> {
  return retryBackoff<string>({ initialMs: retryMs, maxMs: retryMs }, () => undefined, scheduler);
}
