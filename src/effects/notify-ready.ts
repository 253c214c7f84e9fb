import { closeSync, writeSync } from 'node:fs';
import type { Observable, Subscription } from 'rxjs';
import type { Log } from './logger.js';

/** s6 readiness: write a newline to the notification fd, then close it. Returns an error text on failure. */
function notifyReady(fd: number): string | undefined {
  try {
    writeSync(fd, '\n');
    closeSync(fd);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The readiness driver: notifies s6 on `fd` when the agent's ready sink fires, and logs the result. */
export function notifyReadyDriver(fd: number, log: Log): (ready$: Observable<void>) => Subscription {
  return (ready$) =>
    ready$.subscribe(() => {
      const error = notifyReady(fd);
      if (error === undefined) log.info('ready: both configs installed, readiness notified', { fd });
      else log.error('ready, but the readiness notification failed', { fd, error });
    });
}
