/**
 * The "RR lab" of the agent tests: a real etcd; a network namespace lab with
 * the route reflector's host (RR, and RR6 unless `ipv6: false`); the keyspace
 * seeded with that RR and one client node n1 (N1, IPv4); Calico nodes' BIRDs
 * on demand; and the agent with the route reflector's BIRD (and BIRD6) in the
 * RR's namespace reading the files the agent writes, started like s6 does.
 *
 * Every process started here is tracked by PID (runAgent, spawnTracked): a
 * test ends them with stopAllAgents() and killAllTracked(), then calls
 * destroy() for the namespaces and etcd.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PREFIX } from '../../src/core/config.js';
import { runAgent, type AgentProcess } from './agent.js';
import { startBird, type BirdHandle } from './bird.js';
import { birdBins, birdEnv, type Dialect } from './dialect.js';
import { etcdctl, startEtcd, type EtcdProcess } from './etcd.js';
import { createLab, type Lab, type LabHost } from './netns.js';
import { nodeBirdConfig } from './node-bird.js';

export const RR = '10.77.0.1';
export const RR6 = 'fd77::1';
export const N1 = '10.77.0.11';
export const AS = 64512;

/** `#!/bin/sh` + body written to dir/name, executable: a wrapper to pass as BIRD_BIN. */
export function shellScript(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}`);
  chmodSync(path, 0o755);
  return path;
}

export interface RrUnderTest {
  agent: AgentProcess;
  bird: BirdHandle;
  bird6?: BirdHandle;
  dir: string;
  stop(): Promise<void>;
}

export interface StartRrOptions {
  /** CONFIG_DIR, and the directory of the control sockets and BIRD's logs. */
  dir: string;
  /** More agent environment (IP, IP6 and ETCD_ENDPOINTS default to the lab's). */
  env?: Record<string, string>;
  withBird6?: boolean;
  /** The route reflector's BIRD (default: BIRD 1.6 from PATH): the agent's BIRD_BIN/BIRD6_BIN and the daemons started. */
  dialect?: Dialect;
  /** Runs once the first configs are installed, before BIRD starts. */
  beforeBird?: (agent: AgentProcess) => Promise<void>;
}

export interface RrLab {
  readonly etcd: EtcdProcess;
  readonly lab: Lab;
  readonly rrHost: LabHost;
  /** etcdctl put of `${PREFIX}${suffix}`; a value that is not a string is written as JSON. */
  put(suffix: string, value: unknown): Promise<string>;
  del(suffix: string): Promise<string>;
  /** A Calico node: a host `name` at `ip`/24 whose BIRD peers with RR (IPv4) and originates `route`. */
  startNode(name: string, ip: string, route: string): Promise<BirdHandle>;
  /**
   * Start the agent (config and sockets in `dir`), wait for its first
   * installs, then start BIRD (and BIRD6 when `withBird6`) in the RR's
   * namespace on those files, and wait until the agent has reloaded them.
   */
  startRr(o: StartRrOptions): Promise<RrUnderTest>;
  /** Delete the namespaces, stop etcd. */
  destroy(): Promise<void>;
}

/** `prefix`: the lab's namespace prefix, short and unique per test file (e.g. `rra${process.pid % 10000}`). */
export async function createRrLab(o: { prefix: string; ipv6?: boolean }): Promise<RrLab> {
  const ipv6 = o.ipv6 ?? true;
  const etcd = await startEtcd();
  let lab: Lab | undefined;
  try {
    lab = await createLab(o.prefix);
    const rrHost = ipv6 ? await lab.addHost('rr', `${RR}/24`, `${RR6}/64`) : await lab.addHost('rr', `${RR}/24`);
    const put = (suffix: string, value: unknown): Promise<string> =>
      etcdctl(etcd.endpoint, 'put', `${PREFIX}${suffix}`, typeof value === 'string' ? value : JSON.stringify(value));
    await put('/global/as_num', String(AS));
    await put(`/rr_v4/${RR}`, { ip: RR, cluster_id: '1.0.0.1' });
    if (ipv6) await put(`/rr_v6/${RR6}`, { ip: RR6, cluster_id: '1.0.0.1' });
    await put('/host/n1/ip_addr_v4', N1);
    await put(`/host/n1/peer_v4/${RR}`, { ip: RR, as_num: AS });
    const net = lab; // narrowed, for the closures
    return {
      etcd,
      lab,
      rrHost,
      put,
      del: (suffix) => etcdctl(etcd.endpoint, 'del', `${PREFIX}${suffix}`),
      async startNode(name, ip, route) {
        const host = await net.addHost(name, `${ip}/24`);
        return startBird({
          family: 'v4',
          netns: host.netns,
          config: nodeBirdConfig({ family: 'v4', routerId: ip, self: ip, rrs: [RR], as: AS, routes: [route] }),
        });
      },
      startRr: (s) =>
        startRr(rrHost.netns, { ...s, env: { IP: RR, ...(ipv6 ? { IP6: RR6 } : {}), ETCD_ENDPOINTS: etcd.endpoint, ...s.env } }),
      async destroy() {
        try {
          await net.destroy();
        } finally {
          await etcd.stop();
        }
      },
    };
  } catch (e) {
    await lab?.destroy().catch(() => undefined);
    await etcd.stop();
    throw e;
  }
}

async function startRr(netns: string, o: StartRrOptions): Promise<RrUnderTest> {
  const agent = runAgent({
    CONFIG_DIR: o.dir,
    BIRD_SOCKET: join(o.dir, 'bird.ctl'),
    BIRD6_SOCKET: join(o.dir, 'bird6.ctl'),
    PROBE_INTERVAL_MS: '200',
    HTTP_LISTEN: 'off',
    ...(o.dialect !== undefined ? birdEnv(o.dialect) : {}),
    ...o.env,
  });
  try {
    await agent.waitForLine((l) => l.msg === 'install ok' && l.family === 'v4', 'first bird.cfg installed', { timeoutMs: 20_000 });
    await agent.waitForLine((l) => l.msg === 'install ok' && l.family === 'v6', 'first bird6.cfg installed', { timeoutMs: 20_000 });
    if (o.beforeBird) await o.beforeBird(agent);
    const cfg = (n: string): string => readFileSync(join(o.dir, n), 'utf8');
    const bin = o.dialect !== undefined ? birdBins(o.dialect) : undefined;
    const bird = await startBird({ family: 'v4', netns, dir: o.dir, name: 'bird', config: cfg('bird.cfg'), ...(bin ? { bin: bin.v4 } : {}) });
    const rr: RrUnderTest = {
      agent,
      bird,
      dir: o.dir,
      async stop() {
        await agent.stop();
        await bird.stop();
        if (rr.bird6) await rr.bird6.stop();
      },
    };
    if (o.withBird6 === true) rr.bird6 = await startBird({ family: 'v6', netns, dir: o.dir, name: 'bird6', config: cfg('bird6.cfg'), ...(bin ? { bin: bin.v6 } : {}) });
    // The agent re-applies the config to a daemon that comes up: let that happen before the test starts.
    await agent.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v4', 'bird reloaded once it came up', { timeoutMs: 20_000 });
    if (rr.bird6) await agent.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v6', 'bird6 reloaded once it came up', { timeoutMs: 20_000 });
    return rr;
  } catch (e) {
    await agent.stop();
    throw e;
  }
}
