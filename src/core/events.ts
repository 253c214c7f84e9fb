/**
 * The typed, serialisable events that form the agent's spine (DESIGN §3).
 * Everything that happens is one of these; state is a pure fold of the etcd ones.
 */

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

export type Family = 'v4' | 'v6';
export const FAMILIES: readonly Family[] = ['v4', 'v6'];

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
}
