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

/** Whether `a` (e.g. the file on disk, or the previous config) holds exactly the bytes of `b`, however each is split. */
export function sameBytes(a: Buffer | ConfigBytes, b: ConfigBytes): boolean {
  const as = Buffer.isBuffer(a) ? [a] : a;
  if (as.length === b.length && as.every((p, i) => p === b[i])) return true; // the same chunks: the usual case
  if (byteLength(as) !== byteLength(b)) return false;
  // Walk both lists side by side, comparing the overlapping ranges in place (no joining).
  let i = 0;
  let j = 0;
  let x = 0;
  let y = 0;
  while (i < as.length && j < b.length) {
    const p = as[i]!;
    const q = b[j]!;
    const n = Math.min(p.length - x, q.length - y);
    // The same chunk at the same offset needs no look (a change leaves all but one chunk as they were).
    if (n > 0 && !(p === q && x === y) && p.compare(q, y, y + n, x, x + n) !== 0) return false;
    x += n;
    y += n;
    if (x === p.length) {
      i++;
      x = 0;
    }
    if (y === q.length) {
      j++;
      y = 0;
    }
  }
  return true;
}
