/**
 * The event journal's records (one JSON object per line). Every input event
 * of a run (etcd batches, health transitions, etcd status), every effect
 * outcome, and the points where the agent rendered (`settled`: the debounce
 * let the state through after `batches` batches) are recorded, so the same
 * pure core folds them into the same configs, byte for byte (`replay`).
 * `config` records carry the sha256 of each generation the agent rendered,
 * for the replay to verify against.
 *
 * A rotated journal file starts with a `checkpoint`: the raw keyspace the
 * agent had folded at a settled point, and each family's generation then.
 */
import type { EtcdEvent, Family, HealthEvent, KeyValue, OutcomeEvent } from './events.js';

export const JOURNAL_VERSION = 1;

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
}

export interface StartRecord extends Base, RunIdentity {
  readonly type: 'start';
  readonly version: number;
  readonly debounceMs: number;
  readonly maxWaitMs: number;
}

export interface BatchRecord extends Base {
  readonly type: 'batch';
  /** 1 for the run's first batch (the snapshot), then 2, 3, ... */
  readonly n: number;
  readonly revision: number;
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

/** Parse one journal line; throws with the reason when it is not a record. */
export function parseJournalLine(line: string): JournalRecord {
  const v: unknown = JSON.parse(line);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
  const r = v as { type?: unknown; run?: unknown };
  if (typeof r.type !== 'string' || !TYPES.has(r.type)) throw new Error(`unknown record type ${JSON.stringify(r.type)}`);
  if (typeof r.run !== 'string') throw new Error('record without "run"');
  return v as JournalRecord;
}
