/**
 * Liveness and readiness as a pure fold of the agent's events (for /livez,
 * /readyz and the `routereflector_ready` metric).
 *
 * - live: the pipeline has not failed and every daemon answers on its
 *   control socket (the last health event of each family is `up`).
 * - ready: the initial etcd snapshot was read, and for each family the
 *   newest config generation is the one BIRD last loaded with success
 *   (and the daemon is up). A config `bird -p` rejected, or a reload that
 *   failed, keeps it not ready: BIRD does not run the current plan. A
 *   state restored from the journal counts as read (see stale).
 * - stale: the plan is the journal's (the agent started from it) and etcd
 *   has not been reached since start. Readiness does not depend on it: a
 *   route reflector that serves its last plan during an etcd outage is as
 *   ready after a restart as one that kept running (README, Operations);
 *   the status, the /readyz body and the metrics say that it is stale.
 */
import { DAEMONS } from './daemons.js';
import type { Family, HealthEvent, OutcomeEvent } from './events.js';

export type OpsEvent =
  | HealthEvent
  | OutcomeEvent
  /** The etcd source's connection state. */
  | { readonly type: 'etcd'; readonly connected: boolean; readonly reason?: string }
  /** A batch was folded into the state (the first one is the snapshot). */
  | { readonly type: 'batch'; readonly revision: number }
  /** The agent started from the journal's state of `revision`, rendered at `stateAt` (ISO time). */
  | { readonly type: 'restored'; readonly revision: number; readonly stateAt: string }
  /** A family's config changed: its generation is now `generation`. */
  | { readonly type: 'config'; readonly family: Family; readonly generation: number }
  /** The pipeline stopped with an error. */
  | { readonly type: 'failed'; readonly reason: string };

export interface FamilyStatus {
  /** undefined: not probed yet. */
  readonly up?: boolean;
  readonly downReason?: string;
  /** Identity of the running daemon (changes when it restarts). */
  readonly instance?: string;
  /** Newest config generation (0: none yet). */
  readonly latest: number;
  /** Generation BIRD last loaded with success (0: none). */
  readonly loaded: number;
  /** Why the newest generation is not loaded, when a step failed. */
  readonly failure?: string;
  /** While down: the instance that stopped answering and what it had loaded, in case the same one answers again. */
  readonly wentDown?: { readonly instance: string; readonly loaded: number };
}

export interface OpsStatus {
  readonly live: boolean;
  readonly ready: boolean;
  /** One line each; empty when live / ready. */
  readonly liveReason: string;
  readonly readyReason: string;
  readonly etcdConnected: boolean;
  readonly revision: number;
  /** The state was read from etcd (the initial snapshot, or the watch resumed from the journal's revision). */
  readonly snapshot: boolean;
  /** Where the plan comes from: nothing yet, the journal (at start, until etcd answers), or etcd. */
  readonly source: 'none' | 'journal' | 'etcd';
  /** Serving the journal's plan while etcd has not been reached since start. */
  readonly stale: boolean;
  /** One line while stale, else empty. */
  readonly staleReason: string;
  /** The journal's state the agent started from, if it did. */
  readonly restored?: { readonly revision: number; readonly stateAt: string };
  readonly failed?: string;
  readonly families: Readonly<Record<Family, FamilyStatus>>;
}


export function initialOpsStatus(families: readonly Family[]): OpsStatus {
  const fam = {} as Record<Family, FamilyStatus>;
  for (const f of families) fam[f] = { latest: 0, loaded: 0 };
  return judge({
    live: false,
    ready: false,
    liveReason: '',
    readyReason: '',
    etcdConnected: false,
    revision: 0,
    snapshot: false,
    source: 'none',
    stale: false,
    staleReason: '',
    families: fam,
  });
}

function judge(s: OpsStatus): OpsStatus {
  const entries = Object.entries(s.families) as Array<[Family, FamilyStatus]>;
  const liveProblems: string[] = [];
  if (s.failed !== undefined) liveProblems.push(`pipeline failed: ${s.failed}`);
  for (const [f, st] of entries) {
    if (st.up === undefined) liveProblems.push(`${DAEMONS[f].name}: not probed yet`);
    else if (!st.up) liveProblems.push(`${DAEMONS[f].name}: control socket not answering (${st.downReason ?? 'down'})`);
  }
  const readyProblems: string[] = [];
  if (s.failed !== undefined) readyProblems.push(`pipeline failed: ${s.failed}`);
  const planned = s.snapshot || s.source === 'journal';
  if (!planned) readyProblems.push(`initial etcd snapshot not read yet${s.etcdConnected ? '' : ' (etcd not connected)'}`);
  for (const [f, st] of entries) {
    if (planned && st.latest === 0) readyProblems.push(`${DAEMONS[f].name}: no config rendered yet`);
    else if (st.latest > 0 && st.loaded !== st.latest) {
      readyProblems.push(
        `${DAEMONS[f].name}: runs ${st.loaded === 0 ? 'no config of this agent' : `generation ${st.loaded}`}, current is ${st.latest}` +
          (st.failure !== undefined ? ` (${st.failure})` : ''),
      );
    } else if (st.latest > 0 && st.up === false) readyProblems.push(`${DAEMONS[f].name}: down`);
  }
  const stale = s.source === 'journal';
  return {
    ...s,
    stale,
    staleReason: stale && s.restored !== undefined ? `BIRD serves the journal's plan of etcd revision ${s.restored.revision} (rendered ${s.restored.stateAt}); etcd not reached since start` : '',
    live: liveProblems.length === 0,
    ready: readyProblems.length === 0,
    liveReason: liveProblems.join('; '),
    readyReason: readyProblems.join('; '),
  };
}

function withFamily(s: OpsStatus, f: Family, change: (st: FamilyStatus) => FamilyStatus): OpsStatus {
  const st = s.families[f];
  if (st === undefined) return s; // a family this agent does not run
  return { ...s, families: { ...s.families, [f]: change(st) } };
}

const dropFailure = ({ failure: _f, ...st }: FamilyStatus): FamilyStatus => st;

export function reduceOps(s: OpsStatus, e: OpsEvent): OpsStatus {
  switch (e.type) {
    case 'etcd':
      // A watch resumed from the journal's revision: etcd was reached, what changed since follows.
      if (e.connected && s.source === 'journal') return judge({ ...s, etcdConnected: true, snapshot: true, source: 'etcd' });
      return judge({ ...s, etcdConnected: e.connected });
    case 'batch':
      return judge({ ...s, snapshot: true, etcdConnected: true, source: 'etcd', revision: Math.max(s.revision, e.revision) });
    case 'restored':
      if (s.source !== 'none') return s;
      return judge({ ...s, source: 'journal', revision: e.revision, restored: { revision: e.revision, stateAt: e.stateAt } });
    case 'config':
      return judge(withFamily(s, e.family, (st) => ({ ...dropFailure(st), latest: e.generation })));
    case 'health':
      return judge(
        withFamily(s, e.family, (st) => {
          const { downReason: _d, instance: _i, wentDown, ...rest } = st;
          if (!e.up) {
            // Whether it restarts or only missed probes is known when it answers again; until then it runs nothing we know of.
            const first = st.up === true && st.instance !== undefined ? { instance: st.instance, loaded: st.loaded } : wentDown;
            return { ...rest, up: false, loaded: 0, downReason: e.reason ?? 'down', ...(first !== undefined ? { wentDown: first } : {}) };
          }
          // The same instance answering again (a hung or busy BIRD) still runs what it had loaded: the agent does
          // not reload it. A new instance runs whatever its file holds until the agent reloads it.
          const same = wentDown !== undefined && e.instance === wentDown.instance;
          const restarted = st.up === true && st.instance !== e.instance;
          const loaded = same ? Math.max(st.loaded, wentDown.loaded) : restarted ? 0 : st.loaded;
          return { ...rest, up: true, loaded, ...(e.instance !== undefined ? { instance: e.instance } : {}) };
        }),
      );
    case 'outcome':
      if (e.ok && e.step === 'reload') {
        return judge(withFamily(s, e.family, (st) => ({ ...dropFailure(st), loaded: Math.max(st.loaded, e.generation) })));
      }
      if (!e.ok) {
        const failure = `${e.step} of generation ${e.generation} failed: ${e.message ?? 'no message'}`;
        return judge(withFamily(s, e.family, (st) => (e.generation >= st.latest ? { ...st, failure } : st)));
      }
      return s;
    case 'failed':
      return judge({ ...s, failed: e.reason });
  }
}
