/**
 * The agent, as one pure function from its sources to its sinks
 * (docs/architecture.md). No I/O and no clock but `scheduler`: the drivers in
 * src/agent-main.ts turn sinks into effects and effects into sources, and the
 * specs in test/marbles/agent.spec.ts run this same function on a
 * TestScheduler.
 *
 *   etcd batches -> fold -> debounce -> per family: plan+render, distinct text
 *     -> apply requests (on change, and when a new daemon instance comes up)
 *     -> one run at a time, retried with backoff, nothing sent that changes nothing
 *   outcomes of each run (from the apply driver) -> logs, journal, readiness
 */
import {
  catchError,
  defer,
  EMPTY,
  ignoreElements,
  merge,
  of,
  ReplaySubject,
  share,
  Subject,
  take,
  tap,
  type Observable,
  type SchedulerLike,
} from 'rxjs';
import { PREFIX, type AgentConfig } from '../core/config.js';
import { FAMILIES, type ApplyRequest, type EtcdBatch, type EtcdStatus, type Family, type FamilyConfig, type HealthEvent, type OutcomeEvent, type Probe } from '../core/events.js';
import type { JournalEntry } from '../core/journal.js';
import { batchLines, etcdStatusLine, healthLine, outcomeLine, planLines, readinessLine, type LogEntry } from '../core/log-lines.js';
import { selfOf } from '../core/plan.js';
import type { OpsStatus } from '../core/readiness.js';
import type { Render } from '../core/render.js';
import type { Restored } from '../core/restore.js';
import type { FoldResult } from '../core/state.js';
import { applyRequests } from './apply-requests.js';
import { applyRuns } from './apply-runs.js';
import { debounceMaxWait } from './debounce-max-wait.js';
import { familyConfig } from './family-config.js';
import { firstReady } from './first-ready.js';
import { foldState } from './fold-state.js';
import { healthTransitions } from './health-transitions.js';
import { opsStatus } from './ops-status.js';

/** Backoff for apply runs that failed for a reason worth retrying (I/O, timeouts). */
const APPLY_RETRY = { initialMs: 500, maxMs: 30_000 };

export interface AgentSources {
  /** The etcd driver: the snapshot and every change as batches, and the connection status. */
  readonly etcd: { readonly batches$: Observable<EtcdBatch>; readonly status$: Observable<EtcdStatus> };
  /** Each daemon's health: its control socket's answers (periodic probes, s6 events). */
  readonly probes: Readonly<Record<Family, Observable<Probe>>>;
  /** The apply driver of each family: the outcomes of the requests of `sinks.apply`, in order. */
  readonly outcomes: Readonly<Record<Family, Observable<OutcomeEvent>>>;
  /**
   * The journal-restore source: the state a restart rebuilt from the journal
   * (core/restore.ts), which reproduces the installed configs. It is planned
   * and rendered first, before etcd answers, with the generations it had;
   * the etcd driver then resumes from its revision and the fold takes what
   * changed into it (the state is folded into in place: give it to one agent).
   */
  readonly journal?: Restored;
}

export interface AgentOptions {
  readonly scheduler: SchedulerLike;
  readonly config: AgentConfig;
  /** The compiled templates (a pure function of the plan). */
  readonly render: Render;
}

/** What metrics are counted from (the metrics driver subscribes). */
export interface AgentMetricSources {
  readonly etcd$: Observable<EtcdStatus>;
  readonly batches$: Observable<EtcdBatch>;
  readonly settled$: Observable<FoldResult>;
  readonly configs$: Observable<FamilyConfig>;
  readonly health$: Observable<HealthEvent>;
  readonly outcomes$: Observable<OutcomeEvent>;
  readonly status$: Observable<OpsStatus>;
}

export interface AgentSinks {
  /** What each family's apply driver runs: one request at a time, the next after the outcome that ends the run. */
  readonly apply: Readonly<Record<Family, Observable<ApplyRequest>>>;
  /**
   * Log lines and journal entries, in the order the agent decides. Subscribing
   * to them starts nothing: they carry what the other sinks do as those run,
   * so their drivers subscribe first.
   */
  readonly log$: Observable<LogEntry>;
  readonly journal$: Observable<JournalEntry>;
  /** Liveness and readiness (/livez, /readyz): the latest is replayed to a late subscriber. */
  readonly status$: Observable<OpsStatus>;
  /** Once, when both families have their first config in place: the s6 readiness notification. */
  readonly ready$: Observable<void>;
  readonly metrics: AgentMetricSources;
}

export function agent(sources: AgentSources, { scheduler, config, render }: AgentOptions): AgentSinks {
  const lines = new Subject<LogEntry>();
  const journal = new Subject<JournalEntry>();
  const say = (entries: readonly LogEntry[]): void => entries.forEach((e) => lines.next(e));
  const self = selfOf(config);

  const etcd$ = sources.etcd.status$.pipe(
    tap((status) => {
      lines.next(etcdStatusLine(status));
      journal.next({ type: 'etcd', status });
    }),
    share(),
  );
  const batches$ = sources.etcd.batches$.pipe(tap((batch) => journal.next({ type: 'batch', batch })), share());
  const restored = sources.journal;
  const folded$ = batches$.pipe(
    foldState(PREFIX, restored !== undefined ? { state: restored.state, stateAt: restored.stateAt } : undefined, scheduler, config.nodeName),
    tap((r) => {
      if (r.restored === undefined) say(batchLines(r));
    }),
    share(),
  );
  const settled$ = folded$.pipe(
    debounceMaxWait(config.debounceMs, config.maxWaitMs, scheduler),
    tap((fold) => journal.next({ type: 'settled', fold })),
    share(),
  );

  const family = (f: Family) => {
    const health$ = sources.probes[f].pipe(
      healthTransitions(f),
      tap((health) => {
        lines.next(healthLine(health));
        journal.next({ type: 'health', health });
      }),
      share(),
    );
    const config$ = settled$.pipe(
      familyConfig(f, self, render, restored?.configs[f].generation ?? 1),
      tap((c) => {
        say(planLines(c));
        journal.next({ type: 'config', config: c });
      }),
      share(),
    );
    const apply$ = config$.pipe(applyRequests(health$), applyRuns(sources.outcomes[f], APPLY_RETRY, scheduler), share());
    return { health$, config$, apply$ };
  };
  const families = { v4: family('v4'), v6: family('v6') };
  const each = <T>(pick: (x: (typeof families)[Family]) => Observable<T>): Observable<T> => merge(...FAMILIES.map((f) => pick(families[f])));

  const outcomes$ = merge(...FAMILIES.map((f) => sources.outcomes[f])).pipe(
    tap((outcome) => {
      lines.next(outcomeLine(outcome));
      journal.next({ type: 'outcome', outcome });
    }),
    share(),
  );
  // Everything downstream sees the outcomes until a failure (reported once), never the error itself.
  const outcomesSeen$ = outcomes$.pipe(catchError(() => EMPTY));
  const failures$ = merge(outcomes$, each((x) => x.apply$)).pipe(
    ignoreElements(),
    catchError((err: unknown) => of(String(err))),
    take(1),
    tap((error) => lines.next({ level: 'error', msg: 'pipeline failed', fields: { error } })),
    share(),
  );
  const configs$ = each((x) => x.config$);
  const health$ = each((x) => x.health$);
  const status$ = defer(() => {
    let ready: boolean | undefined;
    return opsStatus(FAMILIES)({ etcd$, folded$, configs$, health$, outcomes$: outcomesSeen$, failures$ }).pipe(
      tap((s) => {
        if (ready !== undefined && s.ready !== ready) lines.next(readinessLine(s));
        ready = s.ready;
      }),
    );
  }).pipe(share({ connector: () => new ReplaySubject<OpsStatus>(1) }));
  const started: LogEntry = {
    level: 'info',
    msg: 'agent started',
    fields: {
      ip: config.ip,
      ip6: config.ip6 ?? null,
      etcd: config.etcd.endpoints,
      configDir: config.configDir,
      sockets: { v4: config.birdSocket, v6: config.bird6Socket },
      debounceMs: config.debounceMs,
      maxWaitMs: config.maxWaitMs,
    },
  };

  return {
    apply: {
      v4: families.v4.apply$.pipe(catchError(() => EMPTY)),
      v6: families.v6.apply$.pipe(catchError(() => EMPTY)),
    },
    log$: merge(of(started), lines),
    journal$: journal.asObservable(),
    status$,
    // From the journal: the restore checked that its plan renders the installed configs, so BIRD may start with them now.
    ready$: restored !== undefined ? of(undefined) : outcomesSeen$.pipe(firstReady(FAMILIES)),
    metrics: { etcd$, batches$, settled$, configs$, health$, outcomes$: outcomesSeen$, status$ },
  };
}
