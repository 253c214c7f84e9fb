import { asyncScheduler, EMPTY, Observable, takeWhile, tap, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { sameBytes } from '../core/config-bytes.js';
import { endsRun, type ApplyRequest, type FamilyConfig, type OutcomeEvent } from '../core/events.js';
import type { Backoff } from '../core/backoff.js';
import { applyLoop } from './apply-loop.js';

/**
 * The requests the apply driver runs, from the requests `applyRequests` makes,
 * with the driver's outcomes fed back (`outcomes$`, one family's):
 * - one run at a time: the next request goes out after the outcome that ends
 *   the run (`endsRun`); of those that arrive meanwhile only the latest waits;
 * - a run that ends with a retryable failure is sent again after a backoff
 *   (`applyLoop`, on `scheduler`); a newer request cancels the wait;
 * - a write that changes nothing reloads nothing: a changed config with the
 *   bytes of the config BIRD last loaded from a run of this loop (and nothing
 *   installed since) is not sent. A daemon that came up is always reloaded.
 */
export function applyRuns(
  outcomes$: Observable<OutcomeEvent>,
  backoff: Backoff,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<ApplyRequest, ApplyRequest> {
  return (requests$) =>
    new Observable<ApplyRequest>((subscriber) => {
      /** The config the daemon loaded with success last (undefined: unknown, or another file installed since). */
      let loaded: FamilyConfig | undefined;
      const run = (req: ApplyRequest): Observable<OutcomeEvent> => {
        if (req.reason === 'changed' && loaded !== undefined && sameBytes(loaded.parts, req.config.parts)) return EMPTY;
        return new Observable<OutcomeEvent>((run) => {
          // Listen before sending: a driver may answer at once.
          const sub = outcomes$
            .pipe(
              takeWhile((o) => !endsRun(o), true),
              tap((o) => {
                if (o.step === 'install' && o.ok) loaded = undefined;
                else if (o.step === 'reload') loaded = o.ok ? req.config : undefined;
              }),
            )
            .subscribe(run);
          subscriber.next(req);
          return sub;
        });
      };
      return requests$.pipe(applyLoop(run, (o) => o.retryable === true, backoff, scheduler)).subscribe({
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
