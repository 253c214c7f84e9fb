/**
 * `routereflector run`: wires the sources (etcd, daemon health) through the
 * pure streams to the effects (files, BIRD, logs). No logic lives here.
 */
import { from, merge, share, Subscription, tap, type Observable } from 'rxjs';
import type { AgentConfig } from './core/config.js';
import { PREFIX } from './core/config.js';
import { FAMILIES, type Family, type OutcomeEvent } from './core/events.js';
import { createRenderer } from './core/render.js';
import { applyRequests } from './streams/apply-requests.js';
import { debounceMaxWait } from './streams/debounce-max-wait.js';
import { familyConfig } from './streams/family-config.js';
import { firstReady } from './streams/first-ready.js';
import { foldState } from './streams/fold-state.js';
import { healthTransitions } from './streams/health-transitions.js';
import { applyLoop } from './streams/apply-loop.js';
import { createApplier } from './effects/apply-config.js';
import { createEtcdClient } from './effects/etcd-client.js';
import { etcdSource } from './effects/etcd-source.js';
import { probeDaemon } from './effects/health-probe.js';
import type { Log } from './effects/logger.js';
import { logBatch, logEtcdStatus, logHealth, logOutcome, logPlanChanges } from './effects/log-events.js';
import { notifyReady } from './effects/notify-ready.js';
import { s6Probes } from './effects/s6-health.js';

const SOCKET: Record<Family, (c: AgentConfig) => string> = { v4: (c) => c.birdSocket, v6: (c) => c.bird6Socket };
const CHECK: Record<Family, (c: AgentConfig) => string> = { v4: (c) => c.birdBin, v6: (c) => c.bird6Bin };
const BIRDC: Record<Family, (c: AgentConfig) => string> = { v4: (c) => c.birdcBin, v6: (c) => c.birdc6Bin };
const S6_SERVICE: Record<Family, string> = { v4: 'bird', v6: 'bird6' };

/** Backoff for effects that failed for a reason worth retrying (I/O, timeouts). */
const RETRY = { initialMs: 500, maxMs: 30_000 };

export function startAgent(cfg: AgentConfig, log: Log): { stop(): Promise<void> } {
  const client = createEtcdClient(cfg.etcd);
  const render = createRenderer();
  const self = { ip: cfg.ip, ...(cfg.ip6 !== undefined ? { ip6: cfg.ip6 } : {}) };

  const folded$ = etcdSource(client, { prefix: PREFIX, onStatus: logEtcdStatus(log) }).pipe(
    foldState(PREFIX),
    tap(logBatch(log)),
    share(),
  );
  const settled$ = folded$.pipe(debounceMaxWait(cfg.debounceMs, cfg.maxWaitMs), share());

  const family = (f: Family): Observable<OutcomeEvent> => {
    const health$ = merge(
      probeDaemon(SOCKET[f](cfg), cfg.probeIntervalMs),
      s6Probes(process.env['S6_SCANDIR'], S6_SERVICE[f], SOCKET[f](cfg)),
    ).pipe(healthTransitions(f), tap(logHealth(log)), share());
    const apply = createApplier({
      family: f,
      configDir: cfg.configDir,
      ...(cfg.check ? { checkBin: CHECK[f](cfg) } : {}),
      birdcBin: BIRDC[f](cfg),
      socket: SOCKET[f](cfg),
      timeoutMs: cfg.commandTimeoutMs,
    });
    return settled$.pipe(
      familyConfig(f, self, render),
      logPlanChanges(log),
      applyRequests(health$),
      applyLoop((req) => from(apply(req)), (o) => o.retryable === true, RETRY),
      tap(logOutcome(log)),
    );
  };

  const outcomes$ = merge(...FAMILIES.map(family)).pipe(share());
  const subs = new Subscription();
  subs.add(outcomes$.subscribe({ error: (err) => log.error('pipeline failed', { error: String(err) }) }));
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
      await client.close();
    },
  };
}
