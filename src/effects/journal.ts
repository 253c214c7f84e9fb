/**
 * The event journal (JOURNAL_FILE, default $CONFIG_DIR/journal/journal.jsonl):
 * one checksummed JSON line per input event and per effect outcome
 * (core/journal.ts), the restart path of the agent (core/restore.ts).
 *
 * Writes are batched: records are queued in the order the agent saw them
 * and written with one write(2) per turn of the event loop, and at once
 * before a config is installed (`flush`), so the journal always holds the
 * config record (and the batches behind it) of any file on disk. Nothing
 * is written out of order, so an agent killed at any point leaves a journal
 * whose intact lines replay to a state the agent really had; a torn last
 * line is cut off at the next start (loadJournal).
 *
 * Rotation is size-bounded: once the file is larger than `maxBytes` (or twice
 * its checkpoint, when one checkpoint alone is near `maxBytes`), at the
 * next point where the state equals the state last rendered, the file
 * becomes FILE.1 (FILE.1 becomes FILE.2, ... up to `keep`) and the new file
 * starts with a checkpoint, so each file replays on its own. The files are
 * mode 0600 (they hold every etcd value). A failing write is logged once and
 * never stops the agent.
 */
import { closeSync, existsSync, fchmodSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { sha256Of } from '../core/config-bytes.js';
import { FAMILIES, type EtcdBatch, type EtcdStatus, type Family, type FamilyConfig, type HealthEvent, type KeyValue, type OutcomeEvent } from '../core/events.js';
import { encodeJournalLine, encodeJournalLinePieces, identityOf, keyspaceOf, JOURNAL_VERSION, scanJournal, parseJournalLine, type JournalEntry, type JournalRecord, type RunIdentity } from '../core/journal.js';
import { selfOf, type Self } from '../core/plan.js';
import type { PasswordFiles } from '../core/password-files.js';
import type { Render } from '../core/render.js';
import { restoreFromJournal, type Restored } from '../core/restore.js';
import type { FoldResult, State } from '../core/state.js';
import { configPath } from './config-files.js';
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
  /** Write what is queued now (before a config is installed). */
  flush(): void;
  close(): void;
}

export const noJournal: Journal = {
  batch: () => undefined,
  settled: () => undefined,
  config: () => undefined,
  health: () => undefined,
  outcome: () => undefined,
  etcd: () => undefined,
  flush: () => undefined,
  close: () => undefined,
};

export interface JournalOptions extends Omit<RunIdentity, 'passwords'> {
  readonly passwords?: PasswordFiles;
  readonly file: string;
  readonly maxBytes: number;
  /** Rotated files kept. */
  readonly keep: number;
  readonly debounceMs: number;
  readonly maxWaitMs: number;
  readonly log: Log;
  /** The state this run starts from (loadJournal): journaled as a checkpoint right after the start record. */
  readonly restored?: Restored;
}

type Body = { type: JournalRecord['type'] } & Record<string, unknown>;

const FILE_MODE = 0o600;

const kvsOf = (state: State): KeyValue[] => {
  const kvs: KeyValue[] = new Array<KeyValue>(state.raw.size);
  let i = 0;
  for (const [key, value] of state.raw) kvs[i++] = { key, value };
  return kvs;
};

/** The newest-first list of journal files that exist: FILE, FILE.1, ... FILE.keep. */
function journalFiles(file: string, keep: number): string[] {
  const files: string[] = [];
  if (existsSync(file)) files.push(file);
  for (let i = 1; i <= keep; i++) if (existsSync(`${file}.${i}`)) files.push(`${file}.${i}`);
  return files;
}

/** Shift FILE.1..FILE.(keep-1) up by one and make FILE the new FILE.1. */
function shiftFiles(file: string, keep: number): void {
  for (let i = keep - 1; i >= 1; i--) {
    if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  }
  renameSync(file, `${file}.1`);
}

export function openJournal(o: JournalOptions): Journal {
  const run = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const identity: RunIdentity = identityOf(selfOf(o), o.prefix);
  let fd: number | undefined;
  let size = 0;
  let broken = false;
  let batches = 0;
  /** A batch was journaled after the last settled point: the state is ahead of the last render. */
  let dirty = false;
  let state: State | undefined = o.restored?.state;
  let clusterId: string | undefined = o.restored?.clusterId;
  const latest: Partial<Record<Family, { generation: number; sha256: string }>> = { ...(o.restored?.configs ?? {}) };
  /** Lines queued for the next write, in order: a line's UTF-8 pieces, or a record encoded (piece by piece) when it is written. */
  let queue: Array<Buffer[] | (() => Iterable<Buffer>)> = [];
  let queued = 0;
  /** Bytes of the newest checkpoint: a file rotates past max(maxBytes, twice this), so a checkpoint
   * bigger than maxBytes (a fabric of 100k hosts) is not rewritten on every record after it. */
  let checkpointBytes = 0;
  let timer: ReturnType<typeof setImmediate> | undefined;

  const fail = (err: unknown): void => {
    if (!broken) o.log.error('journal write failed: journal off until restart', { file: o.file, error: String(err) });
    broken = true;
    queue = [];
    queued = 0;
  };

  const openFile = (): void => {
    mkdirSync(dirname(o.file), { recursive: true, mode: 0o700 });
    fd = openSync(o.file, 'a', FILE_MODE);
    fchmodSync(fd, FILE_MODE); // also a file made by an older version (0640)
    size = fstatSync(fd).size;
  };

  const flush = (): void => {
    if (timer !== undefined) clearImmediate(timer);
    timer = undefined;
    if (broken || fd === undefined || queue.length === 0) return;
    const lines = queue;
    queue = [];
    queued = 0;
    const out = fd;
    // Small lines go out together in one write; a full keyspace's line as its pieces come (never one 93 MB buffer).
    let small: Buffer[] = [];
    const writeAll = (buf: Buffer): void => {
      let off = 0;
      while (off < buf.length) off += writeSync(out, buf, off, buf.length - off);
      size += buf.length;
    };
    const writeSmall = (): void => {
      if (small.length > 0) writeAll(small.length === 1 ? small[0]! : Buffer.concat(small));
      small = [];
    };
    try {
      for (const l of lines) {
        if (Array.isArray(l)) {
          small.push(...l);
          continue;
        }
        writeSmall();
        for (const piece of l()) writeAll(piece);
      }
      writeSmall();
    } catch (err) {
      fail(err);
    }
  };

  const append = (body: Body): void => {
    if (broken || fd === undefined) return;
    // A full keyspace (a checkpoint, a full read of etcd) is encoded as it is written, piece by piece.
    if (keyspaceOf(body) !== undefined) return appendLater(body);
    const line = Buffer.from(`${encodeJournalLine({ t: new Date().toISOString(), run, ...body })}\n`, 'utf8');
    queue.push([line]);
    queued += line.length;
    timer ??= setImmediate(flush);
  };
  /** A record encoded at the next write, piece by piece, not now (its body, never mutated by the agent, must not change meanwhile). */
  const appendLater = (body: Body): void => {
    if (broken || fd === undefined) return;
    const t = new Date().toISOString();
    queue.push(function* () {
      let bytes = 0;
      for (const piece of encodeJournalLinePieces({ t, run, ...body })) {
        bytes += piece.length;
        yield piece;
      }
      if (body.type === 'checkpoint') checkpointBytes = bytes;
    });
    timer ??= setImmediate(flush);
  };

  const checkpoint = (): Body => ({
    type: 'checkpoint',
    version: JOURNAL_VERSION,
    ...identity,
    batches,
    revision: state?.revision ?? 0,
    ...(clusterId !== undefined ? { clusterId } : {}),
    kvs: state ? kvsOf(state) : [],
    configs: { ...latest },
  });

  const rotate = (): void => {
    flush();
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    shiftFiles(o.file, o.keep);
    openFile();
    append(checkpoint());
    flush();
    checkpointBytes = size;
    o.log.info('journal rotated', { file: o.file, keep: o.keep, checkpointRevision: state?.revision ?? 0 });
  };

  /** Records written outside a settle (health, outcomes, batches before their fold) may rotate first. */
  const write = (body: Body, mayRotate: boolean): void => {
    try {
      if (mayRotate && !dirty && state !== undefined && size + queued > Math.max(o.maxBytes, 2 * checkpointBytes)) rotate();
      append(body);
    } catch (err) {
      fail(err);
    }
  };

  try {
    openFile();
    const r = o.restored;
    append({ type: 'start', version: JOURNAL_VERSION, ...identity, debounceMs: o.debounceMs, maxWaitMs: o.maxWaitMs, ...(r ? { restored: r.from } : {}) });
    flush();
    // The restored state, as this run's own base: what it folds next is journaled on top of it. Its
    // keys are taken now (the fold goes on in place); the 10-30 MB line is encoded and written at the
    // next write, after the agent is wired and readiness is notified, and before any other record.
    if (r) appendLater(checkpoint());
    o.log.info('journal open', { file: o.file, run, maxBytes: o.maxBytes, keep: o.keep, ...(r ? { checkpointRevision: r.revision } : {}) });
  } catch (err) {
    fail(err);
  }

  return {
    batch(b) {
      if (b.clusterId !== undefined) clusterId = b.clusterId;
      write({ type: 'batch', n: batches + 1, revision: b.revision, ...(b.clusterId !== undefined ? { clusterId: b.clusterId } : {}), events: b.events }, true);
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
      if ('clusterId' in s && typeof s.clusterId === 'string') clusterId = s.clusterId;
      write({ ...s, type: 'etcd' }, true);
    },
    flush,
    close() {
      flush();
      try {
        if (fd !== undefined) closeSync(fd);
      } catch {
        /* closing */
      }
      fd = undefined;
    },
  };
}

export interface LoadJournalOptions {
  readonly file: string;
  readonly keep: number;
  readonly configDir: string;
  readonly self: Self;
  readonly prefix: string;
  readonly render: Render;
  readonly log: Log;
  readonly families?: readonly Family[];
}

/**
 * Read the journal at start and rebuild the last state that reproduces the
 * installed configs (core/restore.ts). A torn or corrupt tail of the newest
 * file is cut off at its last intact line (one log line); a journal of
 * another format version is moved aside (FILE.1) so that this run writes a
 * fresh one. Returns undefined, with one log line saying why, when the
 * journal cannot be used: the agent then waits for etcd.
 */
export function loadJournal(o: LoadJournalOptions): Restored | undefined {
  const families = o.families ?? FAMILIES;
  const refuse = (reason: string, fields: Record<string, unknown> = {}): undefined => {
    o.log.warn('journal not used: waiting for etcd', { file: o.file, reason, ...fields });
    return undefined;
  };
  const t0 = performance.now();
  const files = journalFiles(o.file, o.keep);
  if (files.length === 0) {
    o.log.info('no journal yet: waiting for etcd', { file: o.file });
    return undefined;
  }
  const installed: Partial<Record<Family, string>> = {};
  for (const f of families) {
    const bytes = readInstalledSync(o.configDir, f);
    if (bytes !== undefined) installed[f] = sha256Of([bytes]);
  }
  let records: Array<JournalRecord | undefined> = [];
  for (let k = 0; k < files.length; k++) {
    const file = files[k]!;
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (err) {
      return refuse(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const scan = scanJournal(buf);
    if (k === 0 && scan.records.length === 0 && buf.length > 0) {
      const version = versionOf(buf);
      if (version !== undefined && version !== JOURNAL_VERSION) {
        try {
          shiftFiles(file, o.keep);
        } catch (err) {
          return refuse(`journal format version ${version}, this agent writes version ${JOURNAL_VERSION}; moving it aside failed: ${String(err)}`);
        }
        return refuse(`journal format version ${version}, this agent writes version ${JOURNAL_VERSION}: moved to ${file}.1, a new journal is started`);
      }
    }
    if (scan.tail !== undefined && k === 0) {
      try {
        const fd = openSync(file, 'r+');
        try {
          ftruncateSync(fd, scan.goodBytes);
        } finally {
          closeSync(fd);
        }
        o.log.warn('journal tail cut off at the last intact line', { file, fromLine: scan.tail.fromLine, lines: scan.tail.lines, bytes: scan.tail.bytes, reason: scan.tail.reason });
      } catch (err) {
        return refuse(`a torn tail at line ${scan.tail.fromLine} cannot be cut off: ${String(err)}`);
      }
    }
    if (scan.corrupt.length > 0) {
      const first = scan.corrupt[0]!;
      o.log.warn('journal lines corrupt: not folded across', { file, lines: scan.corrupt.length, firstLine: first.line, reason: first.reason });
    }
    // An older file's torn or corrupt tail is a gap before the newer file.
    const own: Array<JournalRecord | undefined> = k > 0 && scan.tail !== undefined ? [...scan.records, undefined] : [...scan.records];
    records = own.concat(records);
    const result = restoreFromJournal({ records, complete: k === files.length - 1, installed, families, self: o.self, prefix: o.prefix, render: o.render });
    if (result.kind === 'older') continue;
    if (result.kind === 'refused') return refuse(result.reason, { files: files.slice(0, k + 1) });
    const ageMs = Date.now() - Date.parse(result.stateAt);
    o.log.info('started from the journal: BIRD gets the last installed configs until etcd answers', {
      revision: result.revision,
      ageSeconds: Math.max(0, Math.round(ageMs / 1000)),
      stateAt: result.stateAt,
      lastWrittenAt: result.lastWrittenAt,
      run: result.from.run,
      generations: Object.fromEntries(families.map((f) => [f, result.configs[f].generation])),
      sha256: Object.fromEntries(families.map((f) => [f, result.configs[f].sha256.slice(0, 12)])),
      clusterId: result.clusterId ?? null,
      files: k + 1,
      durationMs: Math.round(performance.now() - t0),
    });
    return result;
  }
  return refuse('the journal holds no state that renders the installed configs', { files });
}

function readInstalledSync(dir: string, family: Family): Buffer | undefined {
  try {
    return readFileSync(configPath(dir, family));
  } catch {
    return undefined;
  }
}

/** The first line's format version, when it is a readable `start` or `checkpoint` record of any version. */
function versionOf(buf: Buffer): number | undefined {
  const nl = buf.indexOf(10);
  try {
    const r = parseJournalLine(buf.subarray(0, nl === -1 ? buf.length : nl), true);
    return r.type === 'start' || r.type === 'checkpoint' ? r.version : undefined;
  } catch {
    return undefined;
  }
}

/** The journal driver: each entry of the agent's journal sink becomes its record. */
export function recordEntry(journal: Journal): (e: JournalEntry) => void {
  return (e) => {
    switch (e.type) {
      case 'batch':
        return journal.batch(e.batch);
      case 'settled':
        return journal.settled(e.fold);
      case 'config':
        return journal.config(e.config);
      case 'health':
        return journal.health(e.health);
      case 'outcome':
        return journal.outcome(e.outcome);
      case 'etcd':
        return journal.etcd(e.status);
    }
  };
}
