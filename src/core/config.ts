/**
 * The runtime contract (docs/architecture.md): every environment variable parsed and
 * validated once, at start-up. A bad value is a ConfigError that names the
 * variable and the value; the CLI turns it into a message and exit code 2.
 */
import { join } from 'node:path';
import { parseClusterId, parseIPv4, parseIPv6 } from './addresses.js';
import { sayableFile } from './bird-replies.js';
import type { PasswordFiles } from './password-files.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface EtcdConfig {
  /** URLs, e.g. ["http://127.0.0.1:2379"]. */
  readonly endpoints: readonly string[];
  readonly caCertFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly username?: string;
  readonly password?: string;
}

export interface AgentConfig {
  readonly ip: string;
  readonly ip6?: string;
  readonly etcd: EtcdConfig;
  readonly configDir: string;
  readonly birdSocket: string;
  readonly bird6Socket: string;
  readonly logLevel: LogLevel;
  readonly logFormat: 'json' | 'pretty';
  readonly debounceMs: number;
  readonly maxWaitMs: number;
  readonly probeIntervalMs: number;
  /** Longest a `bird -p` check or a `birdc configure` may take before it is abandoned and retried. */
  readonly commandTimeoutMs: number;
  /** s6 readiness: fd to write a newline to once both configs are installed. */
  readonly notifyFd?: number;
  /** Check each config with `bird -p` before installing it (CONFIG_CHECK=0 turns it off). */
  readonly check: boolean;
  /** The s6 scan directory holding the bird/bird6 services (set by s6/agent/run): restarts seen at once. */
  readonly s6ScanDir?: string;
  /** The BIRD binary of IPv4 (BIRD_BIN); its `--version` tells the dialect (effects/bird-check.ts detectBirds). */
  readonly birdBin: string;
  /** BIRD6_BIN when set; unset, detectBirds picks `bird6` for BIRD 1.6 and BIRD_BIN for BIRD 2/3. */
  readonly bird6Bin?: string;
  /** HTTP endpoint for /livez, /readyz, /metrics; undefined = off (HTTP_LISTEN=off). */
  readonly httpListen?: HttpListen;
  /** Event journal (checksummed JSON lines), default $CONFIG_DIR/journal/journal.jsonl; undefined = off (JOURNAL_FILE=off). */
  readonly journalFile?: string;
  /** Rotate the journal once it is larger than this. */
  readonly journalMaxBytes: number;
  /** Rotated journal files kept (FILE.1 .. FILE.N). */
  readonly journalFiles: number;
  /** How often BGP session states are read with `birdc show protocols` for /metrics. */
  readonly sessionPollMs: number;
  /** Self-registration (RR_CLUSTER_ID): the canonical cluster id this RR registers itself with under rr_v4/rr_v6 when absent. */
  readonly rrClusterId?: string;
  /** NODENAME: this RR's host in the keyspace; its `/host/<NODENAME>/peer_vN/*` keys are the RR's own peers. Unset: none. */
  readonly nodeName?: string;
  /** CLIENT_IMPORT_LIMIT: routes one client session may announce before BIRD blocks the rest (0: no limit). */
  readonly importLimit: number;
  /** BGP_PASSWORD_DIR: a mounted secret directory of BGP passwords (core/password-files.ts). */
  readonly passwordDir?: string;
  /** Its passwords, read by the start-up step (effects/password-files.ts withPasswordFiles), never from the environment. */
  readonly passwords?: PasswordFiles;
}

/** A client announcing more routes than this is blocked: far above any Calico node's blocks and service addresses. */
export const DEFAULT_IMPORT_LIMIT = 10_000;

export interface HttpListen {
  readonly host: string;
  readonly port: number;
}

export const LOG_LEVELS = ['silly', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const PREFIX = '/calico/bgp/v1';

/**
 * The debounce window (see streams/debounce-max-wait.ts: a change after this
 * much quiet goes out at once, changes that follow wait for this much quiet).
 * Measured (bench/): with a plain trailing debounce, 25 ms let a 1,000-put
 * burst through as 5-11 rewrites where 100 ms kept it to 2-3.
 */
export const DEFAULT_DEBOUNCE_MS = 100;

type Env = Readonly<Record<string, string | undefined>>;

function present(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function bad(name: string, value: string, why: string): ConfigError {
  return new ConfigError(`invalid ${name}=${JSON.stringify(value)}: ${why}`);
}

function integer(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = present(env, name);
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw)) throw bad(name, raw, 'expected a whole number');
  const n = Number(raw);
  if (n < min || n > max) throw bad(name, raw, `expected ${min}..${max}`);
  return n;
}

function flag(env: Env, name: string, dflt: boolean): boolean {
  const raw = present(env, name);
  if (raw === undefined) return dflt;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw bad(name, raw, 'expected 1 or 0');
}

function endpointList(env: Env): string[] {
  const list = present(env, 'ETCD_ENDPOINTS');
  if (list !== undefined) {
    const urls = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (urls.length === 0) throw bad('ETCD_ENDPOINTS', list, 'no endpoint given');
    for (const u of urls) {
      let parsed: URL;
      try {
        parsed = new URL(u);
      } catch {
        throw bad('ETCD_ENDPOINTS', list, `${u} is not a URL (expected e.g. http://10.0.0.1:2379)`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw bad('ETCD_ENDPOINTS', list, `${u}: scheme must be http or https`);
      }
    }
    return urls;
  }
  const scheme = present(env, 'ETCD_SCHEME') ?? 'http';
  if (scheme !== 'http' && scheme !== 'https') throw bad('ETCD_SCHEME', scheme, 'expected http or https');
  const authority = present(env, 'ETCD_AUTHORITY') ?? '127.0.0.1:2379';
  if (!/^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/.test(authority)) {
    throw bad('ETCD_AUTHORITY', authority, 'expected host:port');
  }
  return [`${scheme}://${authority}`];
}

export function parseLogLevel(raw: string | undefined): LogLevel {
  const v = (raw ?? 'info').trim().toLowerCase() || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(v)) {
    throw bad('LOG_LEVEL', raw ?? '', `expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return v as LogLevel;
}

/** Etcd connection settings only (for commands that do not need IP). */
export function etcdConfigFromEnv(env: Env): EtcdConfig {
  const file = (name: string): string | undefined => present(env, name);
  const username = present(env, 'ETCD_USERNAME');
  const password = env['ETCD_PASSWORD'];
  if (username !== undefined && (password === undefined || password === '')) {
    throw new ConfigError('ETCD_USERNAME is set but ETCD_PASSWORD is empty');
  }
  return {
    endpoints: endpointList(env),
    caCertFile: file('ETCD_CA_CERT_FILE'),
    certFile: file('ETCD_CERT_FILE'),
    keyFile: file('ETCD_KEY_FILE'),
    username,
    password: username !== undefined ? password : undefined,
  };
}

/** `host:port`, `[v6]:port` or `:port` (all interfaces); `off` disables the endpoint. */
export function parseHttpListen(raw: string | undefined): HttpListen | undefined {
  const v = (raw ?? '127.0.0.1:9099').trim() || '127.0.0.1:9099';
  if (/^(off|none|0|false|no)$/i.test(v)) return undefined;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.\-]*)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw bad('HTTP_LISTEN', v, 'expected host:port, [ipv6]:port, :port or off');
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2]);
  return { host, port };
}

/** A whole number from the environment (for commands that need one setting only). */
export function integerFromEnv(env: Env, name: string, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  return integer(env, name, dflt, min, max);
}

/** A unix socket address holds at most 107 bytes of path (sun_path); a longer one would be cut short silently. */
const SOCKET_PATH_MAX = 107;

function socketPath(env: Env, name: string, dflt: string): string {
  const path = present(env, name) ?? dflt;
  const bytes = Buffer.byteLength(path);
  if (bytes > SOCKET_PATH_MAX) throw bad(name, path, `a unix socket path is at most ${SOCKET_PATH_MAX} bytes, this one has ${bytes}`);
  return path;
}

/** The BIRD control sockets and `bird -p` commands (for commands that talk to BIRD only). */
export function birdFromEnv(env: Env): Pick<AgentConfig, 'birdSocket' | 'bird6Socket' | 'birdBin' | 'bird6Bin'> {
  const bird6Bin = present(env, 'BIRD6_BIN');
  return {
    birdSocket: socketPath(env, 'BIRD_SOCKET', '/sockets/bird.ctl'),
    bird6Socket: socketPath(env, 'BIRD6_SOCKET', '/sockets/bird6.ctl'),
    birdBin: present(env, 'BIRD_BIN') ?? 'bird',
    ...(bird6Bin !== undefined ? { bird6Bin } : {}),
  };
}

/**
 * HOST_IPS: the host's addresses, comma-separated, as Kubernetes' downward
 * API gives `status.hostIPs` ("10.0.0.1,fd00::1"). Every element must be an
 * IPv4 or IPv6 address; IP and IP6, when unset, are its first of each family.
 */
function hostIps(env: Env): { v4?: string; v6?: string } {
  const raw = present(env, 'HOST_IPS');
  if (raw === undefined) return {};
  const found: { v4?: string; v6?: string } = {};
  for (const item of raw.split(',').map((s) => s.trim())) {
    const v4 = parseIPv4(item);
    const v6 = v4.ok ? undefined : parseIPv6(item);
    if (v4.ok) found.v4 ??= v4.value;
    else if (v6?.ok) found.v6 ??= v6.value;
    else throw bad('HOST_IPS', raw, `${JSON.stringify(item)} is neither an IPv4 nor an IPv6 address`);
  }
  return found;
}

/**
 * CONFIG_DIR (default /config). The agent asks BIRD to `configure "FILE"` its
 * stage file there: BIRD's CLI must be able to take that name as one string
 * (printable ASCII, no `"`).
 */
function configDirFromEnv(env: Env): string {
  const dir = present(env, 'CONFIG_DIR') ?? '/config';
  if (!sayableFile(`${dir}/.bird6.cfg.stage`)) throw bad('CONFIG_DIR', dir, 'BIRD\'s configure "FILE" cannot name a file there: use printable ASCII without " (and under 880 characters)');
  return dir;
}

/**
 * NODENAME: one segment of a keyspace path, as Calico names nodes (letters,
 * digits, `.`, `-`, `_`; at most 253 characters). Unset or empty: no own peers.
 */
export function nodeNameFromEnv(env: Env): string | undefined {
  const raw = present(env, 'NODENAME');
  if (raw === undefined) return undefined;
  if (raw.length > 253 || !/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(raw)) {
    throw bad('NODENAME', raw, 'expected a node name: letters, digits, ".", "-", "_" (at most 253 characters), as in /calico/bgp/v1/host/<NODENAME>/');
  }
  return raw;
}

export function configFromEnv(env: Env): AgentConfig {
  const host = hostIps(env);
  const ipRaw = present(env, 'IP') ?? host.v4;
  if (ipRaw === undefined) {
    throw new ConfigError(`IP is required: the IPv4 address of this route reflector${present(env, 'HOST_IPS') !== undefined ? ' (HOST_IPS has no IPv4 address)' : ''}`);
  }
  const ip = parseIPv4(ipRaw);
  if (!ip.ok) throw bad('IP', ipRaw, ip.reason);
  const ip6Raw = present(env, 'IP6') ?? host.v6;
  let ip6: string | undefined;
  if (ip6Raw !== undefined) {
    const p = parseIPv6(ip6Raw);
    if (!p.ok) throw bad('IP6', ip6Raw, p.reason);
    ip6 = p.value;
  }
  const format = (present(env, 'LOG_FORMAT') ?? 'json').toLowerCase();
  if (format !== 'json' && format !== 'pretty') throw bad('LOG_FORMAT', format, 'expected json or pretty');
  const notify = present(env, 'NOTIFY_FD');
  const httpListen = parseHttpListen(env['HTTP_LISTEN']);
  const configDir = configDirFromEnv(env);
  const journalRaw = present(env, 'JOURNAL_FILE');
  const journalFile = journalRaw === undefined ? join(configDir, 'journal', 'journal.jsonl') : /^(off|none|0|false|no)$/i.test(journalRaw) ? undefined : journalRaw;
  const clusterRaw = present(env, 'RR_CLUSTER_ID');
  const cluster = clusterRaw === undefined ? undefined : parseClusterId(clusterRaw);
  if (clusterRaw !== undefined && cluster !== undefined && !cluster.ok) throw bad('RR_CLUSTER_ID', clusterRaw, cluster.reason);
  const nodeName = nodeNameFromEnv(env);
  const passwordDir = present(env, 'BGP_PASSWORD_DIR');
  if (passwordDir !== undefined && !passwordDir.startsWith('/')) throw bad('BGP_PASSWORD_DIR', passwordDir, 'expected an absolute directory path');
  return {
    ip: ip.value,
    ip6,
    etcd: etcdConfigFromEnv(env),
    configDir,
    ...birdFromEnv(env),
    logLevel: parseLogLevel(env['LOG_LEVEL']),
    logFormat: format,
    debounceMs: integer(env, 'DEBOUNCE_MS', DEFAULT_DEBOUNCE_MS, 0, 60_000),
    maxWaitMs: integer(env, 'MAX_WAIT_MS', 1000, 0, 600_000),
    probeIntervalMs: integer(env, 'PROBE_INTERVAL_MS', 1000, 50, 600_000),
    commandTimeoutMs: integer(env, 'COMMAND_TIMEOUT_MS', 10_000, 100, 600_000),
    notifyFd: notify === undefined ? undefined : integer(env, 'NOTIFY_FD', 0, 0, 1024),
    check: flag(env, 'CONFIG_CHECK', true),
    s6ScanDir: present(env, 'S6_SCANDIR'),
    ...(httpListen !== undefined ? { httpListen } : {}),
    ...(journalFile !== undefined ? { journalFile } : {}),
    journalMaxBytes: integer(env, 'JOURNAL_MAX_BYTES', 64 * 1024 * 1024, 4096, 2 ** 40),
    journalFiles: integer(env, 'JOURNAL_FILES', 3, 1, 100),
    sessionPollMs: integer(env, 'SESSION_POLL_MS', 10_000, 100, 3_600_000),
    ...(cluster?.ok ? { rrClusterId: cluster.value } : {}),
    ...(nodeName !== undefined ? { nodeName } : {}),
    importLimit: integer(env, 'CLIENT_IMPORT_LIMIT', DEFAULT_IMPORT_LIMIT, 0, 4_294_967_295),
    ...(passwordDir !== undefined ? { passwordDir } : {}),
  };
}
