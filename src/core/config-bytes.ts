/**
 * A rendered config as the parts it was assembled from (a header, chunks of
 * session blocks, a footer). On the agent's path the parts are hashed,
 * compared and written as they are and never copied into one buffer: at
 * 100,000 sessions that copy alone cost more than everything else per change.
 */
import { createHash } from 'node:crypto';

export type ConfigBytes = readonly Buffer[];

export const byteLength = (parts: ConfigBytes): number => parts.reduce((n, p) => n + p.length, 0);

/** The config as one buffer (CLI, replay, tests). */
export const joinBytes = (parts: ConfigBytes): Buffer => (parts.length === 1 ? parts[0]! : Buffer.concat(parts));

/** sha256 (hex) of the config's bytes, as `sha256sum` prints it for the file. */
export function sha256Of(parts: ConfigBytes): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Whether `whole` (e.g. the file on disk) or another config holds exactly these bytes. */
export function sameBytes(whole: Buffer | ConfigBytes, parts: ConfigBytes): boolean {
  if (!Buffer.isBuffer(whole)) {
    if (whole.length === parts.length && whole.every((p, i) => p === parts[i])) return true; // same chunks: the usual case
    whole = joinBytes(whole);
  }
  if (whole.length !== byteLength(parts)) return false;
  let at = 0;
  for (const p of parts) {
    if (whole.compare(p, 0, p.length, at, at + p.length) !== 0) return false;
    at += p.length;
  }
  return true;
}
