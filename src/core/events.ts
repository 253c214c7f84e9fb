/**
 * The typed events and requests that flow through the agent (docs/architecture.md):
 * what its sources emit (etcd batches and status, daemon probes, effect
 * outcomes) and what it asks of its drivers (apply requests). State is a pure
 * fold of the etcd ones.
 */
import type { ConfigBytes } from './config-bytes.js';
import type { FamilyPlan } from './plan.js';
import type { PlanDiff } from './plan-diff.js';

/** One key/value pair read from etcd, key relative to nothing (full key). */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/** A key written in etcd at `revision` (the key's mod revision). */
export interface PutEvent {
  readonly type: 'put';
  readonly key: string;
  readonly value: string;
  readonly revision: number;
}

/** A key deleted from etcd at `revision`. */
export interface DeleteEvent {
  readonly type: 'delete';
  readonly key: string;
  readonly revision: number;
}

/**
 * The whole prefix as read at one `revision` (at start, or after the watch's
 * revision was compacted). The fold replaces its state by this snapshot and
 * only re-parses the keys whose value changed.
 */
export interface ResyncEvent {
  readonly type: 'resync';
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
}

export type EtcdEvent = PutEvent | DeleteEvent | ResyncEvent;

/** One watch response (or one snapshot): what the etcd source emits. */
export interface EtcdBatch {
  readonly revision: number;
  readonly events: readonly EtcdEvent[];
  /** The etcd cluster that sent it (response header), when known: journaled, not folded. */
  readonly clusterId?: string;
}

/** Why a full read of the prefix was emitted. */
export type ResyncCause =
  /** the first read after subscribing */
  | 'start'
  /** the revision to resume from was compacted */
  | 'compacted'
  /** etcd canceled the watch for another reason */
  | 'canceled'
  /** etcd's revision went backwards (cluster restored or rebuilt) */
  | 'reset'
  /** the etcd cluster that answered is not the one the state was read from (cluster id in the response header) */
  | 'cluster';

/** Connection state of the etcd source, for logs, metrics and readiness. */
export type EtcdStatus =
  /** The watch is established; events from `resumeFrom` on will follow. `revision` is etcd's current one. */
  | { readonly kind: 'connected'; readonly revision: number; readonly resumeFrom: number; readonly clusterId?: string }
  /** A read or the watch stream failed; it is retried (after `retryInMs` if known). */
  | { readonly kind: 'disconnected'; readonly reason: string; readonly retryInMs?: number }
  /** A `resync` batch of `keys` keys at `revision` was emitted. `after` is the last revision seen before it, if any. */
  | {
      readonly kind: 'resynced';
      readonly revision: number;
      readonly keys: number;
      readonly cause: ResyncCause;
      readonly after?: number;
      readonly clusterId?: string;
    };

export type Family = 'v4' | 'v6';
export const FAMILIES: readonly Family[] = ['v4', 'v6'];

/** One answer (or silence) of a daemon's control socket: what the health sources emit. */
export interface Probe {
  readonly up: boolean;
  /** Identity of the running daemon; a new value while up means it restarted. */
  readonly instance?: string;
  readonly reason?: string;
}

/** A daemon's control socket answered (`up`) or stopped answering (`down`). */
export interface HealthEvent {
  readonly type: 'health';
  readonly family: Family;
  readonly up: boolean;
  /** Identity of the running daemon (e.g. its start time); a change means a restart. */
  readonly instance?: string;
  readonly reason?: string;
}

export type EffectStep = 'write' | 'check' | 'install' | 'reload';

/** What an effect did, reported back into the event log. */
export interface OutcomeEvent {
  readonly type: 'outcome';
  readonly family: Family;
  readonly generation: number;
  readonly step: EffectStep;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly message?: string;
  /** A failure worth retrying (I/O error, timeout), not a verdict on the config. */
  readonly retryable?: boolean;
  /** Reload only: the daemon is not running; it gets this config when it comes up. */
  readonly deferred?: boolean;
  /**
   * Check only: who parsed the config. `daemon`: the running BIRD itself, on
   * `configure "<stage file>"` (it runs the config if it is valid, else keeps
   * its own); `bird -p`: a separate parse, while the daemon did not answer.
   */
  readonly checkedBy?: CheckedBy;
}

export type CheckedBy = 'daemon' | 'bird -p';

/**
 * A run of the apply driver ends with its first failed step or with its
 * reload (a run that installs nothing goes straight to the reload): the
 * agent sends the next request only after this outcome.
 */
export const endsRun = (o: OutcomeEvent): boolean => !o.ok || o.step === 'reload';

/** One family's rendered config, with the plan and revision it came from. */
export interface FamilyConfig {
  readonly family: Family;
  readonly revision: number;
  /** Counts distinct texts of this family: 1 for the first config. */
  readonly generation: number;
  readonly plan: FamilyPlan;
  /** The file's bytes (ASCII) as rendered, in parts: hashed, compared and written as they are. */
  readonly parts: ConfigBytes;
  /**
   * The same as one buffer, and as text: joined on first use (CLI, replay,
   * tests; not the agent's path). Both are non-enumerable getters: a spread,
   * JSON.stringify or structuredClone of a config drops them.
   */
  readonly bytes: Buffer;
  readonly text: string;
  /** sha256 of the bytes (hex), computed once: logs, journal and replay compare generations by it. */
  readonly sha256: string;
  /** The plan of the previous config of this family (undefined for the first). */
  readonly previous?: FamilyPlan;
  /** What this config does to BIRD's protocols, against the previous one (computed once for logs and metrics). */
  readonly diff: PlanDiff;
}

export type ApplyReason = 'changed' | 'daemon-up';

/** What the agent asks the apply driver to do: install this config (if it is not already) and reload the daemon. */
export interface ApplyRequest {
  readonly config: FamilyConfig;
  readonly reason: ApplyReason;
}
