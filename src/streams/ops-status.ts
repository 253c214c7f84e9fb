import { map, merge, scan, startWith, type Observable } from 'rxjs';
import type { Family, HealthEvent, OutcomeEvent } from '../core/events.js';
import { initialOpsStatus, reduceOps, type OpsEvent, type OpsStatus } from '../core/readiness.js';

/** The agent's streams that liveness and readiness are derived from. */
export interface OpsSources {
  /** The etcd source's status (core/events.ts EtcdStatus): only whether it is connected, and why not, count here. */
  readonly etcd$: Observable<{ readonly kind: string; readonly reason?: string }>;
  /** Every folded batch's revision (and the journal's state the fold started from, if any). */
  readonly folded$: Observable<{ readonly revision: number; readonly restored?: { readonly stateAt: string } }>;
  /** Every new config of each family. */
  readonly configs$: Observable<{ readonly family: Family; readonly generation: number }>;
  readonly health$: Observable<HealthEvent>;
  readonly outcomes$: Observable<OutcomeEvent>;
  /** Emits once if the pipeline errors. */
  readonly failures$: Observable<string>;
}

/**
 * Liveness and readiness, folded from the agent's event streams: starts with
 * the initial status and emits the new one after each event.
 */
export function opsStatus(families: readonly Family[]) {
  return (s: OpsSources): Observable<OpsStatus> =>
    merge(
      s.etcd$.pipe(
        map((e): OpsEvent => ({ type: 'etcd', connected: e.kind !== 'disconnected', ...(e.reason !== undefined ? { reason: e.reason } : {}) })),
      ),
      s.folded$.pipe(
        map((r): OpsEvent => (r.restored !== undefined ? { type: 'restored', revision: r.revision, stateAt: r.restored.stateAt } : { type: 'batch', revision: r.revision })),
      ),
      s.configs$.pipe(map((c): OpsEvent => ({ type: 'config', family: c.family, generation: c.generation }))),
      s.health$,
      s.outcomes$,
      s.failures$.pipe(map((reason): OpsEvent => ({ type: 'failed', reason }))),
    ).pipe(scan(reduceOps, initialOpsStatus(families)), startWith(initialOpsStatus(families)));
}
