/**
 * The project's s6 tree (`s6/`) for tests: copy it to a temp scan directory,
 * boot it with a real `s6-svscan` (inside a network namespace), read service
 * status with `s6-svstat`, read the tree's combined stdout, stop it.
 *
 * Also a real etcd inside a namespace (etcd on 127.0.0.1 in the root
 * namespace is not reachable from inside one).
 */
import { cpSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { MAIN } from './agent.js';
import type { Lab } from './netns.js';
import { killAllTracked, killTracked, removeDir, spawnTracked, tempDir, waitFor, type TrackedProcess } from './processes.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const S6_TREE = join(REPO, 's6');
export const SERVICES = ['agent', 'bird', 'bird6'] as const;
export type Service = (typeof SERVICES)[number];

/** Copy `s6/` (with its dot dirs) to `dest` (created). */
export function copyTree(dest: string): string {
  mkdirSync(dest, { recursive: true });
  cpSync(S6_TREE, dest, { recursive: true });
  return dest;
}

/** A directory holding `routereflector` -> dist/app/main.js, for PATH. */
export function agentBinDir(): string {
  const dir = tempDir('rr-bin');
  symlinkSync(MAIN, join(dir, 'routereflector'));
  return dir;
}

export function treePath(binDir: string): string {
  return [binDir, dirname(process.execPath), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
}

/**
 * A work directory (`tempDir(prefix)`) and the agent's bin directory for a
 * tree of the RR at `ip`, both added to `dirs` (for `teardownLab`), and the
 * tree's environment on them: etcd on 127.0.0.1 in the tree's namespace
 * (`startNsEtcd`), the configs in `<work>/config`, the control sockets in
 * `<work>/sockets`, LOG_LEVEL info; then `extra`.
 */
export function treeWork(prefix: string, ip: string, dirs: string[], extra: Record<string, string> = {}): { work: string; env: Record<string, string> } {
  const work = tempDir(prefix);
  dirs.push(work);
  const bin = agentBinDir();
  dirs.push(bin);
  const env = {
    PATH: treePath(bin),
    IP: ip,
    ETCD_ENDPOINTS: 'http://127.0.0.1:2379',
    CONFIG_DIR: join(work, 'config'),
    BIRD_SOCKET: join(work, 'sockets', 'bird.ctl'),
    BIRD6_SOCKET: join(work, 'sockets', 'bird6.ctl'),
    LOG_LEVEL: 'info',
    ...extra,
  };
  return { work, env };
}

export interface SvStat {
  up: boolean;
  ready: boolean;
  pid: number;
}

/** `s6-svstat -o up,ready,pid DIR`. */
export async function svstat(serviceDir: string): Promise<SvStat> {
  const r = await execa('s6-svstat', ['-o', 'up,ready,pid', serviceDir], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`s6-svstat ${serviceDir}: ${String(r.stderr).trim()}`);
  const [up, ready, pid] = String(r.stdout).trim().split(/\s+/);
  return { up: up === 'true', ready: ready === 'true', pid: Number(pid) };
}

export interface Tree {
  dir: string;
  netns: string;
  scanner: TrackedProcess;
  outFile: string;
  /** The tree's combined stdout+stderr so far. */
  out(): string;
  lines(): string[];
  stat(svc: string): Promise<SvStat>;
  /** Wait until agent is up+ready and bird/bird6 run a daemon answering on its socket. */
  waitUp(timeoutMs?: number): Promise<void>;
}

export interface StartTreeOptions {
  netns: string;
  env: Record<string, string>;
  dir?: string;
}

export function startTree(o: StartTreeOptions): Tree {
  const dir = o.dir ?? copyTree(join(tempDir('rr-s6'), 'scan'));
  const outFile = join(dirname(dir), 'stdout.log');
  const scanner = spawnTracked('ip', ['netns', 'exec', o.netns, 's6-svscan', dir], {
    env: o.env,
    logFile: outFile,
  });
  const out = (): string => {
    try {
      return readFileSync(outFile, 'utf8');
    } catch {
      return '';
    }
  };
  const tree: Tree = {
    dir,
    netns: o.netns,
    scanner,
    outFile,
    out,
    lines: () => out().split('\n').filter((l) => l !== ''),
    stat: (svc) => svstat(join(dir, svc)),
    async waitUp(timeoutMs = 30_000) {
      await waitFor(
        async () => {
          if (scanner.hasExited()) throw new Error(`s6-svscan exited; output:\n${out()}`);
          const a = await tree.stat('agent');
          if (!a.up || !a.ready) return false;
          for (const svc of ['bird', 'bird6']) {
            const s = await tree.stat(svc);
            if (!s.up) return false;
            if (!isBirdDaemon(s.pid)) return false; // still the run script waiting for the agent
          }
          return true;
        },
        { timeoutMs, intervalMs: 100, what: `s6 tree in ${dir} up` },
      );
    },
  };
  return tree;
}

/** The command name of a process (`/proc/PID/comm`), or undefined. */
export function readComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is a BIRD daemon, not a run script still waiting: BIRD 1.6 is
 * `bird` or `bird6`, BIRD 2/3 `bird` for both families, and the host's Debian
 * 13 BIRDs (scripts/birds.sh wrappers) run as the trixie root's dynamic loader.
 */
export function isBirdDaemon(pid: number): boolean {
  const comm = readComm(pid);
  return comm === 'bird' || comm === 'bird6' || comm === 'ld-linux-x86-64';
}

/** PIDs of every process in a network namespace (`ip netns pids`). */
export async function netnsPids(ns: string): Promise<number[]> {
  const r = await execa('ip', ['netns', 'pids', ns], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) return [];
  return String(r.stdout)
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** SIGKILL every process left in a namespace except `keep` (cleanup after a failed test). */
export async function killNetnsProcesses(ns: string, keep: readonly number[] = []): Promise<void> {
  for (const pid of await netnsPids(ns)) {
    if (keep.includes(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export interface NsEtcd {
  endpoint: string;
  process: TrackedProcess;
  ctl(...args: string[]): Promise<string>;
  put(key: string, value: string): Promise<void>;
  stop(): Promise<void>;
}

/** A real etcd inside `ns`, on 127.0.0.1 there (its own port space: fixed ports are fine). */
export async function startNsEtcd(ns: string, dataDir: string = join(tempDir('rr-s6-etcd'), 'data')): Promise<NsEtcd> {
  const endpoint = 'http://127.0.0.1:2379';
  mkdirSync(dirname(dataDir), { recursive: true });
  const logFile = join(dirname(dataDir), 'etcd.log');
  const p = spawnTracked(
    'ip',
    [
      'netns', 'exec', ns, process.env['ETCD_BIN'] ?? 'etcd',
      '--name', 'rr-s6', '--data-dir', dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'rr-s6=http://127.0.0.1:2380', '--log-level', 'warn', '--logger', 'zap',
    ],
    { logFile },
  );
  const ctl = async (...args: string[]): Promise<string> => {
    const r = await execa(
      'ip',
      ['netns', 'exec', ns, process.env['ETCDCTL_BIN'] ?? 'etcdctl', '--endpoints', endpoint, '--dial-timeout', '2s', '--command-timeout', '5s', ...args],
      { reject: false, stdin: 'ignore', env: { ETCDCTL_API: '3' }, timeout: 15_000 },
    );
    if (r.exitCode !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${String(r.stderr).trim()}`);
    return String(r.stdout);
  };
  await waitFor(
    async () => {
      if (p.hasExited()) throw new Error(`etcd exited; see ${logFile}: ${readFileSync(logFile, 'utf8')}`);
      await ctl('get', '/calico/bgp/v1/global/as_num'); // throws until etcd answers
      return true;
    },
    { timeoutMs: 20_000, intervalMs: 200, what: `etcd in ${ns}` },
  );
  return {
    endpoint,
    process: p,
    ctl,
    put: async (key, value) => {
      await ctl('put', key, value);
    },
    stop: () => killTracked(p.pid, 5000),
  };
}

/** Stop a tree the way a container runtime does (SIGTERM to the scanner); SIGKILL leftovers after `graceMs`. */
export async function stopTree(tree: Tree, graceMs = 15_000): Promise<{ code: number | null; signal: string | null; ms: number }> {
  const t0 = Date.now();
  if (!tree.scanner.hasExited()) {
    try {
      process.kill(tree.scanner.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const res = await Promise.race([
    tree.scanner.exited,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), graceMs)),
  ]);
  if (res === undefined) {
    await killTracked(tree.scanner.pid, 0).catch(() => undefined);
    return { code: null, signal: 'timeout', ms: Date.now() - t0 };
  }
  return { code: res.code, signal: res.signal, ms: Date.now() - t0 };
}

/**
 * The end of a lab test: `first` (e.g. stop the tree), then, whatever it did,
 * SIGKILL every process left in the lab's namespaces, end every tracked
 * process, delete the lab and remove `dirs`. `lab` may be undefined (a
 * beforeAll that failed early).
 */
export async function teardownLab(lab: Lab | undefined, dirs: readonly string[], first?: () => Promise<unknown>): Promise<void> {
  try {
    if (first) await first();
  } finally {
    if (lab) for (const h of lab.hosts.values()) await killNetnsProcesses(h.netns);
    await killAllTracked(2000);
    if (lab) await lab.destroy();
    for (const d of dirs) await removeDir(d);
  }
}

/** `teardownLab` after stopping `tree` (SIGTERM to its scanner) if it still runs. */
export function teardownTreeLab(tree: Tree | undefined, lab: Lab | undefined, dirs: readonly string[]): Promise<void> {
  return teardownLab(lab, dirs, async () => {
    if (tree && !tree.scanner.hasExited()) await stopTree(tree);
  });
}
