/**
 * What marble tests share: the TestScheduler, a stand-in render (the session
 * names, or `-`), etcd event builders, and `agentCycle`: the pure agent
 * connected to stand-in drivers on the TestScheduler, as src/agent-main.ts
 * connects it to the real ones.
 */
import { concat, concatMap, defer, from, map, NEVER, of, Subject, throwError, timer, type Observable, type SchedulerLike } from 'rxjs';
import { TestScheduler, type RunHelpers } from 'rxjs/testing';
import { expect } from 'vitest';
import { configFromEnv } from '../../src/core/config.js';
import { DAEMONS } from '../../src/core/daemons.js';
import { FAMILIES, type ApplyRequest, type EtcdBatch, type EtcdEvent, type EtcdStatus, type Family, type OutcomeEvent, type Probe } from '../../src/core/events.js';
import type { JournalEntry } from '../../src/core/journal.js';
import type { LogEntry } from '../../src/core/log-lines.js';
import type { FamilyPlan } from '../../src/core/plan.js';
import type { OpsStatus } from '../../src/core/readiness.js';
import type { Restored } from '../../src/core/restore.js';
import { agent, type AgentSinks } from '../../src/streams/agent.js';
import { kv } from './state.js';

export const testScheduler = (): TestScheduler => new TestScheduler((a, b) => expect(a).toEqual(b));

/** `TestScheduler.run` with the scheduler itself among the helpers (for code that takes an injected scheduler). */
export function marbles<T>(fn: (helpers: RunHelpers & { scheduler: TestScheduler }) => T): T {
  const scheduler = testScheduler();
  return scheduler.run((helpers) => fn({ ...helpers, scheduler }));
}

/** A stand-in for the templates: the config's text is its session names, `-` for none. */
export const namesRender = (p: FamilyPlan): Buffer[] => [Buffer.from(p.sessions.map((s) => s.name).join(',') || '-')];

/** An etcd event without its revision (the batch gives it). */
export type EventSpec = { [K in EtcdEvent['type']]: Omit<Extract<EtcdEvent, { type: K }>, 'revision'> }[EtcdEvent['type']];
export const put = (suffix: string, value: unknown): EventSpec => ({ type: 'put', ...kv(suffix, value) });
export const del = (suffix: string): EventSpec => ({ type: 'delete', key: kv(suffix, '').key });
export const resync = (...kvs: Array<[string, unknown]>): EventSpec => ({ type: 'resync', kvs: kvs.map(([s, v]) => kv(s, v)) });

/** Batches numbered 1, 2, 3... in the order they are made (each its own revision). */
export function batchMaker(): (...events: EventSpec[]) => EtcdBatch {
  let rev = 0;
  return (...events) => {
    rev++;
    return { revision: rev, events: events.map((e) => ({ ...e, revision: rev }) as EtcdEvent) };
  };
}

/** A daemon answering as `instance`, or not answering. */
export const up = (instance: string): Probe => ({ up: true, instance });
export const down: Probe = { up: false, reason: 'ECONNREFUSED' };

export interface CycleOptions {
  readonly batches: Observable<EtcdBatch>;
  readonly status?: Observable<EtcdStatus>;
  /** Default: each daemon answers as instance `a` from the start. */
  readonly probes?: Partial<Record<Family, Observable<Probe>>>;
  /** Agent environment beyond IP=10.0.0.1 and IP6=fd00::1 (e.g. DEBOUNCE_MS). */
  readonly env?: Record<string, string>;
  /** The stand-in `bird -p`: rejects the texts this returns true for. */
  readonly rejects?: (text: string) => boolean;
  /** Frames one apply run takes (default 1). */
  readonly runFrames?: number;
  /** The apply driver fails (throws) on this request of each family (1 for the first). */
  readonly driverFailsOn?: number;
  /** The TestScheduler the agent's timers run on. */
  readonly scheduler: SchedulerLike;
  /** The journal-restore source (a restart), and the config files it found installed. */
  readonly journal?: Restored;
  readonly files?: Partial<Record<Family, string>>;
}

export interface Cycle {
  readonly sinks: AgentSinks;
  /** What the agent asked each apply driver: `c<generation>` for a changed config, `u<generation>` for a daemon that came up. */
  readonly requests: Readonly<Record<Family, Observable<string>>>;
  /** The text each daemon loaded, each time a reload succeeded. */
  readonly loaded: Readonly<Record<Family, Observable<string>>>;
  /** The text installed as each family's config file, each time one is. */
  readonly installed: Readonly<Record<Family, Observable<string>>>;
  readonly status: Observable<OpsStatus>;
  readonly log: LogEntry[];
  readonly journal: JournalEntry[];
}

/**
 * The agent with stand-in drivers: a config file per family (initially
 * absent), a `bird -p` that rejects what `rejects` says, and a daemon that
 * answers `configure` while its last probe says up. Every sink is subscribed
 * when the first returned stream is (expectObservable does at frame 0), log
 * and journal first, like src/agent-main.ts.
 */
export function agentCycle(o: CycleOptions): Cycle {
  const config = configFromEnv({ IP: '10.0.0.1', IP6: 'fd00::1', ...o.env });
  const outcomes = { v4: new Subject<OutcomeEvent>(), v6: new Subject<OutcomeEvent>() };
  const answering = concat(of(up('a')), NEVER);
  const probes = { v4: o.probes?.v4 ?? answering, v6: o.probes?.v6 ?? answering };
  const daemonUp: Record<Family, boolean> = { v4: false, v6: false };
  const sinks = agent(
    {
      etcd: { batches$: o.batches, status$: o.status ?? of<EtcdStatus>() },
      probes: {
        v4: probes.v4.pipe(map((p) => ((daemonUp.v4 = p.up), p))),
        v6: probes.v6.pipe(map((p) => ((daemonUp.v6 = p.up), p))),
      },
      outcomes,
      ...(o.journal !== undefined ? { journal: o.journal } : {}),
    },
    { scheduler: o.scheduler, config, render: namesRender },
  );
  const asked = { v4: new Subject<string>(), v6: new Subject<string>() };
  const installed = { v4: new Subject<string>(), v6: new Subject<string>() };
  const loaded = { v4: new Subject<string>(), v6: new Subject<string>() };
  const log: LogEntry[] = [];
  const journal: JournalEntry[] = [];
  let connected = false;

  const driver = (f: Family) => {
    let file: string | undefined = o.files?.[f];
    const outcome = (generation: number, step: OutcomeEvent['step'], ok: boolean, extra: Partial<OutcomeEvent> = {}): OutcomeEvent => ({
      type: 'outcome', family: f, generation, step, ok, durationMs: 0, ...extra,
    });
    const run = (req: ApplyRequest): OutcomeEvent[] => {
      const { text, generation } = req.config;
      const out: OutcomeEvent[] = [];
      if (file !== text) {
        out.push(outcome(generation, 'write', true));
        if (o.rejects?.(text) === true) return [...out, outcome(generation, 'check', false, { message: 'syntax error' })];
        out.push(outcome(generation, 'check', true), outcome(generation, 'install', true));
        file = text;
        installed[f].next(text);
      }
      if (!daemonUp[f]) return [...out, outcome(generation, 'reload', false, { deferred: true, message: `${DAEMONS[f].name} not running` })];
      loaded[f].next(text);
      return [...out, outcome(generation, 'reload', true)];
    };
    let n = 0;
    return (requests$: Observable<ApplyRequest>): Observable<OutcomeEvent> =>
      requests$.pipe(
        concatMap((req) => {
          asked[f].next(`${req.reason === 'changed' ? 'c' : 'u'}${req.config.generation}`);
          if (++n === o.driverFailsOn) return timer(o.runFrames ?? 1).pipe(concatMap(() => throwError(() => new Error('EIO: disk gone'))));
          return timer(o.runFrames ?? 1).pipe(concatMap(() => from(run(req))));
        }),
      );
  };

  const connect = (): void => {
    if (connected) return;
    connected = true;
    sinks.log$.subscribe((e) => log.push(e));
    sinks.journal$.subscribe((e) => journal.push(e));
    sinks.status$.subscribe();
    sinks.ready$.subscribe();
    for (const f of FAMILIES) sinks.apply[f].pipe(driver(f)).subscribe(outcomes[f]);
  };
  const live = <T>(s: Observable<T>): Observable<T> => defer(() => (connect(), s));
  const each = <T>(pick: (f: Family) => Observable<T>) => ({ v4: live(pick('v4')), v6: live(pick('v6')) });
  return {
    sinks,
    requests: each((f) => asked[f]),
    installed: each((f) => installed[f]),
    loaded: each((f) => loaded[f]),
    status: live(sinks.status$),
    log,
    journal,
  };
}
