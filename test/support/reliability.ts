/**
 * Helpers for the reliability tests (test/reliability): measured figures,
 * etcd with arbitrary flags (TLS, auth) and 3-member clusters on loopback,
 * `bird -p` on a file, and the whitelist grammar of a rendered config. The
 * agent with the route reflector's BIRD is in rr-lab.ts.
 *
 * Figures are printed (`[figure] ...`) and appended as JSON lines to
 * $RR_FIGURES_FILE (default /tmp/rr-reliability-figures.jsonl), from which the
 * README's "Reliability" table is written.
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseIPv4, parseIPv6 } from '../../src/core/addresses.js';
import { defaultTemplateDir } from '../../src/effects/templates.js';
import { freePort } from './etcd.js';
import { BIRD_BIN, type Family } from './bird.js';
import { killTracked, spawnTracked, tempDir, waitFor, type TrackedProcess } from './processes.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const FIGURES = process.env['RR_FIGURES_FILE'] ?? '/tmp/rr-reliability-figures.jsonl';

/** Print one measured figure and record it. */
export function figure(test: string, name: string, value: number | string, unit = ''): void {
  const v = typeof value === 'number' ? Math.round(value * 10) / 10 : value;
  console.log(`[figure] ${test}: ${name} = ${v}${unit ? ' ' + unit : ''}`);
  try {
    appendFileSync(FIGURES, JSON.stringify({ time: new Date().toISOString(), test, name, value: v, unit }) + '\n');
  } catch {
    /* figures are a convenience */
  }
}

export function stats(xs: readonly number[]): { min: number; median: number; max: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { min: s[0] ?? NaN, median, max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

/** `bird -p -c FILE` (bird6 for v6, or `bin`): ok, or BIRD's message. */
export async function birdParse(family: Family, file: string, bin: string = BIRD_BIN[family]): Promise<{ ok: boolean; message: string }> {
  const r = await execa(bin, ['-p', '-c', file], { reject: false, stdin: 'ignore', timeout: 10_000 });
  return { ok: r.exitCode === 0, message: String(r.stderr).trim() };
}

// ---------------------------------------------------------------------------
// The rendered file's grammar: every line must be one of the template's lines,
// with only validated tokens (canonical IPs of the family, AS numbers,
// dotted-quad cluster ids, symbols derived from an address) in the holes.

const isAs = (t: string): boolean => /^[1-9][0-9]{0,9}$/.test(t) && Number(t) <= 4294967295;
const isV4 = (t: string): boolean => {
  const p = parseIPv4(t);
  return p.ok && p.value === t;
};
const isV6 = (t: string): boolean => {
  const p = parseIPv6(t);
  return p.ok && p.value === t;
};
const isQuad = (t: string): boolean => /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(t) && t.split('.').every((x) => Number(x) <= 255 && String(Number(x)) === x);

/**
 * The template's literal lines: every line of templates/ (every dialect) that
 * holds no `{{ }}`, `{% %}` or `{# #}`. Read from the files, so a new fixed
 * line in a template is allowed as is, while a new hole must be added here.
 */
let literalCache: Set<string> | undefined;
function literalTemplateLines(): Set<string> {
  if (literalCache) return new Set(literalCache);
  const dir = defaultTemplateDir();
  const files = (readdirSync(dir, { recursive: true }) as string[]).map((f) => join(dir, f));
  const out = new Set<string>(['']);
  for (const f of files) {
    if (!f.endsWith('.njk')) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) if (!/\{[{%#]|[}%#]\}/.test(line)) out.add(line);
  }
  literalCache = out;
  return new Set(out);
}

/** Lines of the file that do not fit the template grammar (empty = clean). */
export function grammarViolations(text: string, family: Family): string[] {
  const isIp = family === 'v4' ? isV4 : isV6;
  const bad: string[] = [];
  const header =
    family === 'v4'
      ? '# bird.cfg (IPv4), written by routereflector from the Calico datastore. Do not edit: it is rewritten on every change.'
      : '# bird6.cfg (IPv6), written by routereflector from the Calico datastore. Do not edit: it is rewritten on every change.';
  const fixed = literalTemplateLines();
  fixed.add(header);
  fixed.add('  debug all;');
  fixed.add('  debug off;');
  fixed.add(family === 'v4' ? '  ipv4 {' : '  ipv6 {');
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') bad.push('<file does not end with a newline>');
  for (const line of lines) {
    if (fixed.has(line)) continue;
    let m: RegExpExecArray | null;
    if ((m = /^# (\d+) sessions\.$/.exec(line))) continue;
    if ((m = /^router id (\S+);$/.exec(line)) && isV4(m[1]!)) continue;
    if ((m = /^  source address (\S+);$/.exec(line)) && isIp(m[1]!)) continue;
    if ((m = /^  local as (\S+);$/.exec(line)) && isAs(m[1]!)) continue;
    if ((m = /^  neighbor (\S+)(?: port [1-9]\d{0,4})? as (\S+);$/.exec(line)) && isIp(m[1]!) && isAs(m[2]!)) continue;
    // Issue 15's options: each a validated number, a password a quoted string of printable ASCII without " and \.
    if (/^  password "[\x20-\x21\x23-\x5b\x5d-\x7e]{1,80}";$/.test(line)) continue;
    if (/^  (hold time|keepalive time|graceful restart time|multihop|allow local as) [1-9]\d{0,4};$/.test(line)) continue;
    if (/^ {2,4}import limit [1-9]\d{0,9} action disable;$/.test(line)) continue;
    if (['  next hop keep;', '  next hop self;', '    next hop self;', '  export where bgp_path.len = 1;', '    export where bgp_path.len = 0;'].includes(line)) continue;
    if ((m = /^  rr cluster id (\S+);$/.exec(line)) && isQuad(m[1]!)) continue;
    if (/^  connect delay time [1-9]\d{0,3};$/.test(line)) continue;
    if (/^  error wait time [1-9]\d{0,3}, [1-9]\d{0,3};$/.test(line)) continue;
    if ((m = /^protocol bgp (Mesh|Node|Peer)_(\S+) from (?:bgp|client)_template \{$/.exec(line))) {
      const sym = m[2]!;
      if (/^[0-9a-f_]+$/.test(sym)) continue;
    }
    bad.push(line);
  }
  // Each protocol's symbol is its neighbour's address.
  const blocks = text.split('\nprotocol bgp ').slice(1);
  for (const b of blocks) {
    const name = /^(?:Mesh|Node|Peer)_(\S+) /.exec(b)?.[1];
    const nb = /\n {2}neighbor (\S+) (?:port \d+ )?as/.exec(b)?.[1];
    if (name === undefined || nb === undefined || nb.replace(/[.:]/g, '_') !== name) bad.push(`<protocol ${name} has neighbour ${nb}>`);
  }
  return bad;
}

// ---------------------------------------------------------------------------
// etcd with any flags, and clusters.

export interface EtcdMember {
  name: string;
  endpoint: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  process: TrackedProcess | undefined;
  args: string[];
  running(): boolean;
  /** SIGKILL (or SIGTERM) and wait for exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again with the same data dir and flags. */
  start(): Promise<void>;
}

function launchMember(m: EtcdMember): void {
  m.process = spawnTracked(process.env['ETCD_BIN'] ?? 'etcd', m.args, { logFile: m.logFile });
}

async function memberKill(m: EtcdMember, signal: NodeJS.Signals): Promise<void> {
  const p = m.process;
  if (!p || p.hasExited()) return;
  if (signal === 'SIGKILL') {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await p.exited;
  } else {
    await killTracked(p.pid, 5000);
  }
}

/**
 * A 3-member (or n) etcd cluster on loopback, free ports, temp data dirs.
 * `health` is checked with etcdctl against each member.
 */
export async function startEtcdCluster(n = 3): Promise<{ members: EtcdMember[]; endpoints: string[]; root: string; stop(): Promise<void> }> {
  const root = tempDir('rr-etcdc');
  const members: EtcdMember[] = [];
  for (let i = 0; i < n; i++) {
    const name = `m${i}`;
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const peerUrl = `http://127.0.0.1:${await freePort()}`;
    members.push({ name, endpoint, peerUrl, dataDir: join(root, name), logFile: join(root, `${name}.log`), process: undefined, args: [], running: () => false, kill: async () => undefined, start: async () => undefined });
  }
  const initial = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  for (const m of members) {
    mkdirSync(m.dataDir, { recursive: true, mode: 0o700 });
    m.args = [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', m.endpoint, '--advertise-client-urls', m.endpoint,
      '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `rr-${process.pid}`,
      '--heartbeat-interval', '100', '--election-timeout', '1000',
      '--log-level', 'warn', '--logger', 'zap',
    ];
    m.running = () => m.process !== undefined && !m.process.hasExited();
    m.kill = (signal = 'SIGKILL') => memberKill(m, signal);
    m.start = async () => {
      launchMember(m);
      await waitMemberHealthy(m);
    };
  }
  for (const m of members) launchMember(m);
  await Promise.all(members.map((m) => waitMemberHealthy(m)));
  return {
    members,
    endpoints: members.map((m) => m.endpoint),
    root,
    async stop() {
      await Promise.all(members.map((m) => m.kill('SIGTERM')));
    },
  };
}

async function waitMemberHealthy(m: EtcdMember, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => {
      if (m.process?.hasExited()) throw new Error(`etcd ${m.name} exited; see ${m.logFile}:\n${readFileSync(m.logFile, 'utf8').slice(-2000)}`);
      const res = await fetch(`${m.endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    },
    { timeoutMs, intervalMs: 100, what: `etcd member ${m.name} healthy` },
  );
}

/** The member that is the raft leader now (by `endpoint status`). */
export async function leaderOf(members: readonly EtcdMember[]): Promise<EtcdMember> {
  const live = members.filter((m) => m.running());
  const r = await execa('etcdctl', ['--endpoints', live.map((m) => m.endpoint).join(','), 'endpoint', 'status', '-w', 'json'], {
    env: { ETCDCTL_API: '3' },
    reject: false,
    timeout: 15_000,
  });
  const st = JSON.parse(String(r.stdout)) as Array<{ Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }>;
  const leader = st.find((s) => String(s.Status.header.member_id) === String(s.Status.leader));
  const m = live.find((x) => x.endpoint === leader?.Endpoint);
  if (!m) throw new Error(`no leader in ${String(r.stdout)}`);
  return m;
}

/** Loopback TCP ports the process `pid` has established connections to (from /proc via `ss`). */
export async function connectedPorts(pid: number): Promise<number[]> {
  const r = await execa('ss', ['-tnpH', 'state', 'established'], { reject: false, stdin: 'ignore' });
  const out: number[] = [];
  for (const line of String(r.stdout).split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const cols = line.trim().split(/\s+/);
    // Recv-Q Send-Q Local Peer Process
    const peer = cols[3] ?? '';
    const port = Number(peer.slice(peer.lastIndexOf(':') + 1));
    if (Number.isInteger(port)) out.push(port);
  }
  return out;
}

// ---------------------------------------------------------------------------
// One etcd with extra flags (TLS, auth).

export interface CustomEtcd {
  endpoint: string;
  member: EtcdMember;
  stop(): Promise<void>;
}

export async function startEtcdWith(o: { scheme: 'http' | 'https'; extraArgs: string[]; health?: (endpoint: string) => Promise<boolean> }): Promise<CustomEtcd> {
  const root = tempDir('rr-etcdx');
  const endpoint = `${o.scheme}://127.0.0.1:${await freePort()}`;
  const peerUrl = `http://127.0.0.1:${await freePort()}`;
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const m: EtcdMember = {
    name: 'x',
    endpoint,
    peerUrl,
    dataDir,
    logFile: join(root, 'etcd.log'),
    process: undefined,
    args: [
      '--name', 'x', '--data-dir', dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `x=${peerUrl}`, '--initial-cluster-state', 'new',
      '--log-level', 'warn', '--logger', 'zap',
      ...o.extraArgs,
    ],
    running: () => m.process !== undefined && !m.process.hasExited(),
    kill: (signal = 'SIGKILL') => memberKill(m, signal),
    start: async () => launchMember(m),
  };
  launchMember(m);
  await waitFor(
    async () => {
      if (m.process?.hasExited()) throw new Error(`etcd exited: ${readFileSync(m.logFile, 'utf8').slice(-2000)}`);
      return o.health ? o.health(endpoint) : (await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) })).ok;
    },
    { timeoutMs: 20_000, intervalMs: 150, what: `etcd ${endpoint}` },
  );
  return { endpoint, member: m, stop: () => m.kill('SIGTERM') };
}

/** A private CA, a server cert for 127.0.0.1 and a client cert, made with openssl. */
export async function makePki(dir: string): Promise<Record<'ca' | 'caKey' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'otherCa', string>> {
  mkdirSync(dir, { recursive: true });
  const f = (n: string): string => join(dir, n);
  const ssl = async (...args: string[]): Promise<void> => {
    const r = await execa('openssl', args, { reject: false, stdin: 'ignore', cwd: dir });
    if (r.exitCode !== 0) throw new Error(`openssl ${args.join(' ')}: ${String(r.stderr)}`);
  };
  const ca = async (name: string): Promise<void> => {
    await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`));
  };
  await ca('ca');
  await ca('other-ca');
  const leaf = async (name: string, ext: string): Promise<void> => {
    writeFileSync(f(`${name}.ext`), ext);
    await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    await ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  };
  await leaf('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  await leaf('client', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: f('ca.pem'),
    caKey: f('ca.key'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.pem'),
  };
}
