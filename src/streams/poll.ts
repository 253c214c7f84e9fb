import { asyncScheduler, exhaustMap, timer, type Observable, type ObservableInput, type SchedulerLike } from 'rxjs';

/**
 * `work` now and every `intervalMs` (on `scheduler`), its results in order.
 * A tick that comes while one still runs is skipped: a slow answer (a busy
 * BIRD) never piles up requests.
 */
export function every<R>(intervalMs: number, work: () => ObservableInput<R>, scheduler: SchedulerLike = asyncScheduler): Observable<R> {
  return timer(0, intervalMs, scheduler).pipe(exhaustMap(() => work()));
}
