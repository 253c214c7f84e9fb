/**
 * The event journal (JOURNAL_FILE): one JSON line per input event and per
 * effect outcome, appended synchronously (records keep the order in which
 * the agent saw them). Rotation is size-bounded: once the file is larger than
 * `maxBytes`, at the next point where the state equals the state last
 * rendered, the file becomes FILE.1 (FILE.1 becomes FILE.2, ... up to `keep`)
 * and the new file starts with a checkpoint, so each file replays on its own.
 * A failing write is logged once and never stops the agent.
 */
import { closeSync, existsSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { EtcdBatch, Family, HealthEvent, KeyValue, OutcomeEvent } from '../core/events.js';
import { JOURNAL_VERSION, type JournalRecord, type RunIdentity } from '../core/journal.js';
import type { FoldResult, State } from '../core/state.js';
import type { FamilyConfig } from '../streams/family-config.js';
import type { EtcdStatus } from './etcd-source.js';
import type { Log } from './logger.js';

export interface Journal {
  /** An etcd batch, before it is folded. */
  batch(b: EtcdBatch): void;
  /** The state let through to render (after the debounce), before it is rendered. */
  settled(r: FoldResult): void;
  config(c: FamilyConfig): void;
  health(h: HealthEvent): void;
  outcome(o: OutcomeEvent): void;
  etcd(s: EtcdStatus): void;
  close(): void;
}

export const noJournal: Journal = {
  batch: () => undefined,
  settled: () => undefined,
  config: () => undefined,
  health: () => undefined,
  outcome: () => undefined,
  etcd: () => undefined,
  close: () => undefined,
};

export interface JournalOptions extends RunIdentity {
  readonly file: string;
  readonly maxBytes: number;
  /** Rotated files kept. */
  readonly keep: number;
  readonly debounceMs: number;
  readonly maxWaitMs: number;
  readonly log: Log;
}

type Body = { type: JournalRecord['type'] } & Record<string, unknown>;

export function openJournal(o: JournalOptions): Journal {
  const run = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const identity: RunIdentity = { ip: o.ip, ...(o.ip6 !== undefined ? { ip6: o.ip6 } : {}), prefix: o.prefix };
  let fd: number | undefined;
  let size = 0;
  let broken = false;
  let batches = 0;
  /** A batch was journaled after the last settled point: the state is ahead of the last render. */
  let dirty = false;
  let state: State | undefined;
  const latest: Partial<Record<Family, { generation: number; sha256: string }>> = {};

  const fail = (err: unknown): void => {
    if (!broken) o.log.error('journal write failed: journal off until restart', { file: o.file, error: String(err) });
    broken = true;
  };

  const openFile = (): void => {
    fd = openSync(o.file, 'a', 0o640);
    size = fstatSync(fd).size;
  };

  const append = (body: Body): void => {
    if (broken || fd === undefined) return;
    const line = JSON.stringify({ t: new Date().toISOString(), run, ...body }) + '\n';
    writeSync(fd, line);
    size += Buffer.byteLength(line);
  };

  const rotate = (): void => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    for (let i = o.keep - 1; i >= 1; i--) {
      if (existsSync(`${o.file}.${i}`)) renameSync(`${o.file}.${i}`, `${o.file}.${i + 1}`);
    }
    renameSync(o.file, `${o.file}.1`);
    openFile();
    const kvs: KeyValue[] = state ? [...state.raw.entries()].map(([key, value]) => ({ key, value })) : [];
    append({
      type: 'checkpoint',
      version: JOURNAL_VERSION,
      ...identity,
      batches,
      revision: state?.revision ?? 0,
      kvs,
      configs: { ...latest },
    });
    o.log.info('journal rotated', { file: o.file, keep: o.keep, checkpointRevision: state?.revision ?? 0 });
  };

  /** Records written outside a settle (health, outcomes, batches before their fold) may rotate first. */
  const write = (body: Body, mayRotate: boolean): void => {
    try {
      if (mayRotate && !dirty && state !== undefined && size > o.maxBytes) rotate();
      append(body);
    } catch (err) {
      fail(err);
    }
  };

  try {
    openFile();
    append({ type: 'start', version: JOURNAL_VERSION, ...identity, debounceMs: o.debounceMs, maxWaitMs: o.maxWaitMs });
    o.log.info('journal open', { file: o.file, run, maxBytes: o.maxBytes, keep: o.keep });
  } catch (err) {
    fail(err);
  }

  return {
    batch(b) {
      write({ type: 'batch', n: batches + 1, revision: b.revision, events: b.events }, true);
      batches++;
      dirty = true;
    },
    settled(r) {
      state = r.state;
      dirty = false;
      write({ type: 'settled', batches, revision: r.revision }, false);
    },
    config(c) {
      const hash = c.sha256;
      latest[c.family] = { generation: c.generation, sha256: hash };
      write({ type: 'config', family: c.family, generation: c.generation, revision: c.revision, sha256: hash, sessions: c.plan.sessions.length }, false);
    },
    health(h) {
      write({ ...h }, true);
    },
    outcome(oc) {
      write({ ...oc }, true);
    },
    etcd(s) {
      write({ ...s, type: 'etcd' }, true);
    },
    close() {
      try {
        if (fd !== undefined) closeSync(fd);
      } catch {
        /* closing */
      }
      fd = undefined;
    },
  };
}
