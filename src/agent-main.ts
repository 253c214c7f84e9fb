/**
 * `routereflector run`: connects the drivers to the pure agent
 * (src/streams/agent.ts; docs/architecture.md). Each driver makes a source or
 * takes a sink; the apply drivers' outcomes are fed back into the agent. No
 * logic lives here.
 */
import { asyncScheduler, Subject, Subscription } from 'rxjs';
import { PREFIX, type AgentConfig } from './core/config.js';
import { DAEMONS } from './core/daemons.js';
import { FAMILIES, type Family, type OutcomeEvent } from './core/events.js';
import type { BirdDaemons } from './core/dialect.js';
import type { Render } from './core/render.js';
import { agent } from './streams/agent.js';
import { applyDriver } from './effects/apply-config.js';
import { etcdOptions, lazyEtcdClient } from './effects/etcd-client.js';
import { etcdSource } from './effects/etcd-source.js';
import { daemonProbes } from './effects/health-probe.js';
import { startHttpServer, type HttpServer } from './effects/http-server.js';
import { noJournal, openJournal, recordEntry } from './effects/journal.js';
import type { Restored } from './core/restore.js';
import { writeEntry, type Log } from './effects/logger.js';
import { createMetrics } from './effects/metrics.js';
import { notifyReadyDriver } from './effects/notify-ready.js';
import { selfOf } from './core/plan.js';
import { selfRegistrations } from './core/registration.js';
import { registeredFirst, selfRegistration } from './effects/self-registration.js';

/**
 * `birds`, `render` and `restored`: the start-up steps' results (commands/run.ts: each family's BIRD, its
 * compiled templates, and the journal's last state that reproduces the installed configs, if it has one).
 */
export function startAgent(cfg: AgentConfig, log: Log, birds: BirdDaemons, render: Render, restored: Restored | undefined): { stop(): Promise<void> } {
  // ETCD_* validated now (a start-up error); the client and its library are made when etcd is first asked.
  const client = lazyEtcdClient(etcdOptions(cfg.etcd));
  const metrics = createMetrics(PREFIX);
  const journal = cfg.journalFile === undefined ? noJournal
    : openJournal({ file: cfg.journalFile, maxBytes: cfg.journalMaxBytes, keep: cfg.journalFiles, ...selfOf(cfg), prefix: PREFIX, debounceMs: cfg.debounceMs, maxWaitMs: cfg.maxWaitMs, log, ...(restored ? { restored } : {}) });
  const daemon = (f: Family) => ({ socket: DAEMONS[f].socket(cfg), timeoutMs: cfg.commandTimeoutMs });
  const probes = (f: Family) => daemonProbes({ socket: DAEMONS[f].socket(cfg), intervalMs: cfg.probeIntervalMs, s6ScanDir: cfg.s6ScanDir, service: DAEMONS[f].name });
  const outcomes: Record<Family, Subject<OutcomeEvent>> = { v4: new Subject(), v6: new Subject() };

  // Resumed from the journal's revision when restored; with RR_CLUSTER_ID, this RR's own rr_v4/rr_v6 entry is written first.
  const etcd = registeredFirst(selfRegistration(client.get, selfRegistrations(cfg), log), etcdSource(client.get, { prefix: PREFIX, ...(restored ? { resume: restored } : {}) }));

  const sinks = agent(
    { etcd, probes: { v4: probes('v4'), v6: probes('v6') }, outcomes, ...(restored ? { journal: restored } : {}) },
    { scheduler: asyncScheduler, config: cfg, render: metrics.timeRender(render) },
  );

  // Readiness first: a start from the journal notifies s6 at once (BIRD may start), before the other
  // drivers connect. Then log and journal: they carry what the other sinks do as they run.
  const subs = new Subscription();
  if (cfg.notifyFd !== undefined) subs.add(notifyReadyDriver(cfg.notifyFd, log)(sinks.ready$));
  subs.add(sinks.log$.subscribe(writeEntry(log)));
  subs.add(sinks.journal$.subscribe(recordEntry(journal)));
  metrics.birdInfo(birds);
  subs.add(metrics.attach(sinks.metrics));
  subs.add(metrics.pollSessions({ v4: daemon('v4'), v6: daemon('v6') }, cfg.sessionPollMs, log));
  const http: HttpServer | undefined = cfg.httpListen === undefined ? undefined
    : startHttpServer({ listen: cfg.httpListen, status$: sinks.status$, about: { bird: birds }, metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }), log });
  for (const f of FAMILIES) {
    const driver = applyDriver({ family: f, configDir: cfg.configDir, ...(cfg.check ? { checkBin: birds[f].bin } : {}), socket: DAEMONS[f].socket(cfg), timeoutMs: cfg.commandTimeoutMs, beforeInstall: journal.flush });
    subs.add(sinks.apply[f].pipe(driver).subscribe(outcomes[f]));
  }
  return {
    async stop() {
      subs.unsubscribe();
      journal.close();
      await http?.close();
      client.close();
    },
  };
}
