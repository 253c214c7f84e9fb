import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * Debounce with a ceiling: emit the latest value once the source has been
 * quiet for `dueMs`, but never hold a value longer than `maxWaitMs` after the
 * first value of a burst. A burst of 1,000 puts becomes one or a few emissions;
 * a steady trickle still gets through every `maxWaitMs`. Completion flushes.
 */
export function debounceMaxWait<T>(
  dueMs: number,
  maxWaitMs: number,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let pending: { value: T } | undefined;
      let quiet: Subscription | undefined;
      let ceiling: Subscription | undefined;
      const flush = (): void => {
        quiet?.unsubscribe();
        ceiling?.unsubscribe();
        quiet = ceiling = undefined;
        if (pending) {
          const { value } = pending;
          pending = undefined;
          subscriber.next(value);
        }
      };
      const sub = source.subscribe({
        next: (value) => {
          pending = { value };
          quiet?.unsubscribe();
          quiet = scheduler.schedule(flush, dueMs);
          if (!ceiling) ceiling = scheduler.schedule(flush, Math.max(maxWaitMs, dueMs));
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          flush();
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
