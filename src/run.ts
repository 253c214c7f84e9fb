/**
 * `routereflector run`: wires the sources (etcd, daemon health) through the
 * pure streams to the effects (files, BIRD, logs). No logic lives here.
 */
import { BehaviorSubject, catchError, distinctUntilChanged, EMPTY, from, merge, share, skip, Subject, Subscription, tap, type Observable } from 'rxjs';
import type { AgentConfig } from './core/config.js';
import { PREFIX } from './core/config.js';
import { FAMILIES, type Family, type HealthEvent, type OutcomeEvent } from './core/events.js';
import { initialOpsStatus } from './core/readiness.js';
import type { BirdDaemons } from './core/dialect.js';
import type { Render } from './core/render.js';
import { applyRequests } from './streams/apply-requests.js';
import { debounceMaxWait } from './streams/debounce-max-wait.js';
import { familyConfig, type FamilyConfig } from './streams/family-config.js';
import { firstReady } from './streams/first-ready.js';
import { foldState } from './streams/fold-state.js';
import { healthTransitions } from './streams/health-transitions.js';
import { opsStatus } from './streams/ops-status.js';
import { applyLoop } from './streams/apply-loop.js';
import { createApplier } from './effects/apply-config.js';
import { createEtcdClient } from './effects/etcd-client.js';
import { etcdSource, type EtcdStatus } from './effects/etcd-source.js';
import { startHttpServer, type HttpServer } from './effects/http-server.js';
import { noJournal, openJournal } from './effects/journal.js';
import { createMetrics } from './effects/metrics.js';
import { probeDaemon } from './effects/health-probe.js';
import type { Log } from './effects/logger.js';
import { logBatch, logEtcdStatus, logHealth, logOutcome, logPlanChange } from './effects/log-events.js';
import { notifyReady } from './effects/notify-ready.js';
import { s6Probes } from './effects/s6-health.js';

const SOCKET: Record<Family, (c: AgentConfig) => string> = { v4: (c) => c.birdSocket, v6: (c) => c.bird6Socket };
const S6_SERVICE: Record<Family, string> = { v4: 'bird', v6: 'bird6' };

/** Backoff for effects that failed for a reason worth retrying (I/O, timeouts). */
const RETRY = { initialMs: 500, maxMs: 30_000 };

/** `birds` and `render`: the start-up steps' results (commands/run.ts: each family's BIRD and its compiled templates). */
export function startAgent(cfg: AgentConfig, log: Log, birds: BirdDaemons, renderConfig: Render): { stop(): Promise<void> } {
  const client = createEtcdClient(cfg.etcd);
  const self = { ip: cfg.ip, ...(cfg.ip6 !== undefined ? { ip6: cfg.ip6 } : {}) };
  // Operations: the journal records the inputs in order (batches before their fold, settled points
  // before their render); metrics and readiness subscribe to the streams below.
  const metrics = createMetrics(PREFIX);
  const render = metrics.timeRender(renderConfig);
  const journal = cfg.journalFile === undefined ? noJournal
    : openJournal({ file: cfg.journalFile, maxBytes: cfg.journalMaxBytes, keep: cfg.journalFiles, ...self, prefix: PREFIX, debounceMs: cfg.debounceMs, maxWaitMs: cfg.maxWaitMs, log });
  const etcdStatus$ = new Subject<EtcdStatus>();
  const failures$ = new Subject<string>();
  const onStatus = (s: EtcdStatus): void => {
    logEtcdStatus(log)(s);
    journal.etcd(s);
    etcdStatus$.next(s);
  };

  const batches$ = etcdSource(client, { prefix: PREFIX, onStatus }).pipe(tap(journal.batch), share());
  const folded$ = batches$.pipe(foldState(PREFIX), tap(logBatch(log)), share());
  const settled$ = folded$.pipe(debounceMaxWait(cfg.debounceMs, cfg.maxWaitMs), tap(journal.settled), share());
  const healths: Array<Observable<HealthEvent>> = [];
  const configs: Array<Observable<FamilyConfig>> = [];

  const family = (f: Family): Observable<OutcomeEvent> => {
    const health$ = merge(
      probeDaemon(SOCKET[f](cfg), cfg.probeIntervalMs),
      s6Probes(cfg.s6ScanDir, S6_SERVICE[f], SOCKET[f](cfg)),
    ).pipe(healthTransitions(f), tap(logHealth(log)), share());
    healths.push(health$);
    const apply = createApplier({
      family: f,
      configDir: cfg.configDir,
      ...(cfg.check ? { checkBin: birds[f].bin } : {}),
      socket: SOCKET[f](cfg),
      timeoutMs: cfg.commandTimeoutMs,
    });
    const config$ = settled$.pipe(familyConfig(f, self, render), share());
    configs.push(config$);
    return config$.pipe(
      tap(logPlanChange(log)),
      applyRequests(health$),
      applyLoop((req) => from(apply(req)), (o) => o.retryable === true, RETRY),
      tap(logOutcome(log)),
    );
  };

  const outcomes$ = merge(...FAMILIES.map(family)).pipe(share());
  const subs = new Subscription();
  subs.add(
    outcomes$.subscribe({
      error: (err) => {
        log.error('pipeline failed', { error: String(err) });
        failures$.next(String(err));
      },
    }),
  );
  // Secondary consumers see the outcomes until a failure (reported above), never the error itself.
  const outcomesSeen$ = outcomes$.pipe(catchError(() => EMPTY));
  const configs$ = merge(...configs);
  const health$ = merge(...healths);
  const status$ = new BehaviorSubject(initialOpsStatus(FAMILIES));
  subs.add(opsStatus(FAMILIES)({ etcd$: etcdStatus$, folded$, configs$, health$, outcomes$: outcomesSeen$, failures$ }).subscribe((s) => status$.next(s)));
  subs.add(
    status$.pipe(distinctUntilChanged((a, b) => a.ready === b.ready), skip(1)).subscribe((s) => {
      if (s.ready) log.info('ready: BIRD and BIRD6 run the current plan', { revision: s.revision });
      else log.warn('not ready', { reason: s.readyReason });
    }),
  );
  subs.add(configs$.subscribe(journal.config));
  subs.add(health$.subscribe(journal.health));
  subs.add(outcomesSeen$.subscribe(journal.outcome));
  metrics.birdInfo(birds);
  subs.add(metrics.attach({ etcd$: etcdStatus$, batches$, settled$, configs$, health$, outcomes$: outcomesSeen$, status$ }));
  const daemon = (f: Family) => ({ socket: SOCKET[f](cfg), timeoutMs: cfg.commandTimeoutMs });
  subs.add(metrics.pollSessions({ v4: daemon('v4'), v6: daemon('v6') }, cfg.sessionPollMs));
  let http: HttpServer | undefined;
  if (cfg.httpListen !== undefined) {
    http = startHttpServer({
      listen: cfg.httpListen,
      status: () => status$.value,
      about: { bird: birds },
      metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }),
      log,
    });
  }
  if (cfg.notifyFd !== undefined) {
    const fd = cfg.notifyFd;
    subs.add(
      outcomes$.pipe(firstReady(FAMILIES)).subscribe(() => {
        const error = notifyReady(fd);
        if (error === undefined) log.info('ready: both configs installed, readiness notified', { fd });
        else log.error('ready, but the readiness notification failed', { fd, error });
      }),
    );
  }
  log.info('agent started', {
    ip: cfg.ip,
    ip6: cfg.ip6 ?? null,
    etcd: cfg.etcd.endpoints,
    configDir: cfg.configDir,
    sockets: { v4: cfg.birdSocket, v6: cfg.bird6Socket },
    debounceMs: cfg.debounceMs,
    maxWaitMs: cfg.maxWaitMs,
  });
  return {
    async stop() {
      subs.unsubscribe();
      journal.close();
      await http?.close();
      await client.close();
    },
  };
}
