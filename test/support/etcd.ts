/**
 * A real etcd (Debian's /usr/bin/etcd) for integration tests: loopback only,
 * free ports, a temp data dir, health-checked. Every process started here is
 * tracked and killed on stop() or, failing that, when the test process exits.
 *
 * Also: etcdctl() (API v3) and a tiny TCP proxy that a test can cut and
 * restore, to give a client a real network disconnect while etcd stays up.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, closeSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tieSockets } from './socket-pair.js';
import { untilEtcdHealthy } from '../../bench/lib/etcd.mjs';
import { freePort as sharedFreePort } from '../../bench/lib/processes.mjs';

const ETCD_BIN = process.env['ETCD_BIN'] ?? 'etcd';
const ETCDCTL_BIN = process.env['ETCDCTL_BIN'] ?? 'etcdctl';

/** Every etcd child still alive, so nothing outlives the test process. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/** A free TCP port on loopback: bind port 0, read it, release it (the bench's own, bench/lib/processes.mjs). */
export const freePort: () => Promise<number> = sharedFreePort;


export interface EtcdProcess {
  /** Client URL, e.g. http://127.0.0.1:40123 */
  readonly endpoint: string;
  /** PID of the current process (changes on restart). */
  readonly pid: number;
  readonly dataDir: string;
  /** SIGTERM, wait for exit (SIGKILL after 5 s). Idempotent. Removes the temp dir unless dataDir was given. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /** Send a signal (e.g. SIGKILL, SIGSTOP, SIGCONT); resolves when the process exited for terminating signals. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Start again with the same data dir and ports; waits for health. */
  restart(): Promise<void>;
}

export interface StartEtcdOptions {
  dataDir?: string;
  name?: string;
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function waitHealthy(endpoint: string, child: ChildProcess, logFile: string): Promise<void> {
  const health = await untilEtcdHealthy(endpoint, { timeoutMs: 15_000, stopped: () => child.exitCode !== null || child.signalCode !== null });
  if (health === 'exited') throw new Error(`etcd exited early (code ${child.exitCode}, signal ${child.signalCode}); see ${logFile}`);
  if (health === 'timeout') throw new Error(`etcd at ${endpoint} not healthy after 15 s; see ${logFile}`);
}

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdProcess> {
  installExitHook();
  const ownDir = opts.dataDir === undefined;
  const root = mkdtempSync(join(tmpdir(), 'rr-etcd-'));
  const dataDir = opts.dataDir ?? join(root, 'data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logFile = join(root, 'etcd.log');
  const name = opts.name ?? 'rr-test';
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', name,
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `${name}=${peerUrl}`,
    '--initial-cluster-state', 'new',
    '--log-level', 'warn',
    '--logger', 'zap',
  ];

  let child: ChildProcess | undefined;
  let stopped = false;

  const launch = async (): Promise<void> => {
    const fd = openSync(logFile, 'a');
    try {
      child = spawn(ETCD_BIN, args, { stdio: ['ignore', fd, fd], detached: false });
    } finally {
      closeSync(fd);
    }
    const c = child;
    live.add(c);
    c.once('exit', () => live.delete(c));
    c.once('error', () => live.delete(c));
    await waitHealthy(endpoint, c, logFile);
  };

  const terminate = async (c: ChildProcess): Promise<void> => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = waitExit(c);
    c.kill('SIGCONT'); // in case a test stopped it
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (e) {
    if (child) await terminate(child);
    throw e;
  }

  return {
    endpoint,
    get pid(): number {
      return child?.pid ?? -1;
    },
    dataDir,
    async stop(stopOpts?: { keepData?: boolean }): Promise<void> {
      if (child) await terminate(child);
      if (!stopped) {
        stopped = true;
        // root holds the log, and the data dir unless the caller gave its own
        if (!(ownDir && stopOpts?.keepData === true)) rmSync(root, { recursive: true, force: true });
      }
    },
    async kill(signal: NodeJS.Signals): Promise<void> {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = waitExit(c);
      c.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') await exited;
    },
    async restart(): Promise<void> {
      if (stopped) throw new Error('etcd was stopped for good');
      if (child) await terminate(child);
      await launch();
    },
  };
}

/** Run etcdctl (API v3) against one endpoint; resolves stdout, rejects with stderr. */
export function etcdctl(endpoint: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      ETCDCTL_BIN,
      ['--endpoints', endpoint, '--dial-timeout', '3s', '--command-timeout', '5s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`etcdctl ${args.join(' ')}: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
  });
}

/** Current store revision, read with etcdctl. */
export async function currentRevision(endpoint: string): Promise<number> {
  const out = await etcdctl(endpoint, 'endpoint', 'status', '-w', 'json');
  const parsed = JSON.parse(out) as Array<{ Status: { header: { revision: number } } }>;
  const rev = parsed[0]?.Status.header.revision;
  if (rev === undefined) throw new Error(`no revision in ${out}`);
  return rev;
}

/**
 * A TCP proxy in front of an endpoint. cut() drops every connection and
 * refuses new ones (closes them at once) until restore(): the client behind
 * it sees a real network failure while etcd itself keeps running.
 */
export interface TcpProxy {
  readonly endpoint: string;
  cut(): void;
  restore(): void;
  /** Send new connections to another endpoint (existing ones are cut). */
  retarget(endpoint: string): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  let url = new URL(target);
  const sockets = new Set<Socket>();
  let blocked = false;
  const server: Server = createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(url.port), url.hostname);
    tieSockets(client, upstream, sockets);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    cut(): void {
      blocked = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore(): void {
      blocked = false;
    },
    retarget(endpoint: string): void {
      url = new URL(endpoint);
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close(): Promise<void> {
      blocked = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
