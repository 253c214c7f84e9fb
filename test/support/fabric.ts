/**
 * The seed's route reflector topology in lab addresses, for the end-to-end
 * tests (test/e2e/). Made-up addresses only, all on one bridge:
 *
 *   RR1..RR6    10.77.0.1..6     fd77::1..6      rack r = RRs 2r-1, 2r, cluster id 1.0.0.r
 *   RR7         10.77.0.7        (v4 only)       joins later (cluster 1.0.0.4, no nodes)
 *   global RR   10.77.0.8        (v4 only)       standalone, /global/peer_v4
 *   N1..N9      10.77.0.11..19   fd77::11..19    node n in rack ceil(n/3), prefix 10.77.(100+n).0/24, fd77::(100+n):0/112
 *   N10         10.77.0.20       (gobgpd)        rack 2, prefix 10.77.110.0/24
 *   N11         10.77.0.21       fd77::21        (FRR bgpd) rack 1, prefix 10.77.111.0/24, fd77::111:0/112
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyValue } from '../../src/core/events.js';
import { PREFIX } from '../../src/core/config.js';
import type { AgentProcess } from './agent.js';
import { startBird, type BirdHandle, type Family } from './bird.js';
import { birdBins, birdEnv, type Dialect } from './dialect.js';
import { seedCluster, seedRrsOfNode, seedTopology } from './seed.js';

export const AS = 64512;
export const rrIp = (i: number): string => `10.77.0.${i}`;
export const rr6Ip = (i: number): string => `fd77::${i}`;
export const nodeIp = (n: number): string => `10.77.0.${10 + n}`;
export const node6Ip = (n: number): string => `fd77::${10 + n}`;
export const nodePrefix = (n: number): string => `10.77.${100 + n}.0/24`;
export const nodePrefix6 = (n: number): string => `fd77::${100 + n}:0/112`;
/** Rack of node n (N10, the gobgpd node, is in rack 2; N11, the FRR node, in rack 1). */
export const rackOf = (n: number): number => (n === 10 ? 2 : n === 11 ? 1 : Math.ceil(n / 3));
/** Cluster id of rack r. */
export const clusterOfRack = (r: number): string => `1.0.0.${r}`;
export const rrsOfRack = (r: number): [number, number] => [2 * r - 1, 2 * r];
export const rackOfRr = (i: number): number => Math.ceil(i / 2);
export const RR7 = 7;
export const RR7_CLUSTER = '1.0.0.4';
export const GLOBAL_RR = '10.77.0.8';
export const GOBGP_NODE = 10;
export const FRR_NODE = 11;

/** BIRD protocol symbol of an address, as the agent derives it (`Mesh_10_77_0_1`, `Node_fd77__11`). */
export const sym = (ip: string): string => ip.replace(/[.:]/g, '_');

/** The seed topology (corrected clusters) in lab addresses, dual-stack, with BIRD debug on. */
export function labSeed(): KeyValue[] {
  return [
    ...seedTopology({ rrIp, nodeIp, rr6Ip, node6Ip, asNum: AS }),
    { key: `${PREFIX}/global/loglevel`, value: 'debug' },
  ];
}

// Sanity: the lab's rack mapping is the seed's.
for (let n = 1; n <= 9; n++) {
  const [a, b] = seedRrsOfNode(n);
  const [c, d] = rrsOfRack(rackOf(n));
  if (a !== c || b !== d || seedCluster(a) !== clusterOfRack(rackOf(n))) throw new Error('fabric: rack mapping drifted from seed.ts');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Namespaces of earlier runs of these tests (`<tag><pid>-*`) whose test
 * process is gone: end the processes inside them (by PID) and delete them.
 */
export function reapStaleLabs(tag: string): string[] {
  const reaped: string[] = [];
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return reaped;
  }
  const re = new RegExp(`^${tag}(\\d+)-\\S+`);
  for (const line of list.split('\n')) {
    const m = re.exec(line.trim());
    if (!m) continue;
    const ns = m[0];
    if (pidAlive(Number(m[1]))) continue;
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter((p) => /^\d+$/.test(p));
      for (const p of pids) {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      execFileSync('ip', ['netns', 'delete', ns]);
      reaped.push(ns);
    } catch {
      /* best effort */
    }
  }
  return reaped;
}

/** Delete every namespace whose name starts with `prefix` (synchronous: usable in an exit hook). */
export function deleteNetnsSync(prefix: string): void {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const ns = line.trim().split(/\s+/)[0] ?? '';
    if (ns.startsWith(prefix)) {
      try {
        execFileSync('ip', ['netns', 'delete', ns]);
      } catch {
        /* best effort */
      }
    }
  }
}

/** Resident memory (MB) and CPU time used so far (s) of a process, from /proc. */
export function procUsage(pid: number): { rssMb: number; cpuS: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    const statLine = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
    // after ") ": state(0) ... utime is field 14 overall, i.e. index 11 here; stime index 12
    const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
    return { rssMb: Math.round(Number(rss?.[1] ?? 0) / 1024), cpuS: Math.round((ticks / 100) * 10) / 10 };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- a route reflector host

/**
 * The environment of an RR host's agent (`runAgent`: in the root netns; the
 * host's BIRDs read its files in `dir`): `env` (IP, ETCD_ENDPOINTS...), the
 * configs and control sockets in `dir`, a probe every 2 s, info logs, the
 * dialect's BIRDs.
 */
export function rrAgentEnv(dir: string, dialect: Dialect, env: Record<string, string>): Record<string, string> {
  return {
    ...env,
    CONFIG_DIR: dir,
    BIRD_SOCKET: join(dir, 'bird.ctl'),
    BIRD6_SOCKET: join(dir, 'bird6.ctl'),
    PROBE_INTERVAL_MS: '2000',
    LOG_LEVEL: 'info',
    ...birdEnv(dialect),
  };
}

/**
 * Wait for the agent of RR `name` to install its first config of each
 * family in turn (bird.cfg, bird6.cfg), each within its time; the error of
 * a timeout carries the agent's log and stderr.
 */
export async function waitFirstInstalls(agent: AgentProcess, name: string, families: ReadonlyArray<readonly [Family, number]>): Promise<void> {
  try {
    for (const [family, timeoutMs] of families) {
      await agent.waitForLine((l) => l.msg === 'install ok' && l.family === family, `${name}: first ${family === 'v4' ? 'bird.cfg' : 'bird6.cfg'}`, { timeoutMs });
    }
  } catch (e) {
    const lines = agent.lines.map((l) => JSON.stringify(l)).join('\n  ');
    throw new Error(`${(e as Error).message}\nagent ${name} (pid ${agent.pid}) log:\n  ${lines}\nstderr: ${agent.stderr()}`);
  }
}

/** An RR host's BIRD (`family`) in `netns`, the dialect's, on the config its agent wrote to `dir`. */
export function startRrBird(family: Family, dialect: Dialect, netns: string, dir: string, readyTimeoutMs: number): Promise<BirdHandle> {
  const name = family === 'v4' ? 'bird' : 'bird6';
  return startBird({ family, bin: birdBins(dialect)[family], netns, dir, name, config: readFileSync(join(dir, `${name}.cfg`), 'utf8'), readyTimeoutMs });
}
