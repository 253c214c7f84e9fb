import { asyncScheduler, retry, timer, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { backoffDelay, type Backoff } from '../core/backoff.js';

/**
 * Resubscribe to the source after each error, after a delay that doubles
 * from `initialMs` up to `maxMs` (on `scheduler`); `onRetry` hears each error
 * and its delay before the wait. A value delivered resets the delay.
 */
export function retryBackoff<T>(backoff: Backoff, onRetry: (err: unknown, delayMs: number) => void, scheduler: SchedulerLike = asyncScheduler): MonoTypeOperatorFunction<T> {
  return retry({
    resetOnSuccess: true,
    delay: (err: unknown, count: number) => {
      const ms = backoffDelay(backoff, count - 1);
      onRetry(err, ms);
      return timer(ms, scheduler);
    },
  });
}
