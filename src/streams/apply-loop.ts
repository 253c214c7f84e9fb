import {
  asyncScheduler,
  defer,
  from,
  Observable,
  type ObservableInput,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { backoffDelay, type Backoff } from '../core/backoff.js';


/**
 * Apply values one at a time, newest first, retrying failures with backoff:
 * - a value that arrives while one runs waits; only the latest waits (a
 *   burst applies the newest config, not each stale one);
 * - when a run ends with a result that `shouldRetry` accepts (its last
 *   emission), the same value runs again after a delay that doubles from
 *   `initialMs` up to `maxMs`; a newer value cancels the wait and runs now;
 * - a run that succeeds resets the delay.
 * The pipeline never stalls on a failing effect, and never runs two at once.
 */
export function applyLoop<T, R>(
  work: (value: T) => ObservableInput<R>,
  shouldRetry: (last: R) => boolean,
  backoff: Backoff,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      let running: Subscription | undefined;
      let timer: Subscription | undefined;
      let waiting: { value: T } | undefined;
      let failures = 0;
      let sourceDone = false;

      const idle = (): void => {
        if (sourceDone && !running && !timer && !waiting) subscriber.complete();
      };
      const start = (value: T): void => {
        timer?.unsubscribe();
        timer = undefined;
        let last: { r: R } | undefined;
        let sync = true;
        let doneSync = false;
        const finish = (): void => {
          running = undefined;
          const retry = last !== undefined && shouldRetry(last.r);
          failures = retry ? failures + 1 : 0;
          if (waiting) {
            const next = waiting.value;
            waiting = undefined;
            start(next);
          } else if (retry) {
            const delay = backoffDelay(backoff, failures - 1);
            timer = scheduler.schedule(() => {
              timer = undefined;
              start(value);
            }, delay);
          } else idle();
        };
        const sub = defer(() => from(work(value))).subscribe({
          next: (r) => {
            last = { r };
            subscriber.next(r);
          },
          error: (err) => subscriber.error(err),
          complete: () => {
            if (sync) doneSync = true;
            else finish();
          },
        });
        sync = false;
        if (doneSync) finish();
        else running = sub;
      };
      const outer = source.subscribe({
        next: (value) => {
          if (running) waiting = { value };
          else start(value);
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          idle();
        },
      });
      return () => {
        outer.unsubscribe();
        running?.unsubscribe();
        timer?.unsubscribe();
      };
    });
}
