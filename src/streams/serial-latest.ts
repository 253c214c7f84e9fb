import { defer, Observable, type ObservableInput, from, type OperatorFunction } from 'rxjs';

/**
 * Run `work` for one value at a time; values that arrive while it runs are
 * not queued one by one: only the latest waits, and runs when the current one
 * ends. A config is never applied concurrently with another, and a burst of
 * configs applies the newest without applying each stale one.
 */
export function serialLatest<T, R>(work: (value: T) => ObservableInput<R>): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      let running = false;
      let sourceDone = false;
      let waiting: { value: T } | undefined;
      const inner = new Set<{ unsubscribe(): void }>();
      const start = (value: T): void => {
        running = true;
        const sub = defer(() => from(work(value))).subscribe({
          next: (r) => subscriber.next(r),
          error: (err) => subscriber.error(err),
          complete: () => {
            inner.delete(sub);
            running = false;
            if (waiting) {
              const next = waiting.value;
              waiting = undefined;
              start(next);
            } else if (sourceDone) subscriber.complete();
          },
        });
        if (running) inner.add(sub);
      };
      const outer = source.subscribe({
        next: (value) => {
          if (running) waiting = { value };
          else start(value);
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          if (!running && !waiting) subscriber.complete();
        },
      });
      return () => {
        outer.unsubscribe();
        for (const s of inner) s.unsubscribe();
      };
    });
}
