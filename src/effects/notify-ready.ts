import { closeSync, writeSync } from 'node:fs';

/** s6 readiness: write a newline to the notification fd, then close it. Returns an error text on failure. */
export function notifyReady(fd: number): string | undefined {
  try {
    writeSync(fd, '\n');
    closeSync(fd);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
