/**
 * The etcd v3 client (etcd3 1.1.2) built from the runtime contract, and a
 * one-line description of anything etcd3/grpc can throw, for logs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Etcd3, IOptions } from 'etcd3';
import { ConfigError, type EtcdConfig } from '../core/config.js';

type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/**
 * Backoff for re-establishing the watch stream: `initial` doubling to `max`.
 * etcd3's default is cockatiel's ExponentialBackoff with a 30 s ceiling,
 * far too slow to notice that etcd came back. (Structural, so that we need
 * not import cockatiel, which is only etcd3's dependency.)
 */
function cappedBackoff(initial: number, max: number): WatchBackoff {
  const at = (duration: number): WatchBackoff => ({
    duration,
    next: () => at(Math.min(max, duration * 2)),
  });
  return { duration: 0, next: () => at(initial) };
}

const FILE_VARS = {
  caCertFile: 'ETCD_CA_CERT_FILE',
  certFile: 'ETCD_CERT_FILE',
  keyFile: 'ETCD_KEY_FILE',
} as const;

function readTlsFile(field: keyof typeof FILE_VARS, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new ConfigError(`${FILE_VARS[field]}=${path}: cannot read (${code})`);
  }
}

/** The etcd3 options for a config (exported for tests). Throws ConfigError. */
export function etcdOptions(cfg: EtcdConfig): IOptions {
  if (cfg.endpoints.length === 0) throw new ConfigError('ETCD_ENDPOINTS: no endpoint given');
  const https = cfg.endpoints.filter((e) => /^https:\/\//i.test(e)).length;
  if (https > 0 && https < cfg.endpoints.length) {
    throw new ConfigError(`ETCD_ENDPOINTS=${cfg.endpoints.join(',')}: mixes http and https endpoints`);
  }
  if ((cfg.certFile === undefined) !== (cfg.keyFile === undefined)) {
    throw new ConfigError('ETCD_CERT_FILE and ETCD_KEY_FILE must be set together (client certificate and its key)');
  }

  const options: IOptions = {
    hosts: [...cfg.endpoints],
    // Notice a dead peer on an idle watch stream (a partition, not a clean
    // close) within ~15 s. etcd's default --grpc-keepalive-min-time is 5 s,
    // so 10 s pings are within its policy.
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      // The snapshot is one range response; grpc-js caps replies at 4 MiB.
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
    },
    // Unary calls (the snapshot read) must not hang forever on a black hole;
    // streams (the watch) have no deadline.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 10_000 }),
    faultHandling: { watchBackoff: cappedBackoff(250, 5_000) },
  };

  const tls = cfg.caCertFile !== undefined || cfg.certFile !== undefined || cfg.keyFile !== undefined || https > 0;
  if (tls) {
    const ca = cfg.caCertFile !== undefined ? readTlsFile('caCertFile', cfg.caCertFile) : undefined;
    const cert = cfg.certFile !== undefined ? readTlsFile('certFile', cfg.certFile) : undefined;
    const key = cfg.keyFile !== undefined ? readTlsFile('keyFile', cfg.keyFile) : undefined;
    if (ca !== undefined || cert !== undefined) {
      options.credentials = {
        // grpc's createSsl takes null/undefined roots as "the system's CAs";
        // etcd3's type insists on a Buffer.
        rootCertificate: ca as Buffer,
        privateKey: key,
        certChain: cert,
      };
    }
    // else: https endpoints, no files: etcd3 itself uses TLS with system roots.
  }

  if (cfg.username !== undefined) {
    options.auth = { username: cfg.username, password: cfg.password ?? '' };
  }
  return options;
}

const require = createRequire(import.meta.url);

/**
 * The etcd3 library, loaded on first use rather than at import: with gRPC
 * and protobufjs it takes ~0.2 s to load, which a restart from the journal
 * does not wait for (readiness is notified before etcd is first asked).
 */
export const etcd3 = (): typeof import('etcd3') => require('etcd3') as typeof import('etcd3');

/** A client for the configured cluster. Throws ConfigError for unreadable TLS files. */
export function createEtcdClient(cfg: EtcdConfig): Etcd3 {
  return new (etcd3().Etcd3)(etcdOptions(cfg));
}

/** The etcd client, asked for when first needed: `lazyEtcdClient().get` makes it then, `() => client` hands a ready one. */
export type EtcdClientRef = () => Etcd3;

/** The client of options already validated (etcdOptions), made on the first `get`; `close` closes it if it was. */
export function lazyEtcdClient(options: IOptions): { get(): Etcd3; close(): void } {
  let client: Etcd3 | undefined;
  let closed = false;
  return {
    get: () => {
      if (closed) throw new Error('etcd client closed: the agent is stopping');
      return (client ??= new (etcd3().Etcd3)(options));
    },
    close: () => {
      closed = true;
      client?.close();
    },
  };
}

const GRPC_CODE = /^\s*(\d+)\s+([A-Z_]+):\s*/;

/**
 * OpenSSL's raw error strings ("803C…:error:0A000412:SSL routines:ssl3_read_bytes:
 * sslv3 alert bad certificate:../deps/openssl/…:SSL alert number 42") as one
 * readable line, or undefined when `text` is not one.
 */
function describeTlsError(text: string): string | undefined {
  const m = /^[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:([^:]+)(?::[^:]*\.c:\d+)?(?::(SSL alert number \d+))?/.exec(text);
  if (!m) return undefined;
  const reason = (m[1] ?? '').trim();
  const alert = m[2] !== undefined ? ` (${m[2]})` : '';
  if (/alert (bad certificate|certificate required|unknown ca)/i.test(reason)) {
    return `TLS: etcd rejected our client certificate${alert}: none given (ETCD_CERT_FILE, ETCD_KEY_FILE) or not signed by a CA etcd trusts`;
  }
  return `TLS: ${reason}${alert}`;
}

const FRIENDLY: Record<string, string> = {
  UNAVAILABLE: 'etcd unavailable',
  DEADLINE_EXCEEDED: 'etcd did not answer in time',
  UNAUTHENTICATED: 'etcd rejected the credentials',
  PERMISSION_DENIED: 'etcd denied access',
  CANCELLED: 'etcd call cancelled',
  OUT_OF_RANGE: 'etcd: revision out of range',
  FAILED_PRECONDITION: 'etcd refused the request',
  INVALID_ARGUMENT: 'etcd rejected the request',
  INTERNAL: 'etcd internal error',
  UNKNOWN: 'etcd error',
  RESOURCE_EXHAUSTED: 'etcd resource exhausted',
};

/**
 * One clear line for an etcd3/grpc/config error: no stack, no "Please report
 * this error" boilerplate, the grpc status spelled out.
 */
export function describeEtcdError(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  if (!(err instanceof Error)) return `etcd error: ${String(err)}`;
  const name = err.constructor.name;
  let msg = (err.message.split('\n')[0] ?? '').trim();
  msg = msg.replace(/\s*Please report this error at \S+$/, '');

  if (name === 'BrokenCircuitError' || /circuit breaker is open/i.test(msg)) {
    return 'etcd unreachable: client paused calls for a few seconds after repeated failures';
  }
  if (name === 'EtcdWatchStreamEnded') return 'etcd closed the watch stream';
  if (name === 'ClientClosedError') return 'etcd client already closed';
  if (name === 'EtcdAuthenticationFailedError') return `etcd authentication failed (${msg})`;
  if (name === 'EtcdInvalidAuthTokenError') return 'etcd auth token invalid or expired';
  if (name === 'EtcdPermissionDeniedError') return `etcd denied access (${msg})`;

  const m = GRPC_CODE.exec(msg);
  if (m) {
    const status = m[2] ?? 'UNKNOWN';
    const rest = msg
      .slice(m[0].length)
      .replace(/\s*Resolution note:\s*$/, '')
      .replace(/^No connection established\. Last error: (Error: )?/, '')
      .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)\.?$/, '')
      .trim();
    const label = FRIENDLY[status] ?? `etcd error ${status}`;
    const tls = describeTlsError(rest);
    return rest === '' ? label : `${label}: ${tls ?? rest}`;
  }
  if (/compacted/i.test(msg)) return `etcd: ${msg}`;
  if (msg === '') return `etcd error (${name})`;
  return msg.toLowerCase().includes('etcd') ? msg : `etcd: ${msg}`;
}
