/**
 * The event journal's records and their line format. Every input event of a
 * run (etcd batches, health transitions, etcd status), every effect outcome,
 * and the points where the agent rendered (`settled`: the debounce let the
 * state through after `batches` batches) are recorded, so the same pure core
 * folds them into the same configs, byte for byte (`replay`), and a restart
 * can start from the last state instead of waiting for etcd (core/restore.ts).
 * `config` records carry the sha256 of each generation the agent rendered.
 *
 * A rotated journal file starts with a `checkpoint`: the raw keyspace the
 * agent had folded at a settled point, and each family's generation then. A
 * run that started from the journal writes a checkpoint of the state it
 * restored right after its `start` record.
 *
 * Line format (version 2): one JSON object per line whose last member is
 * `"crc":"<8 hex>"`, the CRC-32 of the same line without that member (the
 * JSON text up to it, closed with `}`). A torn or corrupt line is detected,
 * and `jq` still reads every line.
 */
import { crc32 } from 'node:zlib';
import type { EtcdBatch, EtcdEvent, EtcdStatus, Family, FamilyConfig, HealthEvent, KeyValue, OutcomeEvent } from './events.js';
import { passwordFilesOfRecord, passwordFilesRecord, type PasswordFiles, type PasswordFilesRecord } from './password-files.js';
import { selfOf, type Self } from './plan.js';
import type { FoldResult } from './state.js';

/** 1: plain JSON lines; 2: a CRC per line, cluster ids, restored runs. */
export const JOURNAL_VERSION = 2;

interface Base {
  /** Wall-clock time of the record (ISO 8601). */
  readonly t: string;
  /** Identifies one agent process: every record of a run carries it. */
  readonly run: string;
}

export interface RunIdentity {
  readonly ip: string;
  readonly ip6?: string;
  readonly prefix: string;
  /** NODENAME and CLIENT_IMPORT_LIMIT when set (core/plan.ts Self): replay plans with them. */
  readonly nodeName?: string;
  readonly importLimit?: number;
  /** BGP_PASSWORD_DIR's passwords, in clear like the etcd values' (the journal is mode 0600). */
  readonly passwords?: PasswordFilesRecord;
}

/** The identity a run journals: what replay needs to plan as the agent did. */
export const identityOf = (self: Self, prefix: string): RunIdentity => ({
  ip: self.ip,
  ...(self.ip6 !== undefined ? { ip6: self.ip6 } : {}),
  prefix,
  ...(self.nodeName !== undefined ? { nodeName: self.nodeName } : {}),
  ...(self.importLimit !== undefined ? { importLimit: self.importLimit } : {}),
  ...(self.passwords !== undefined ? { passwords: passwordFilesRecord(self.passwords) } : {}),
});

/** The agent's self of a journaled run (replay); a record whose passwords do not validate is an error. */
export function selfOfIdentity(r: RunIdentity): Self {
  let passwords: PasswordFiles | undefined;
  if (r.passwords !== undefined) {
    const p = passwordFilesOfRecord(r.passwords);
    if (!p.ok) throw new Error(`the journal's password files do not validate: ${p.errors.join('; ')}`);
    passwords = p.value;
  }
  return selfOf({ ...r, passwords });
}

/** Where a run's state came from when it did not start empty. */
export interface RestoredFrom {
  /** The run whose state it restored, and the revision of that state. */
  readonly run: string;
  readonly revision: number;
}

export interface StartRecord extends Base, RunIdentity {
  readonly type: 'start';
  readonly version: number;
  readonly debounceMs: number;
  readonly maxWaitMs: number;
  /** Present when the run starts from the journal: its checkpoint follows at once. */
  readonly restored?: RestoredFrom;
}

export interface BatchRecord extends Base {
  readonly type: 'batch';
  /** 1 for the run's first batch, then 2, 3, ... */
  readonly n: number;
  readonly revision: number;
  /** The etcd cluster that sent it, when known. */
  readonly clusterId?: string;
  readonly events: readonly EtcdEvent[];
}

export interface SettledRecord extends Base {
  readonly type: 'settled';
  /** Batches folded when the state was let through to render. */
  readonly batches: number;
  readonly revision: number;
}

export interface ConfigRecord extends Base {
  readonly type: 'config';
  readonly family: Family;
  readonly generation: number;
  readonly revision: number;
  readonly sha256: string;
  readonly sessions: number;
}

export interface CheckpointRecord extends Base, RunIdentity {
  readonly type: 'checkpoint';
  readonly version: number;
  readonly batches: number;
  readonly revision: number;
  /** The etcd cluster the state was read from (response header), when known. */
  readonly clusterId?: string;
  /** Every key the agent uses, with its raw value (valid or not). */
  readonly kvs: readonly KeyValue[];
  /** Each family's generation (and its sha256) at this point. */
  readonly configs: Partial<Record<Family, { readonly generation: number; readonly sha256: string }>>;
}

export type HealthRecord = Base & HealthEvent;
export type OutcomeRecord = Base & OutcomeEvent;
export interface EtcdStatusRecord extends Base {
  readonly type: 'etcd';
  readonly kind: string;
  /** The etcd cluster that answered (connected and resynced statuses). */
  readonly clusterId?: string;
  readonly [field: string]: unknown;
}

export type JournalRecord =
  | StartRecord
  | BatchRecord
  | SettledRecord
  | ConfigRecord
  | CheckpointRecord
  | HealthRecord
  | OutcomeRecord
  | EtcdStatusRecord;

const TYPES = new Set(['start', 'batch', 'settled', 'config', 'checkpoint', 'health', 'outcome', 'etcd']);

/** `,"crc":"xxxxxxxx"}` */
const CRC_TAIL = 18;
const CRC_OPEN = ',"crc":"';
const CLOSE = '}';

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/** One record as its journal line (without the newline). */
export function encodeJournalLine(record: AnyRecord): string {
  const json = JSON.stringify(record);
  return `${json.slice(0, -1)}${CRC_OPEN}${hex8(crc32(json))}"}`;
}

/** A full keyspace longer than this (a checkpoint's `kvs`, a batch's resync) is encoded in slices of this many keys. */
const SLICE_KEYS = 20_000;

type AnyRecord = JournalRecord | ({ type: string; t: string; run: string } & Record<string, unknown>);

/** The record's full keyspace, if it carries one: a checkpoint's `kvs`, or a batch's resync event's. */
export function keyspaceOf(record: { readonly type: string }): readonly KeyValue[] | undefined {
  const r = record as { type: string; kvs?: unknown; events?: unknown };
  const kvs = r.type === 'checkpoint' ? r.kvs : r.type === 'batch' && Array.isArray(r.events) ? (r.events as EtcdEvent[]).find((e) => e.type === 'resync')?.kvs : undefined;
  return Array.isArray(kvs) ? (kvs as KeyValue[]) : undefined;
}

/**
 * One record as its journal line and newline, in UTF-8 pieces whose
 * concatenation is exactly `encodeJournalLine(record) + '\n'`. A full
 * keyspace is encoded 20,000 keys at a time and the CRC carried across the
 * pieces, so its line (93 MB in a fabric of 100k hosts, 26 MB at 100k hosts
 * with one peer each) never exists as one string or one buffer: written
 * whole, it was ~270 MiB of the agent's peak RSS in that fabric.
 */
export function* encodeJournalLinePieces(record: AnyRecord): Generator<Buffer> {
  const all = keyspaceOf(record);
  const kvs = all !== undefined && all.length > SLICE_KEYS ? all : undefined;
  const mark = JSON.stringify('\u0000keyspace\u0000');
  const json = kvs === undefined ? undefined : JSON.stringify(record, (_k, v: unknown) => (v === kvs ? '\u0000keyspace\u0000' : v));
  const at = json === undefined ? -1 : json.indexOf(mark);
  if (kvs === undefined || json === undefined || at < 0 || json.indexOf(mark, at + 1) >= 0) {
    yield Buffer.from(`${encodeJournalLine(record)}\n`, 'utf8');
    return;
  }
  let crc = 0;
  const piece = (text: string): Buffer => {
    const b = Buffer.from(text, 'utf8');
    crc = crc32(b, crc);
    return b;
  };
  yield piece(`${json.slice(0, at)}[`);
  for (let i = 0; i < kvs.length; i += SLICE_KEYS) {
    const part = JSON.stringify(kvs.slice(i, i + SLICE_KEYS));
    yield piece(`${i > 0 ? ',' : ''}${part.slice(1, -1)}`);
  }
  // The rest ends with the record's `}`: the CRC covers it, the line puts the crc member before it.
  const rest = `]${json.slice(at + mark.length)}`;
  crc = crc32(rest, crc);
  yield Buffer.from(`${rest.slice(0, -1)}${CRC_OPEN}${hex8(crc)}"}\n`, 'utf8');
}

function recordOf(v: unknown): JournalRecord {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
  const r = v as { type?: unknown; run?: unknown };
  if (typeof r.type !== 'string' || !TYPES.has(r.type)) throw new Error(`unknown record type ${JSON.stringify(r.type)}`);
  if (typeof r.run !== 'string') throw new Error('record without "run"');
  return v as JournalRecord;
}

/**
 * Verify and parse one journal line (a string or its UTF-8 bytes); throws
 * with the reason when it is not an intact record. A line without a `crc`
 * member is a version 1 line: accepted only with `allowV1` (replay of old
 * journals), never for a restart.
 */
export function parseJournalLine(line: string | Buffer, allowV1 = false): JournalRecord {
  const buf = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  const n = buf.length;
  const tail = n >= CRC_TAIL + 2 ? buf.toString('latin1', n - CRC_TAIL, n) : '';
  if (tail.startsWith(CRC_OPEN) && tail.endsWith('"}')) {
    const want = tail.slice(CRC_OPEN.length, CRC_OPEN.length + 8);
    const body = buf.subarray(0, n - CRC_TAIL);
    const got = hex8(crc32(CLOSE, crc32(body)));
    if (got !== want) throw new Error(`checksum mismatch (line says ${want}, content is ${got})`);
    let v: unknown;
    try {
      v = JSON.parse(body.toString('utf8') + CLOSE);
    } catch (err) {
      throw new Error(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    return recordOf(v);
  }
  if (!allowV1) throw new Error('no checksum (torn line, or a journal of version 1)');
  return recordOf(JSON.parse(buf.toString('utf8')));
}

/** One line of a journal file that is not an intact record. */
export interface BadLine {
  /** 1-based line number. */
  readonly line: number;
  readonly reason: string;
}

export interface ScannedJournal {
  /**
   * The records in file order; `undefined` marks a line that is not an
   * intact record (a gap: what came before it and after it cannot be folded
   * across).
   */
  readonly records: ReadonlyArray<JournalRecord | undefined>;
  /** Bad lines in the middle (followed by intact ones). */
  readonly corrupt: readonly BadLine[];
  /**
   * Bytes of the file up to and including the last intact line's newline:
   * what remains once a torn or corrupt tail is cut off.
   */
  readonly goodBytes: number;
  /** The tail cut off (bad lines after the last intact one, or a last line without its newline), if any. */
  readonly tail?: { readonly fromLine: number; readonly lines: number; readonly bytes: number; readonly reason: string };
}

/** Split a journal file's bytes into verified records, locating a torn or corrupt tail. */
export function scanJournal(buf: Buffer, allowV1 = false): ScannedJournal {
  const records: Array<JournalRecord | undefined> = [];
  const bad: Array<BadLine & { index: number; start: number }> = [];
  let goodBytes = 0;
  let lastGoodIndex = -1;
  let pos = 0;
  let line = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    line++;
    const end = nl === -1 ? buf.length : nl;
    if (end === pos) {
      // An empty line: nothing (not a gap).
      pos = end + 1;
      continue;
    }
    if (nl === -1) {
      bad.push({ line, reason: 'last line without its newline (torn write)', index: records.length, start: pos });
      records.push(undefined);
      break;
    }
    try {
      records.push(parseJournalLine(buf.subarray(pos, end), allowV1));
      lastGoodIndex = records.length - 1;
      goodBytes = end + 1;
    } catch (err) {
      bad.push({ line, reason: err instanceof Error ? err.message : String(err), index: records.length, start: pos });
      records.push(undefined);
    }
    pos = end + 1;
  }
  const tailBad = bad.filter((b) => b.index > lastGoodIndex);
  const corrupt = bad.filter((b) => b.index < lastGoodIndex).map(({ line: l, reason }) => ({ line: l, reason }));
  const first = tailBad[0];
  return {
    records: records.slice(0, lastGoodIndex + 1),
    corrupt,
    goodBytes,
    ...(first !== undefined ? { tail: { fromLine: first.line, lines: tailBad.length, bytes: buf.length - goodBytes, reason: first.reason } } : {}),
  };
}

/** What the agent hands the journal driver, in the order it saw it (the driver turns each into a record). */
export type JournalEntry =
  /** An etcd batch, before it is folded. */
  | { readonly type: 'batch'; readonly batch: EtcdBatch }
  /** The state let through to render (after the debounce), before it is rendered. */
  | { readonly type: 'settled'; readonly fold: FoldResult }
  | { readonly type: 'config'; readonly config: FamilyConfig }
  | { readonly type: 'health'; readonly health: HealthEvent }
  | { readonly type: 'outcome'; readonly outcome: OutcomeEvent }
  | { readonly type: 'etcd'; readonly status: EtcdStatus };
