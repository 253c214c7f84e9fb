/** Watching the config file the tool writes: new versions by stat, their content read only while a measurement waits. */
import { readFileSync, statSync } from 'node:fs';
import { now } from './setup.mjs';

// ---------------------------------------------------------------- the file

/**
 * Watches one file by polling stat every `pollMs` (cheap even for a 20 MB
 * file); a new inode, size or mtime is a new version, stamped with the time
 * it was seen. Content is read once per version, only when a waiter needs it.
 */
export class FileWatch {
  constructor(path, pollMs = 2) {
    this.path = path;
    this.pollMs = pollMs;
    this.versions = []; // { t, sig }
    this.current = undefined; // { t, sig, buf? }
    this.waiters = new Set();
    this.stopped = false;
    this.#poll();
  }
  #sig() {
    try {
      const s = statSync(this.path, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch {
      return undefined;
    }
  }
  #poll() {
    if (this.stopped) return;
    const sig = this.#sig();
    if (sig !== undefined && sig !== this.current?.sig) {
      this.current = { t: now(), sig };
      this.versions.push({ t: this.current.t, sig });
      this.#check();
    }
    this.timer = setTimeout(() => this.#poll(), this.pollMs);
  }
  #content() {
    const c = this.current;
    if (c && c.buf === undefined) {
      try {
        c.buf = readFileSync(this.path);
      } catch {
        c.buf = null;
      }
    }
    return c?.buf ?? null;
  }
  #check() {
    if (this.waiters.size === 0 || !this.current) return;
    const buf = this.#content();
    if (!buf) return;
    for (const w of this.waiters) {
      if (w.pred(buf)) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(this.current.t);
      }
    }
  }
  /** Time the first version satisfying `pred` was seen (the current one counts). */
  waitFor(pred, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(w);
      this.#check();
    });
  }
  rewritesSince(t) {
    return this.versions.filter((v) => v.t >= t).length;
  }
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
  }
}

export const PROTO = Buffer.from('\nprotocol bgp ');
export function count(buf, needle) {
  let n = 0;
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) n++;
  return n;
}
/** The set of addresses after `neighbor <prefix>` in a config. */
export function neighborsWithPrefix(buf, prefix) {
  const needle = Buffer.from(`neighbor ${prefix}`);
  const out = new Set();
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) {
    let j = i + 9;
    while (j < buf.length && buf[j] !== 0x20 && buf[j] !== 0x3b && buf[j] !== 0x0a) j++;
    out.add(buf.toString('latin1', i + 9, j));
  }
  return out;
}
