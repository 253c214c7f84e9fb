/**
 * The HTTP endpoint (HTTP_LISTEN): /livez and /readyz answer 200 "ok" or 503
 * with a one-line reason, /metrics the Prometheus text, /status the whole
 * liveness/readiness state as JSON.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Observable } from 'rxjs';
import type { HttpListen } from '../core/config.js';
import { FAMILIES } from '../core/events.js';
import { initialOpsStatus, type OpsStatus } from '../core/readiness.js';
import type { Log } from './logger.js';

export interface HttpServerOptions {
  readonly listen: HttpListen;
  /** The agent's status sink: the latest answers /livez, /readyz and /status. */
  readonly status$: Observable<OpsStatus>;
  /** Facts fixed at start (e.g. each family's BIRD version and dialect), shown first in /status. */
  readonly about?: Readonly<Record<string, unknown>>;
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  readonly log: Log;
}

export interface HttpServer {
  close(): Promise<void>;
}

function send(res: http.ServerResponse, code: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * The running agent's /status (for `routereflector status`), or why it could
 * not be read. An `all interfaces` listen address is asked on loopback.
 */
export async function readAgentStatus(listen: HttpListen, timeoutMs: number): Promise<{ ok: true; status: OpsStatus & { staleSeconds?: number } } | { ok: false; error: string; url: string }> {
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}/status`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { ok: false, error: `HTTP ${res.status}`, url };
    return { ok: true, status: (await res.json()) as OpsStatus & { staleSeconds?: number } };
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
    return { ok: false, error: cause, url };
  }
}

/** Seconds since the journal's plan was rendered (the clock is read here, at the request: the status is pure). */
const staleSeconds = (stateAt: string): number => Math.max(0, Math.round((Date.now() - Date.parse(stateAt)) / 1000));
const staleAge = (s: OpsStatus): string => (s.restored !== undefined ? `, ${staleSeconds(s.restored.stateAt)} s old` : '');

export function startHttpServer(o: HttpServerOptions): HttpServer {
  let latest = initialOpsStatus(FAMILIES);
  const watching = o.status$.subscribe((s) => (latest = s));
  const status = (): OpsStatus => latest;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    switch (path) {
      case '/livez': {
        const s = status();
        return s.live ? send(res, 200, 'ok\n') : send(res, 503, `not live: ${s.liveReason}\n`);
      }
      case '/readyz': {
        const s = status();
        // Stale is still ready (README, Operations): BIRD serves its last plan, as during an outage of a running agent.
        if (s.ready && s.stale) return send(res, 200, `ok (stale: ${s.staleReason}${staleAge(s)})\n`);
        return s.ready ? send(res, 200, 'ok\n') : send(res, 503, `not ready: ${s.readyReason}\n`);
      }
      case '/status': {
        const s = status();
        const age = s.stale && s.restored !== undefined ? { staleSeconds: staleSeconds(s.restored.stateAt) } : {};
        return send(res, 200, JSON.stringify({ ...o.about, ...s, ...age }, null, 2) + '\n', 'application/json');
      }
      case '/metrics':
        o.metrics().then(
          (m) => send(res, 200, m.body, m.contentType),
          (err: unknown) => send(res, 500, `metrics failed: ${String(err)}\n`),
        );
        return;
      default:
        return send(res, 404, 'not found: try /livez, /readyz, /metrics, /status\n');
    }
  });
  server.on('error', (err) => o.log.error('http server failed: /livez, /readyz and /metrics are not served', { listen: `${o.listen.host}:${o.listen.port}`, error: String(err) }));
  server.listen(o.listen.port, o.listen.host, () => {
    const a = server.address() as AddressInfo;
    o.log.info('http listening', { address: a.address, port: a.port, endpoints: ['/livez', '/readyz', '/metrics', '/status'] });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        watching.unsubscribe();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
