/**
 * Daemon health from s6: subscribe to a BIRD service's event fifodir
 * (`<scandir>/<service>/event`, written by s6-supervise) and turn its events
 * into the same probes the periodic socket probe emits, so a BIRD that s6
 * restarted is seen (and gets the latest config) at once instead of at the
 * next probe tick.
 *
 * - `d`/`D` (./run died, finish done): a `down` probe.
 * - `u` (./run spawned): probe the control socket every `pollMs` until BIRD
 *   answers (then emit that probe: same `instance` as the periodic probe, so
 *   `healthTransitions` sees one restart, not two), or until the service goes
 *   down again or `maxWaitMs` passes (streams/s6-events.ts, on the scheduler).
 * This file only reads the fifodir, one attempt at a time (streams/s6-events.ts
 * `resubscribeEvery` subscribes again every `retryMs` while that fails).
 *
 * The fifodir protocol (s6 `ftrig`): a reader creates a FIFO named like
 * s6's own (`fifoName`) in the event directory and keeps it open; s6-supervise
 * writes one character per event into every such FIFO, and removes FIFOs
 * nobody reads any more (so a SIGKILLed agent leaves nothing behind for long).
 * The FIFO is opened O_RDWR|O_NONBLOCK: the open never blocks and never sees
 * EOF. `mkfifo` (coreutils) makes it: Node has no mkfifo.
 *
 * Enabled by the s6 tree (`s6/agent/run` exports S6_SCANDIR); without it the
 * stream is empty.
 */
import { constants, existsSync, openSync, closeSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { asyncScheduler, EMPTY, Observable, type SchedulerLike } from 'rxjs';
import type { Probe } from '../core/events.js';
import { resubscribeEvery, s6EventProbes } from '../streams/s6-events.js';
import { probeSocket } from './bird-socket.js';

export interface S6ProbeOptions {
  /** How often to try the socket after s6 reports the service up (default 50 ms). */
  pollMs?: number;
  /** Give up waiting for the socket after this long (default 10 s; the periodic probe still runs). */
  maxWaitMs?: number;
  /** Subscribe again this often while the event fifodir does not exist yet or the FIFO fails (default 1 s). */
  retryMs?: number;
  /** The scheduler of the waits (default asyncScheduler). */
  scheduler?: SchedulerLike;
}

/**
 * The events s6-supervise writes for `service` in `scandir`, one character
 * each, starting with a `u` once subscribed (see below): one attempt to
 * subscribe. Errors when it cannot (the event fifodir does not exist yet,
 * mkfifo or the open failed) or when the FIFO goes away; otherwise never
 * ends. Unsubscribing closes and removes the FIFO. streams/s6-events.ts
 * (`resubscribeEvery`) tries again.
 */
function s6Subscription(scandir: string, service: string): Observable<string> {
  const eventDir = join(scandir, service, 'event');
  return new Observable<string>((subscriber) => {
    let closed = false;
    let fifo: string | undefined;
    let stream: net.Socket | undefined;

    const cleanupFifo = (): void => {
      stream?.destroy();
      stream = undefined;
      if (fifo !== undefined) unlinkQuietly(fifo);
      fifo = undefined;
    };

    const fail = (why: string, err?: unknown): void => {
      cleanupFifo();
      subscriber.error(new Error(`s6 ${service}: ${why}`, err === undefined ? undefined : { cause: err }));
    };

    const subscribe = async (): Promise<void> => {
      if (!existsSync(eventDir)) return fail(`no event fifodir ${eventDir}`);
      const path = join(eventDir, fifoName());
      try {
        // execa loaded here, not at start: nothing before readiness waits for it (~0.1 s to load).
        const { execa } = await import('execa');
        await execa('mkfifo', ['-m', '0600', path], { stdin: 'ignore' });
      } catch (err) {
        return fail(`mkfifo ${path} failed`, err);
      }
      if (closed) return unlinkQuietly(path);
      fifo = path;
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
      } catch (err) {
        return fail(`open ${path} failed`, err);
      }
      try {
        stream = new net.Socket({ fd, readable: true, writable: false });
      } catch (err) {
        closeSync(fd);
        return fail(`reading ${path} failed`, err);
      }
      stream.on('data', (chunk: Buffer) => {
        for (const ch of chunk.toString('latin1')) subscriber.next(ch);
      });
      // The FIFO went away (e.g. the service dir was removed).
      stream.on('error', (err) => fail(`${path} lost`, err));
      // Subscribed before looking: a BIRD whose `u` came before we listened
      // (at boot its ./run waits for the agent, then execs BIRD without a new
      // event) is found by waiting as for a `u`, a later one by its own `u`.
      subscriber.next('u');
    };

    void subscribe();
    return () => {
      closed = true;
      cleanupFifo();
    };
  });
}

/**
 * Probes for `service` (e.g. "bird") supervised in `scandir`, whose control
 * socket is `socket` (streams/s6-events.ts subscribes again every `retryMs`
 * and turns the events into probes). Empty when `scandir` is undefined or
 * empty.
 */
export function s6Probes(scandir: string | undefined, service: string, socket: string, opts: S6ProbeOptions = {}): Observable<Probe> {
  if (scandir === undefined || scandir.trim() === '') return EMPTY;
  const scheduler = opts.scheduler ?? asyncScheduler;
  return s6Subscription(scandir, service).pipe(
    resubscribeEvery(opts.retryMs ?? 1000, scheduler),
    s6EventProbes(service, () => probeSocket(socket, 1000), { pollMs: opts.pollMs ?? 50, maxWaitMs: opts.maxWaitMs ?? 10_000 }, scheduler),
  );
}

/**
 * s6-supervise only writes to names of exactly this shape (s6 2.11
 * `ftrigw_notifyb_nosig`): `ftrig1:@` + 24 hex digits (a TAI64N stamp) + `:`
 * + 6 characters; anything else in the directory is ignored.
 */
function fifoName(now: Date = new Date()): string {
  const ms = BigInt(now.getTime());
  const secs = (1n << 62n) + 10n + ms / 1000n;
  const nanos = (ms % 1000n) * 1_000_000n;
  const stamp = secs.toString(16).padStart(16, '0') + nanos.toString(16).padStart(8, '0');
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const tail = [...randomBytes(6)].map((b) => chars[b % chars.length]).join('');
  return `ftrig1:@${stamp}:${tail}`;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
