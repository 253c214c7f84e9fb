/**
 * Prometheus metrics (prom-client), derived from the agent's event streams:
 * etcd status and batches, folded state, configs, daemon health, effect
 * outcomes, readiness, and BGP session states read from `birdc show
 * protocols` at an interval. One registry per agent (no global state).
 */
import { performance } from 'node:perf_hooks';
import client from 'prom-client';
import { Subscription } from 'rxjs';
import type { BirdDaemons } from '../core/dialect.js';
import type { Family } from '../core/events.js';
import { classifyKey } from '../core/keyspace.js';
import type { Render } from '../core/render.js';
import { kindOfSessionName, type SessionKind } from '../core/plan.js';
import { limitTransitions, type ProtocolRow } from '../core/bird-replies.js';
import { every } from '../streams/poll.js';
import type { AgentMetricSources } from '../streams/agent.js';
import type { Log } from './logger.js';
import { showProtocols, type BirdSocketOptions } from './bird-socket.js';

/** BGP state of a `show protocols` row: Established, Active, Connect, Idle, OpenSent, ..., or the protocol state. */
export function bgpState(row: ProtocolRow): string {
  const first = row.info.split(/\s+/)[0] ?? '';
  if (/^(Established|Active|Connect|Idle|OpenSent|OpenConfirm|Passive)$/.test(first)) return first;
  return row.state; // down, start, ...
}

export function createMetrics(prefix: string) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  /** While stale: when the journal's plan was rendered (ms since the epoch). */
  let staleSince: number | undefined;
  const m = {
    etcdConnected: new client.Gauge({ name: 'routereflector_etcd_connected', help: '1 while the etcd watch is established', registers: [registry] }),
    revision: new client.Gauge({ name: 'routereflector_etcd_revision', help: 'Last etcd revision folded into the state', registers: [registry] }),
    watchEvents: new client.Counter({
      name: 'routereflector_etcd_events_total',
      help: 'etcd events received (put, delete, resync)',
      labelNames: ['type'],
      registers: [registry],
    }),
    generation: new client.Gauge({ name: 'routereflector_config_generation', help: 'Config generation per family (counts distinct configs rendered)', labelNames: ['family'], registers: [registry] }),
    reloads: new client.Counter({ name: 'routereflector_reloads_total', help: 'birdc configure calls by family and outcome', labelNames: ['family', 'outcome'], registers: [registry] }),
    steps: new client.Counter({ name: 'routereflector_apply_steps_total', help: 'Apply steps (write, check, install, reload) by family and outcome', labelNames: ['family', 'step', 'outcome'], registers: [registry] }),
    checks: new client.Counter({
      name: 'routereflector_config_checks_total',
      help: 'Config checks by family, checker (daemon: the running BIRD on configure "<stage>"; bird -p: while it did not answer) and outcome',
      labelNames: ['family', 'by', 'outcome'],
      registers: [registry],
    }),
    reloadSeconds: new client.Histogram({
      name: 'routereflector_reload_duration_seconds',
      help: 'Duration of birdc configure',
      labelNames: ['family'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    renderSeconds: new client.Histogram({
      name: 'routereflector_render_duration_seconds',
      help: 'Duration of rendering a config from its plan',
      labelNames: ['family'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    planned: new client.Gauge({ name: 'routereflector_planned_sessions', help: 'BGP sessions in the current plan', labelNames: ['family', 'kind'], registers: [registry] }),
    invalid: new client.Gauge({ name: 'routereflector_invalid_entries', help: 'Keys currently skipped because their value is invalid, by kind of key', labelNames: ['kind'], registers: [registry] }),
    rejected: new client.Counter({ name: 'routereflector_invalid_entries_skipped_total', help: 'Invalid values skipped, by kind of key', labelNames: ['kind'], registers: [registry] }),
    resets: new client.Counter({
      name: 'routereflector_expected_session_resets_total',
      help: 'Sessions whose options changed in a new config (BIRD restarts them on reload)',
      labelNames: ['family'],
      registers: [registry],
    }),
    planChanges: new client.Counter({ name: 'routereflector_plan_session_changes_total', help: 'Sessions added, removed or changed by new configs', labelNames: ['family', 'change'], registers: [registry] }),
    daemonUp: new client.Gauge({ name: 'routereflector_daemon_up', help: '1 while the daemon answers on its control socket', labelNames: ['family'], registers: [registry] }),
    live: new client.Gauge({ name: 'routereflector_live', help: '1 when /livez answers 200', registers: [registry] }),
    ready: new client.Gauge({ name: 'routereflector_ready', help: '1 when /readyz answers 200 (BIRD runs the current plan)', registers: [registry] }),
    planSource: new client.Gauge({ name: 'routereflector_plan_source', help: '1 for where the plan comes from: the journal (started from it, etcd not reached yet) or etcd', labelNames: ['source'], registers: [registry] }),
    stale: new client.Gauge({ name: 'routereflector_stale', help: "1 while BIRD serves the journal's plan and etcd has not been reached since start", registers: [registry] }),
    staleSeconds: new client.Gauge({
      name: 'routereflector_stale_seconds',
      help: "While stale: age of the journal's plan (seconds since it was rendered); 0 otherwise",
      registers: [registry],
      collect() {
        this.set(staleSince === undefined ? 0 : Math.max(0, (Date.now() - staleSince) / 1000));
      },
    }),
    birdInfo: new client.Gauge({
      name: 'routereflector_bird_info',
      help: 'The BIRD of each family as read from its binary at start (always 1)',
      labelNames: ['family', 'version', 'dialect'],
      registers: [registry],
    }),
    sessions: new client.Gauge({ name: 'routereflector_bgp_sessions', help: 'BGP sessions by family and state (show protocols)', labelNames: ['family', 'state'], registers: [registry] }),
    limited: new client.Gauge({
      name: 'routereflector_import_limit_blocked_sessions',
      help: 'BGP sessions BIRD shut down for announcing more routes than CLIENT_IMPORT_LIMIT (show protocols)',
      labelNames: ['family'],
      registers: [registry],
    }),
    limitHits: new client.Counter({
      name: 'routereflector_import_limit_hits_total',
      help: 'Sessions seen newly shut down by their import limit, per family',
      labelNames: ['family'],
      registers: [registry],
    }),
    sessionPollErrors: new client.Counter({ name: 'routereflector_bgp_session_poll_errors_total', help: 'Failed show protocols polls on the control socket', labelNames: ['family'], registers: [registry] }),
  };
  const sessionStates = new Set<string>(['Established']);
  const kindOf = (key: string): string => classifyKey(prefix, key)?.kind ?? 'unknown';

  return {
    registry,
    contentType: registry.contentType,
    text: (): Promise<string> => registry.metrics(),

    /** Wrap the renderer to time it. */
    timeRender(render: Render): Render {
      return (plan) => {
        const t0 = performance.now();
        const text = render(plan);
        m.renderSeconds.observe({ family: plan.family }, (performance.now() - t0) / 1000);
        return text;
      };
    },

    /** Subscribe to the agent's streams. */
    attach(s: AgentMetricSources): Subscription {
      const subs = new Subscription();
      subs.add(s.etcd$.subscribe((e) => m.etcdConnected.set(e.kind === 'disconnected' ? 0 : 1)));
      subs.add(
        s.batches$.subscribe((b) => {
          m.etcdConnected.set(1);
          for (const e of b.events) m.watchEvents.inc({ type: e.type });
        }),
      );
      subs.add(
        s.settled$.subscribe((r) => {
          m.revision.set(r.revision);
          for (const x of r.rejected) m.rejected.inc({ kind: kindOf(x.key) });
          const counts = new Map<string, number>();
          for (const key of r.state.invalid.keys()) counts.set(kindOf(key), (counts.get(kindOf(key)) ?? 0) + 1);
          m.invalid.reset();
          for (const [kind, n] of counts) m.invalid.set({ kind }, n);
        }),
      );
      /** Planned sessions by kind, per family, with the generation they were counted at. */
      const planned = new Map<Family, { generation: number; kinds: Record<SessionKind, number> }>();
      subs.add(
        s.configs$.subscribe((c) => {
          m.generation.set({ family: c.family }, c.generation);
          const last = planned.get(c.family);
          let kinds: Record<SessionKind, number>;
          if (last !== undefined && c.generation === last.generation + 1) {
            // The diff is against the config counted last: count what it adds and removes, not the whole plan.
            kinds = { ...last.kinds };
            for (const name of c.diff.added) kinds[kindOfSessionName(name)]++;
            for (const name of c.diff.removed) kinds[kindOfSessionName(name)]--;
          } else {
            kinds = { mesh: 0, client: 0, peer: 0 };
            for (const x of c.plan.sessions) kinds[x.kind]++;
          }
          planned.set(c.family, { generation: c.generation, kinds });
          for (const [kind, n] of Object.entries(kinds)) m.planned.set({ family: c.family, kind }, n);
          const d = c.diff;
          m.resets.inc({ family: c.family }, d.changed.length);
          m.planChanges.inc({ family: c.family, change: 'added' }, d.added.length);
          m.planChanges.inc({ family: c.family, change: 'removed' }, d.removed.length);
          m.planChanges.inc({ family: c.family, change: 'changed' }, d.changed.length);
        }),
      );
      subs.add(s.health$.subscribe((h) => m.daemonUp.set({ family: h.family }, h.up ? 1 : 0)));
      subs.add(
        s.outcomes$.subscribe((o) => {
          const outcome = o.ok ? 'ok' : 'failed';
          m.steps.inc({ family: o.family, step: o.step, outcome });
          if (o.step === 'check' && o.checkedBy !== undefined) m.checks.inc({ family: o.family, by: o.checkedBy, outcome });
          if (o.step === 'reload') {
            m.reloads.inc({ family: o.family, outcome });
            m.reloadSeconds.observe({ family: o.family }, o.durationMs / 1000);
          }
        }),
      );
      subs.add(
        s.status$.subscribe((st) => {
          m.live.set(st.live ? 1 : 0);
          m.ready.set(st.ready ? 1 : 0);
          for (const source of ['journal', 'etcd'] as const) m.planSource.set({ source }, st.source === source ? 1 : 0);
          m.stale.set(st.stale ? 1 : 0);
          staleSince = st.stale && st.restored !== undefined ? Date.parse(st.restored.stateAt) : undefined;
        }),
      );
      return subs;
    },

    /** Read each daemon's BGP sessions every `intervalMs` (`show protocols` on its control socket). */
    /** The BIRD of each family (detectBirds), once at start. */
    birdInfo(birds: BirdDaemons): void {
      for (const family of Object.keys(birds) as Family[]) m.birdInfo.set({ family, version: birds[family].version, dialect: birds[family].dialect }, 1);
    },
    pollSessions(daemons: Readonly<Record<Family, BirdSocketOptions>>, intervalMs: number, log?: Log): Subscription {
      const subs = new Subscription();
      for (const [family, opts] of Object.entries(daemons) as Array<[Family, BirdSocketOptions]>) {
        let limited = new Set<string>();
        m.limited.set({ family }, 0);
        subs.add(
          every(intervalMs, () => showProtocols(opts).then((rows) => ({ rows }), (err: unknown) => ({ err })))
            .subscribe((r) => {
              // States seen before and gone now read 0, not their last count.
              for (const st of sessionStates) m.sessions.set({ family, state: st }, 0);
              if ('err' in r) {
                m.sessionPollErrors.inc({ family });
                return;
              }
              const counts = new Map<string, number>();
              for (const row of r.rows) if (row.proto === 'BGP') counts.set(bgpState(row), (counts.get(bgpState(row)) ?? 0) + 1);
              for (const [st, n] of counts) {
                sessionStates.add(st);
                m.sessions.set({ family, state: st }, n);
              }
              const t = limitTransitions(limited, r.rows);
              for (const session of t.hit) {
                m.limitHits.inc({ family });
                log?.warn('import limit exceeded: BIRD shut the session down (birdc enable <session> once the neighbour is fixed)', { family, session });
              }
              for (const session of t.cleared) log?.info('import limit: session no longer shut down', { family, session });
              limited = t.now;
              m.limited.set({ family }, t.now.size);
            }),
        );
      }
      return subs;
    },
  };
}
