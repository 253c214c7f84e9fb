import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * Debounce with a leading edge and a ceiling:
 * - a value that arrives after the source has been quiet for `dueMs` is
 *   emitted at once (an isolated change reaches BIRD without waiting);
 * - values that follow within `dueMs` of each other are held, and the latest
 *   is emitted once the source has been quiet for `dueMs`;
 * - none is held longer than `maxWaitMs`: a steady stream still gets through.
 * A burst of 1,000 puts becomes a few emissions (first, ceiling, last).
 * Completion flushes.
 */
export function debounceMaxWait<T>(
  dueMs: number,
  maxWaitMs: number,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let pending: { value: T } | undefined;
      /** Running while the source has not been quiet for dueMs: we are inside a burst. */
      let quiet: Subscription | undefined;
      let ceiling: Subscription | undefined;
      const emitPending = (): void => {
        if (pending) {
          const { value } = pending;
          pending = undefined;
          subscriber.next(value);
        }
      };
      const armCeiling = (): void => {
        ceiling?.unsubscribe();
        ceiling = scheduler.schedule(() => {
          ceiling = undefined;
          emitPending();
          if (quiet) armCeiling();
        }, Math.max(maxWaitMs, dueMs));
      };
      const onQuiet = (): void => {
        quiet = undefined;
        ceiling?.unsubscribe();
        ceiling = undefined;
        emitPending();
      };
      const sub = source.subscribe({
        next: (value) => {
          const idle = quiet === undefined;
          quiet?.unsubscribe();
          quiet = scheduler.schedule(onQuiet, dueMs);
          if (idle) {
            subscriber.next(value);
            armCeiling();
          } else {
            pending = { value };
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          emitPending();
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        quiet?.unsubscribe();
        ceiling?.unsubscribe();
      };
    });
}
