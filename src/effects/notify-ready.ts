import { closeSync, writeSync } from 'node:fs';

/** s6 readiness: write a newline to the notification fd, then close it. */
export function notifyReady(fd: number): void {
  try {
    writeSync(fd, '\n');
  } finally {
    closeSync(fd);
  }
}
