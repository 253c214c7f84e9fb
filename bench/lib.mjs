/**
 * The performance benchmark of issue 6 (see bench/README.md): a real etcd,
 * N Calico hosts loaded into it, and the agent (or any `TOOL_CMD` that writes
 * the same bird.cfg) measured from the outside:
 *
 *   1. start -> first complete bird.cfg on disk (N client + 99 mesh protocols);
 *   2. one put -> the file on disk containing it, p50/p99 over >= 20 trials;
 *   3. process CPU per single change (/proc/PID/stat before/after the trials);
 *   4. a burst of 1,000 puts, 16 at a time: file rewrites (and agent installs)
 *      and time from the last acknowledged put to the final state on disk;
 *   5. RSS after the load and peak (VmRSS / VmHWM);
 *   and, for the agent, the same start and put measurements once with the real
 *   `bird -p` check (CONFIG_CHECK=1) to show its share.
 *
 * Plain ESM so that it runs with `node` and imports into vitest without a
 * build step. Every process and mount it makes is tracked and removed by PID.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus, totalmem, release, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const AGENT_MAIN = join(ROOT, 'dist', 'src', 'main.js');
const PREFIX = '/calico/bgp/v1';
const RR_IP = '172.16.0.1';
const RR_IP6 = 'fd00:ffff::1';
const MESH_MEMBERS = 100;
const AS = '64512';
const CLK_TCK = 100; // getconf CLK_TCK on Linux
const MiB = 1024 * 1024;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
/** Monotonic microseconds, the clock of V8's .cpuprofile timestamps. */
const hrUs = () => Number(process.hrtime.bigint() / 1000n);

// ---------------------------------------------------------------- processes

/** Every child we start, by PID, so that nothing outlives the bench. */
const children = new Map();
/** Mount points we made, unmounted on exit if a run did not get to it. */
const mounts = new Set();
/** Temp dirs to remove on exit if a run did not get to it. */
const tempDirs = new Set();
let exitHook = false;
function installExitHook() {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of children.values()) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const m of mounts) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        /* best effort */
      }
    }
    for (const d of tempDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
  // Ctrl-C / kill: run the exit hook above (children by PID, mounts)
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
}
function track(child) {
  installExitHook();
  children.set(child.pid, child);
  child.once('exit', () => children.delete(child.pid));
  return child;
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

async function terminate(child, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  try {
    process.kill(child.pid, 'SIGCONT');
    process.kill(child.pid, 'SIGTERM');
  } catch {
    /* gone */
  }
  const t = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await done;
  clearTimeout(t);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- /proc

function statFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/** PIDs of `root` and all its live descendants. */
function processTree(root) {
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(statFields(d)[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {
      /* gone */
    }
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return out;
}

/** CPU ms of a process tree: own user+system, plus reaped children (cutime+cstime of each). */
export function cpuMs(root) {
  let self = 0;
  let kids = 0;
  let sys = 0;
  for (const pid of processTree(root)) {
    try {
      const f = statFields(pid);
      const own = Number(f[11]) + Number(f[12]);
      const reaped = Number(f[13]) + Number(f[14]);
      if (pid === root) sys += Number(f[12]);
      if (pid === root) self += own;
      else kids += own;
      kids += reaped;
    } catch {
      /* gone */
    }
  }
  return { self: (self * 1000) / CLK_TCK, selfSystem: (sys * 1000) / CLK_TCK, children: (kids * 1000) / CLK_TCK, total: ((self + kids) * 1000) / CLK_TCK };
}

function statusKiB(pid, field) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
/** RSS of the tree (MiB) and the root's peak (VmHWM). */
export function memory(root) {
  let rss = 0;
  for (const pid of processTree(root)) rss += statusKiB(pid, 'VmRSS') ?? 0;
  return { rssMiB: rss / 1024, peakMiB: (statusKiB(root, 'VmHWM') ?? 0) / 1024 };
}

// ---------------------------------------------------------------- etcd

/**
 * A fresh etcd on loopback, data on a tmpfs mounted for it when possible
 * (else a temp dir). Big transactions allowed so that the loader can use
 * 1,000 puts per txn.
 */
export async function startEtcd({ log = () => {} } = {}) {
  installExitHook();
  const root = mkdtempSync(join(tmpdir(), 'rr-bench-etcd-'));
  tempDirs.add(root);
  const dataDir = join(root, 'data');
  mkdirSync(dataDir);
  let mounted = false;
  try {
    installExitHook();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4g,mode=0700', 'tmpfs', dataDir], { stdio: 'ignore' });
    mounted = true;
    mounts.add(dataDir);
  } catch {
    log(`etcd: cannot mount tmpfs, data dir on ${tmpdir()}`);
  }
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'bench', '--data-dir', join(dataDir, 'etcd'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `bench=${peer}`, '--initial-cluster-state', 'new',
    '--max-txn-ops', '2000', '--max-request-bytes', String(16 * MiB),
    '--quota-backend-bytes', String(4 * 1024 * MiB), '--snapshot-count', '1000000',
    '--log-level', 'warn', '--logger', 'zap',
  ];
  const logFile = join(root, 'etcd.log');
  const child = track(spawn(process.env.ETCD_BIN ?? 'etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  let errTail = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (errTail = (errTail + d).slice(-4000)));
  const cleanup = async () => {
    await terminate(child);
    if (mounted) {
      mounts.delete(dataDir);
      try {
        execFileSync('umount', [dataDir], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', dataDir], { stdio: 'ignore' });
      }
    }
    rmSync(root, { recursive: true, force: true });
    tempDirs.delete(root);
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await cleanup();
      throw new Error(`etcd exited early: ${errTail}`);
    }
    try {
      const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.ok && (await r.json()).health === 'true') break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await cleanup();
      throw new Error(`etcd not healthy after 20 s: ${errTail}`);
    }
    await sleep(50);
  }
  return { endpoint, pid: child.pid, tmpfs: mounted, logFile, stop: cleanup };
}

// ---------------------------------------------------------------- data

const hostName = (i) => `node-${String(i).padStart(6, '0')}`;
export const hostIPv4 = (i) => `10.${((i + 1) >> 16) & 255}.${((i + 1) >> 8) & 255}.${(i + 1) & 255}`;
const hostIPv6 = (i) => `fd00::${((i + 1) >> 16).toString(16)}:${((i + 1) & 0xffff).toString(16)}`;
/** Unique IPv4 of a change: 100.<series>.x.y (series: 100 trials, 101 burst, 102 check trials). */
const changeIp = (series, k) => `100.${series}.${(k >> 8) & 255}.${k & 255}`;
const hostKey = (i, leaf) => `${PREFIX}/host/${hostName(i)}/${leaf}`;

/** Every key of the data set: as_num, 100 rr_v4 (ours first), and 3 keys per host. */
function* dataset(n) {
  yield [`${PREFIX}/global/as_num`, AS];
  for (let m = 1; m <= MESH_MEMBERS; m++) {
    const ip = `172.16.0.${m}`;
    yield [`${PREFIX}/rr_v4/${ip}`, JSON.stringify({ ip, cluster_id: '1.0.0.1' })];
  }
  for (let i = 0; i < n; i++) {
    yield [hostKey(i, 'ip_addr_v4'), hostIPv4(i)];
    yield [hostKey(i, 'ip_addr_v6'), hostIPv6(i)];
    yield [hostKey(i, `peer_v4/${RR_IP}`), JSON.stringify({ ip: RR_IP, as_num: AS })];
  }
}

/** Load the data set with `concurrency` transactions of `chunk` puts in flight. */
export async function loadHosts(client, n, { chunk = 1000, concurrency = 8 } = {}) {
  const t0 = now();
  const it = dataset(n);
  let keys = 0;
  const next = () => {
    const ops = [];
    while (ops.length < chunk) {
      const r = it.next();
      if (r.done) break;
      const [k, v] = r.value;
      ops.push({ request_put: { key: Buffer.from(k), value: Buffer.from(v) } });
    }
    return ops;
  };
  const worker = async () => {
    for (let ops = next(); ops.length > 0; ops = next()) {
      await client.kv.txn({ compare: [], success: ops, failure: [] });
      keys += ops.length;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { keys, ms: now() - t0 };
}

// ---------------------------------------------------------------- the file

/**
 * Watches one file by polling stat every `pollMs` (cheap even for a 20 MB
 * file); a new inode, size or mtime is a new version, stamped with the time
 * it was seen. Content is read once per version, only when a waiter needs it.
 */
export class FileWatch {
  constructor(path, pollMs = 2) {
    this.path = path;
    this.pollMs = pollMs;
    this.versions = []; // { t, sig }
    this.current = undefined; // { t, sig, buf? }
    this.waiters = new Set();
    this.stopped = false;
    this.#poll();
  }
  #sig() {
    try {
      const s = statSync(this.path, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch {
      return undefined;
    }
  }
  #poll() {
    if (this.stopped) return;
    const sig = this.#sig();
    if (sig !== undefined && sig !== this.current?.sig) {
      this.current = { t: now(), sig };
      this.versions.push({ t: this.current.t, sig });
      this.#check();
    }
    this.timer = setTimeout(() => this.#poll(), this.pollMs);
  }
  #content() {
    const c = this.current;
    if (c && c.buf === undefined) {
      try {
        c.buf = readFileSync(this.path);
      } catch {
        c.buf = null;
      }
    }
    return c?.buf ?? null;
  }
  #check() {
    if (this.waiters.size === 0 || !this.current) return;
    const buf = this.#content();
    if (!buf) return;
    for (const w of this.waiters) {
      if (w.pred(buf)) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(this.current.t);
      }
    }
  }
  /** Time the first version satisfying `pred` was seen (the current one counts). */
  waitFor(pred, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(w);
      this.#check();
    });
  }
  rewritesSince(t) {
    return this.versions.filter((v) => v.t >= t).length;
  }
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
  }
}

const PROTO = Buffer.from('\nprotocol bgp ');
function count(buf, needle) {
  let n = 0;
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) n++;
  return n;
}
/** The set of addresses after `neighbor <prefix>` in a config. */
function neighborsWithPrefix(buf, prefix) {
  const needle = Buffer.from(`neighbor ${prefix}`);
  const out = new Set();
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) {
    let j = i + 9;
    while (j < buf.length && buf[j] !== 0x20 && buf[j] !== 0x3b && buf[j] !== 0x0a) j++;
    out.add(buf.toString('latin1', i + 9, j));
  }
  return out;
}

// ---------------------------------------------------------------- the tool

/** The node flags on the agent bin's `#!/usr/bin/env -S node ...` line. */
function shebangFlags() {
  const first = readFileSync(AGENT_MAIN, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!.*\bnode((?:\s+-\S+)*)\s*$/.exec(first);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/**
 * Start the agent (or TOOL_CMD under `sh -c`), with its stdout parsed as JSON
 * log lines stamped with the time they arrived.
 */
function startTool({ endpoint, configDir, check, toolCmd, nodeArgs = [], env = {} }) {
  const toolEnv = {
    PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`,
    HOME: process.env.HOME ?? '/root',
    IP: RR_IP,
    IP6: RR_IP6,
    ETCD_ENDPOINTS: endpoint,
    CONFIG_DIR: configDir,
    BIRD_SOCKET: join(configDir, 'bird.ctl'),
    BIRD6_SOCKET: join(configDir, 'bird6.ctl'),
    CONFIG_CHECK: check ? '1' : '0',
    LOG_LEVEL: 'info',
    ...env,
  };
  const child = toolCmd
    ? spawn('/bin/sh', ['-c', toolCmd], { env: toolEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    : // As installed: with the node flags of the bin's #! line, then any extra ones (e.g. --cpu-prof).
      spawn(process.execPath, [...shebangFlags(), ...nodeArgs, AGENT_MAIN, 'run'], { env: toolEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const lines = [];
  let partial = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    const t = now();
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      if (!p.trim()) continue;
      try {
        lines.push({ t, ...JSON.parse(p) });
      } catch {
        lines.push({ t, msg: p, unparsed: true });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-8000)));
  return { child, pid: child.pid, lines, stderr: () => stderr, stop: () => terminate(child) };
}

// ---------------------------------------------------------------- a stand-in BIRD

/**
 * A control socket that answers like a running BIRD 1.6 (greeting, `configure`
 * -> `0003 Reconfigured`, `show status`, `show protocols`) without being one:
 * BIRD is not the subject here, but every reload of the tool is a real
 * exchange on a socket (and `birdc`, for a TOOL_CMD that runs it, works too).
 * Served by this process, so none of its CPU is counted against the tool.
 */
async function standInBird(path, configFile) {
  const replies = {
    configure: `0002-Reading configuration from ${configFile}\n0003 Reconfigured\n`,
    'show status': '1000-BIRD 1.6.8\n1011-Router ID is 172.16.0.1\n0013 Daemon is up and running\n',
    'show protocols': '2002-name     proto    table    state  since       info\n1002-device1  Device   master   up     00:00:00\n0000 \n',
  };
  const conns = new Set();
  const server = createServer((c) => {
    conns.add(c);
    c.on('close', () => conns.delete(c)).on('error', () => undefined);
    let buf = '';
    c.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const cmd = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (cmd === 'quit') return void c.end();
        c.write(replies[cmd] ?? '9001 syntax error\n');
      }
    });
    c.write('0001 BIRD 1.6.8 ready.\n');
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(path, resolve));
  return {
    close: () =>
      new Promise((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- stats

export function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
const r1 = (x) => (x === undefined || x === null ? x : Math.round(x * 10) / 10);
function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: r1(percentile(s, 50)),
    p99: r1(percentile(s, 99)),
    min: r1(s[0]),
    max: r1(s[s.length - 1]),
    mean: r1(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
  };
}
const stepDurations = (lines, step, from = 0) =>
  summary(lines.filter((l) => l.t >= from && l.step === step && l.family === 'v4' && l.ok).map((l) => l.durationMs));

// ---------------------------------------------------------------- one run

/**
 * One tool run against a loaded etcd: start, trials, (optionally) burst.
 * `series` makes every changed address unique within the etcd.
 */
async function measureRun(ctx, { check, trials, burst, series, label }) {
  const { client, endpoint, n, opts, log } = ctx;
  const configDir = mkdtempSync(join(opts.configParent ?? tmpdir(), 'rr-bench-cfg-'));
  installExitHook();
  tempDirs.add(configDir);
  const file = join(configDir, 'bird.cfg');
  const expectedProtocols = n + MESH_MEMBERS - 1;
  const watch = new FileWatch(file, opts.pollMs);
  const phases = {};
  const out = { label, check };
  let tool;
  const birds = [];
  try {
    for (const name of ['bird', 'bird6']) birds.push(await standInBird(join(configDir, `${name}.ctl`), join(configDir, `${name}.cfg`)));
    // 1. start -> first complete bird.cfg
    phases.start = { fromUs: hrUs() };
    const t0 = now();
    tool = startTool({ endpoint, configDir, check, toolCmd: opts.toolCmd, nodeArgs: opts.nodeArgs, env: opts.toolEnv });
    const exitEarly = exited(tool.child).then(() => {
      throw new Error(`${label}: tool exited early (code ${tool.child.exitCode}): ${tool.stderr()}`);
    });
    const tStart = await Promise.race([
      watch.waitFor((b) => count(b, PROTO) >= expectedProtocols, opts.startTimeoutMs, `${label}: bird.cfg with ${expectedProtocols} protocols`),
      exitEarly,
    ]);
    phases.start.toUs = hrUs();
    const first = (pred) => tool.lines.find(pred)?.t;
    out.start = { ms: r1(tStart - t0), fileBytes: statSync(file).size };
    // where the time goes, from the agent's own log lines (arrival times; filled in at the end)
    const startBreakdown = () => ({
      snapshotMs: r1(first((l) => l.msg === 'etcd resynced') - t0),
      planMs: r1(first((l) => typeof l.msg === 'string' && l.msg.startsWith('plan v4')) - t0),
      installMs: r1(first((l) => l.msg === 'install ok' && l.family === 'v4') - t0),
    });
    log(`${label}: start -> complete bird.cfg ${out.start.ms} ms (${out.start.fileBytes} bytes)`);
    await sleep(opts.settleMs);
    out.memory = { afterLoad: memory(tool.pid) };

    // idle CPU, to tell the per-change cost from timers and keepalives
    const idle0 = cpuMs(tool.pid);
    const ti0 = now();
    await sleep(opts.idleMs);
    const idleRate = (cpuMs(tool.pid).total - idle0.total) / ((now() - ti0) / 1000);

    // 2 + 3. single puts, each timed to the file containing it; CPU over the series
    const journalBefore = journalBytes(configDir);
    phases.trials = { fromUs: hrUs() };
    const linesBefore = tool.lines.length;
    const cpu0 = cpuMs(tool.pid);
    const tt0 = now();
    const samples = [];
    for (let k = 0; k < trials; k++) {
      const host = Math.floor(((k + 0.5) / trials) * n); // spread over the keyspace
      const ip = changeIp(series, k);
      const needle = Buffer.from(`neighbor ${ip} `);
      const tPut = now();
      await client.put(hostKey(host, 'ip_addr_v4')).value(ip);
      const tSeen = await watch.waitFor((b) => b.includes(needle), opts.trialTimeoutMs, `${label}: trial ${k} (${ip})`);
      samples.push(tSeen - tPut);
      await sleep(opts.gapMs + Math.random() * opts.gapMs);
    }
    const cpu1 = cpuMs(tool.pid);
    const trialWall = (now() - tt0) / 1000;
    phases.trials.toUs = hrUs();
    const idleShare = idleRate * trialWall;
    out.put = summary(samples);
    out.put.samples = samples.map(r1);
    out.cpu = {
      perChangeMs: r1((cpu1.total - cpu0.total) / trials),
      perChangeMinusIdleMs: r1(Math.max(0, cpu1.total - cpu0.total - idleShare) / trials),
      selfPerChangeMs: r1((cpu1.self - cpu0.self) / trials),
      selfSystemPerChangeMs: r1((cpu1.selfSystem - cpu0.selfSystem) / trials),
      childrenPerChangeMs: r1((cpu1.children - cpu0.children) / trials),
      idleMsPerS: r1(idleRate),
      trials,
    };
    const trialLines = tool.lines.slice(linesBefore);
    out.steps = {
      write: stepDurations(trialLines, 'write'),
      check: stepDurations(trialLines, 'check'),
      install: stepDurations(trialLines, 'install'),
    };
    log(`${label}: put -> file p50 ${out.put.p50} ms p99 ${out.put.p99} ms; CPU/change ${out.cpu.perChangeMs} ms`);
    if (journalBefore !== undefined) out.journal = { afterStartBytes: journalBefore, perChangeBytes: r1((journalBytes(configDir) - journalBefore) / trials) };

    // 4. burst of puts, `concurrency` at a time
    if (burst) {
      const { puts, concurrency } = burst;
      await sleep(opts.settleMs);
      phases.burst = { fromUs: hrUs() };
      const finalIp = new Map();
      const jobs = [];
      for (let k = 0; k < puts; k++) {
        const host = k % n;
        const ip = changeIp(series + 1, k);
        finalIp.set(host, ip);
        jobs.push([host, ip]);
      }
      const expected = new Set(finalIp.values());
      const prefix = `100.${series + 1}.`;
      const tB0 = now();
      const linesB = tool.lines.length;
      const cpuB0 = cpuMs(tool.pid);
      let next = 0;
      let lastAck = 0;
      const worker = async () => {
        while (next < jobs.length) {
          const [host, ip] = jobs[next++];
          await client.put(hostKey(host, 'ip_addr_v4')).value(ip);
          lastAck = Math.max(lastAck, now());
        }
      };
      const finalSeen = watch.waitFor(
        (b) => {
          const got = neighborsWithPrefix(b, prefix);
          if (got.size !== expected.size) return false;
          for (const ip of expected) if (!got.has(ip)) return false;
          return true;
        },
        opts.trialTimeoutMs + 60_000,
        `${label}: final state of the burst`,
      );
      await Promise.all(Array.from({ length: concurrency }, worker));
      const tFinal = await finalSeen;
      await sleep(opts.burstTailMs); // count late rewrites too
      const cpuB1 = cpuMs(tool.pid);
      phases.burst.toUs = hrUs();
      const burstLines = tool.lines.slice(linesB);
      out.burst = {
        puts,
        concurrency,
        putsMs: r1(lastAck - tB0),
        rewrites: watch.rewritesSince(tB0),
        installs: opts.toolCmd ? null : burstLines.filter((l) => l.msg === 'install ok' && l.family === 'v4').length,
        finalAfterLastAckMs: r1(tFinal - lastAck),
        finalAfterFirstPutMs: r1(tFinal - tB0),
        cpuMs: r1(cpuB1.total - cpuB0.total),
      };
      log(`${label}: burst ${puts}x${concurrency}: ${out.burst.rewrites} rewrites, final ${out.burst.finalAfterLastAckMs} ms after last ack`);
    }
    // 5. memory
    out.memory.end = memory(tool.pid);
    out.memory.afterLoadMiB = r1(out.memory.afterLoad.rssMiB);
    out.memory.peakMiB = r1(out.memory.end.peakMiB);
    out.logLines = tool.lines.length;
    if (!opts.toolCmd) Object.assign(out.start, startBreakdown());
    if (out.journal) out.journal.endBytes = journalBytes(configDir);
    // 6. the restart path: stopped, then started again with etcd down, from the journal in CONFIG_DIR
    if (!opts.toolCmd && !check && out.journal) {
      await tool.stop();
      tool = undefined;
      for (const b of birds.splice(0)) await b.close();
      out.restart = await restartFromJournal(configDir, opts);
      log(`${label}: restart from the journal (etcd down): state rebuilt ${out.restart.journalMs} ms, both configs loaded ${out.restart.loadedMs} ms after start`);
    }
  } finally {
    watch.stop();
    if (tool) await tool.stop();
    for (const b of birds) await b.close();
    rmSync(configDir, { recursive: true, force: true });
    tempDirs.delete(configDir);
  }
  out.phases = phases;
  return out;
}

// ---------------------------------------------------------------- the journal

/** Bytes of the agent's journal files ($CONFIG_DIR/journal/), undefined without one. */
function journalBytes(configDir) {
  const dir = join(configDir, 'journal');
  if (!existsSync(dir)) return undefined;
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/**
 * Start the agent again on `configDir` with etcd unreachable: the time to
 * its "started from the journal" line and until both (stand-in) BIRDs have
 * loaded the restored configs. The configs are on disk already: what a cold
 * start during an etcd outage waits for is this.
 */
async function restartFromJournal(configDir, opts) {
  const birds = [];
  for (const name of ['bird', 'bird6']) birds.push(await standInBird(join(configDir, `${name}.ctl`), join(configDir, `${name}.cfg`)));
  const t0 = now();
  const tool = startTool({ endpoint: `http://127.0.0.1:${await freePort()}`, configDir, check: false, nodeArgs: opts.nodeArgs, env: opts.toolEnv });
  try {
    const deadline = Date.now() + opts.startTimeoutMs;
    const at = (pred) => tool.lines.find(pred)?.t;
    const restored = (l) => typeof l.msg === 'string' && l.msg.startsWith('started from the journal');
    const loaded = (f) => (l) => l.msg === 'reload ok' && l.family === f;
    while (at(loaded('v4')) === undefined || at(loaded('v6')) === undefined) {
      if (tool.lines.some((l) => l.msg === 'journal not used: waiting for etcd')) throw new Error(`restart: journal not used: ${JSON.stringify(tool.lines.find((l) => l.msg === 'journal not used: waiting for etcd'))}`);
      if (Date.now() > deadline) throw new Error('restart from the journal: timed out');
      await sleep(opts.pollMs);
    }
    const line = tool.lines.find(restored);
    return {
      journalMs: r1(at(restored) - t0),
      loadedMs: r1(Math.max(at(loaded('v4')), at(loaded('v6'))) - t0),
      restoreDurationMs: line?.durationMs,
    };
  } finally {
    await tool.stop();
    for (const b of birds) await b.close();
  }
}

// ---------------------------------------------------------------- the bench

export const DEFAULTS = {
  sizes: [1000, 10000, 100000],
  trials: 30,
  burstPuts: 1000,
  burstConcurrency: 16,
  check: true,
  checkTrials: 20,
  pollMs: 2,
  gapMs: 150,
  settleMs: 1500,
  idleMs: 2000,
  burstTailMs: 2500,
  startTimeoutMs: 180_000,
  trialTimeoutMs: 30_000,
  toolCmd: undefined,
  nodeArgs: [],
  toolEnv: {},
  configParent: undefined,
  resultsDir: join(ROOT, 'bench', 'results'),
  write: true,
  log: (msg) => process.stderr.write(`[bench] ${msg}\n`),
};

/** Options from the environment (BENCH_*, TOOL_CMD). */
export function optionsFromEnv(env = process.env) {
  const o = {};
  const int = (name) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : undefined);
  if (env.BENCH_SIZES) o.sizes = env.BENCH_SIZES.split(',').map((s) => Number(s.trim())).filter((x) => x > 0);
  for (const [name, key] of [
    ['BENCH_TRIALS', 'trials'],
    ['BENCH_BURST', 'burstPuts'],
    ['BENCH_BURST_CONCURRENCY', 'burstConcurrency'],
    ['BENCH_CHECK_TRIALS', 'checkTrials'],
    ['BENCH_POLL_MS', 'pollMs'],
    ['BENCH_GAP_MS', 'gapMs'],
  ]) {
    const v = int(name);
    if (v !== undefined) o[key] = v;
  }
  if (env.BENCH_CHECK !== undefined) o.check = !/^(0|false|no|off)$/i.test(env.BENCH_CHECK);
  if (env.TOOL_CMD) o.toolCmd = env.TOOL_CMD;
  if (env.BENCH_NODE_ARGS) o.nodeArgs = env.BENCH_NODE_ARGS.split(/\s+/).filter(Boolean);
  if (env.BENCH_RESULTS_DIR) o.resultsDir = env.BENCH_RESULTS_DIR;
  if (env.BENCH_CONFIG_PARENT) o.configParent = env.BENCH_CONFIG_PARENT;
  if (env.BENCH_AGENT_ENV) {
    // e.g. BENCH_AGENT_ENV="DEBOUNCE_MS=20 MAX_WAIT_MS=500"
    o.toolEnv = Object.fromEntries(env.BENCH_AGENT_ENV.split(/\s+/).filter(Boolean).map((kv) => kv.split('=')));
  }
  return o;
}

function machine() {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model,
    memMiB: Math.round(totalmem() / MiB),
    kernel: release(),
    node: process.version,
    etcd: (() => {
      try {
        return execFileSync(process.env.ETCD_BIN ?? 'etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0];
      } catch {
        return undefined;
      }
    })(),
  };
}

export async function runBench(options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const log = opts.log;
  if (!opts.toolCmd && !existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} missing: run npm run build first`);
  const tool = opts.toolCmd ?? `routereflector agent (node ${[...shebangFlags(), ...opts.nodeArgs].join(' ')} dist/src/main.js run)`;
  const result = { tool, startedAt: new Date().toISOString(), machine: machine(), options: { ...opts, log: undefined }, sizes: [] };
  for (const n of opts.sizes) {
    log(`N=${n}: starting etcd`);
    const etcd = await startEtcd({ log });
    const client = new Etcd3({ hosts: etcd.endpoint, grpcOptions: { 'grpc.max_receive_message_length': 512 * MiB } });
    try {
      const load = await loadHosts(client, n);
      log(`N=${n}: loaded ${load.keys} keys in ${Math.round(load.ms)} ms (tmpfs: ${etcd.tmpfs})`);
      const ctx = { client, endpoint: etcd.endpoint, n, opts, log };
      // other work on the machine skews every figure: record the load average around each size
      const entry = { n, keys: load.keys, loadMs: r1(load.ms), etcdTmpfs: etcd.tmpfs, loadavgBefore: loadavg().map(r1) };
      entry.run = await measureRun(ctx, {
        check: false,
        trials: opts.trials,
        burst: opts.burstPuts > 0 ? { puts: opts.burstPuts, concurrency: opts.burstConcurrency } : undefined,
        series: 100,
        label: `N=${n}`,
      });
      if (opts.check && !opts.toolCmd) {
        entry.checked = await measureRun(ctx, { check: true, trials: opts.checkTrials, burst: undefined, series: 102, label: `N=${n} bird -p` });
      }
      entry.loadavgAfter = loadavg().map(r1);
      result.sizes.push(entry);
    } finally {
      await client.close();
      await etcd.stop();
    }
  }
  result.finishedAt = new Date().toISOString();
  result.table = table(result);
  if (opts.write) {
    mkdirSync(opts.resultsDir, { recursive: true });
    const name = `${result.startedAt.replace(/[:.]/g, '-')}-${opts.toolCmd ? 'tool' : 'agent'}.json`;
    result.file = join(opts.resultsDir, name);
    writeFileSync(result.file, JSON.stringify(result, null, 2) + '\n');
  }
  return result;
}

export function table(result) {
  const head = [
    'N', 'load s', 'start ms', 'put p50', 'put p99', 'CPU/chg ms', 'child ms', 'burst rewr', 'burst final ms', 'RSS load MiB', 'RSS peak MiB',
    '| -p start ms', '-p put p50', '-p put p99', 'bird -p ms',
    '| restart ms', 'journal MiB', 'B/chg',
  ];
  const rows = result.sizes.map((s) => {
    const r = s.run;
    const c = s.checked;
    return [
      s.n, (s.loadMs / 1000).toFixed(1), r.start.ms, r.put.p50, r.put.p99, r.cpu.perChangeMinusIdleMs, r.cpu.childrenPerChangeMs,
      r.burst ? `${r.burst.rewrites}${r.burst.installs !== null ? ` (${r.burst.installs} inst)` : ''}` : '-',
      r.burst ? r.burst.finalAfterLastAckMs : '-',
      r.memory.afterLoadMiB, r.memory.peakMiB,
      c ? `| ${c.start.ms}` : '| -', c ? c.put.p50 : '-', c ? c.put.p99 : '-', c ? c.steps.check.p50 : '-',
      r.restart ? `| ${r.restart.loadedMs}` : '| -', r.journal ? (r.journal.endBytes / MiB).toFixed(1) : '-', r.journal ? r.journal.perChangeBytes : '-',
    ].map(String);
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r) => r.map((x, i) => x.padStart(w[i])).join('  ');
  const loads = result.sizes.map((s) => `N=${s.n} ${s.loadavgBefore[0]}->${s.loadavgAfter[0]}`).join(', ');
  const legend = 'CPU/chg: agent and its children per change, idle rate subtracted; child ms: its child processes alone (the agent has none when the check is off; the reload command of a TOOL_CMD); restart ms: start again with etcd down to both configs loaded from the journal; journal MiB: on disk at the end; B/chg: journal bytes per single change';
  return [`tool: ${result.tool}`, fmt(head), ...rows.map(fmt), legend, `load average (1 min) before->after: ${loads} on ${result.machine.cpus} CPUs`].join('\n');
}
