/**
 * Issue 4, end to end: the seed's route reflector topology in network
 * namespaces, with real BGP sessions and routes.
 *
 * One lab (a bridge in its own netns, 10.77.0.0/24 and fd77::/64, see
 * test/support/fabric.ts), one etcd on loopback in the root netns. Each route
 * reflector host is what the product runs: one agent process (`node
 * dist/app/main.js run`, root netns, reaches etcd on 127.0.0.1 and BIRD
 * through the control socket file) plus `bird` and `bird6` inside the host's
 * namespace reading the agent's CONFIG_DIR. The s6 tree is not used here (it
 * is tested on its own); agent + bird/bird6 per host is the same thing
 * without the supervisor. Calico nodes are plain BIRD/BIRD6 1.6, plus one
 * gobgpd node and one FRR node (bgpd, IPv4 and IPv6): two more independent
 * BGP implementations.
 *
 * Dialects: `fabricSuite(dialect)` runs the whole fabric with the route
 * reflectors on BIRD 1.6, BIRD 2 or BIRD 3 (test/support/dialect.ts: the
 * agent's BIRD_BIN/BIRD6_BIN and the daemons the RR hosts start); the nodes
 * stay on BIRD 1.6. One test file per variant (fabric.test.ts,
 * fabric-bird3.test.ts, fabric-image.test.ts): each builds its own lab.
 *
 * The image (`fabricSuite('bird2', { image: true })`, fabric-image.test.ts):
 * every route reflector host runs the image root (scripts/image-root.sh, the
 * Dockerfile's runtime stage) as users run the container: s6 as PID 1 of its
 * own PID namespace, read-only root, the image's user and capabilities, the
 * agent and both BIRDs under s6 in the host's namespace, etcd reached through
 * a local forwarder (test/support/image-rr.ts). The scenarios are the same;
 * they read the agent's lines and BIRD's from the container's log.
 *
 * The topology is built once (beforeAll) and the scenarios run in order,
 * each building on the previous: 1 (seed, IPv4), 4 (IPv6, same hosts), 2
 * (global peer), 5 (gobgpd node), 6 (FRR node), then 3 (changes), last
 * because it mutates the seed (RR7 joins, N9 loses its peerings, the mesh AS
 * changes). From 6 on, every route check covers FRR's RIB too, and FRR's own
 * session counters prove its sessions were never reset.
 *
 * Proof of "no flap": BIRD's own state log. Nodes log `debug { states }`;
 * the RRs' configs come from the agent, which renders `debug all` when
 * `/calico/bgp/v1/global/loglevel` is `debug`, so the seed sets it: then the
 * RR side of every session records its state changes too (a `debug` change
 * never restarts a session, docs/bird-notes.md), and both ends of every
 * session are checked, not just the node end. (The "since" column of `show
 * protocols` jitters by a second between calls and proves nothing.)
 *
 * Timing: figures are printed ([e2e] lines), never asserted, except the
 * issue's "every RR meshes with RR7 within 5 s": a 5000 ms deadline counted
 * from the moment the etcd put starts.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { runAgent, stopAllAgents } from '../support/agent.js';
import { birdc, stateChanges, startBird, type BirdHandle, type Family, type StateChange } from '../support/bird.js';
import { startEtcd, type EtcdProcess } from '../support/etcd.js';
import {
  AS,
  clusterOfRack,
  deleteNetnsSync,
  FRR_NODE,
  GLOBAL_RR,
  GOBGP_NODE,
  labSeed,
  node6Ip,
  nodeIp,
  nodePrefix,
  nodePrefix6,
  procUsage,
  rackOf,
  rackOfRr,
  reapStaleLabs,
  rrAgentEnv,
  RR7,
  RR7_CLUSTER,
  rr6Ip,
  rrIp,
  rrsOfRack,
  startRrBird,
  sym,
  waitFirstInstalls,
} from '../support/fabric.js';
import { dialectName, requireDialect, type Dialect } from '../support/dialect.js';
import { startFrr, type FrrHandle } from '../support/frr.js';
import { startGobgp, type GobgpHandle } from '../support/gobgp.js';
import { createLab, type Lab, type LabHost } from '../support/netns.js';
import { nodeBirdConfig, peerName } from '../support/node-bird.js';
import { killAllTracked, removeDir, tempDir, trackedPids, waitFor } from '../support/processes.js';
import { etcdBridge, startImageRr, type ImageAgent, type ImageRr } from '../support/image-rr.js';
import { killAllImages } from '../support/image.js';
import { REPO } from '../support/s6.js';
import { execa } from 'execa';
import { bgpSessions, clusterSet, isEstablished, routesAll } from '../support/routes.js';

const TAG = 'e2e';
const RUN = `${TAG}${process.pid}`;
const NEW_AS = 64513;
/** Start-up waits are generous: on a busy two-core machine 8 agents booting at once take 20+ s. */
const READY_MS = 60_000;

interface RrHost {
  name: string;
  index: number;
  ip: string;
  ip6?: string;
  host: LabHost;
  /** Its CONFIG_DIR (the image's /config volume). */
  dir: string;
  /** The agent's log lines and PID (a process of ours, or the container's agent). */
  agent: ImageAgent;
  /** Ends the agent at once (the exit hook). */
  kill(): void;
  bird: BirdHandle;
  bird6?: BirdHandle;
  /** In image mode: the container. */
  image?: ImageRr;
}

interface NodeHost {
  n: number;
  name: string;
  host: LabHost;
  bird: BirdHandle;
  bird6: BirdHandle;
  /** v4 route reflectors in its BIRD config. */
  rrs: string[];
}

/** What etcd says right now: the expected sessions derive from it. */
const model = {
  meshV4: [1, 2, 3, 4, 5, 6],
  globalPeer: false,
  gobgp: false,
  frr: false,
  n9Peerings: true,
};

/** The route reflectors' BIRD (set by fabricSuite). */
let dialect: Dialect = 'bird1';
/** Route reflectors from the image root (set by fabricSuite). */
let imageRoot: string | undefined;
let bridge: { close(): Promise<void> } | undefined;
let etcdSocket = '';

let etcd: EtcdProcess;
let client: Etcd3;
let lab: Lab;
const rrs = new Map<number, RrHost>(); // 1..7, and 8 = the global RR
const nodes = new Map<number, NodeHost>(); // 1..9
let gobgp: GobgpHandle | undefined;
let frr: FrrHandle | undefined;
const dirs: string[] = [];
const t0 = Date.now();

const put = (suffix: string, value: unknown) =>
  client.put(`${PREFIX}${suffix}`).value(typeof value === 'string' ? value : JSON.stringify(value));
const del = (suffix: string) => client.delete().key(`${PREFIX}${suffix}`);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const log = (msg: string) => console.log(`[e2e] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exitHook(): void {
  for (const pid of trackedPids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const rr of rrs.values()) rr.kill();
  killAllImages();
  deleteNetnsSync(`${RUN}-`);
}

async function startRr(index: number, ip: string, ip6?: string): Promise<RrHost> {
  const name = index === 8 ? 'grr' : `rr${index}`;
  const host = await lab.addHost(name, `${ip}/24`, ip6 !== undefined ? `${ip6}/64` : undefined);
  const dir = tempDir(`rr-e2e-${name}`);
  dirs.push(dir);
  if (imageRoot !== undefined) return startImageRrHost(name, index, ip, ip6, host, dir, imageRoot);
  const agent = runAgent(rrAgentEnv(dir, dialect, { IP: ip, ...(ip6 !== undefined ? { IP6: ip6 } : {}), ETCD_ENDPOINTS: etcd.endpoint }));
  const rr = { name, index, ip, host, dir, agent, kill: () => void agent.child.kill('SIGKILL') } as unknown as RrHost;
  if (ip6 !== undefined) rr.ip6 = ip6;
  rrs.set(index, rr);
  await waitFirstInstalls(agent, name, [
    ['v4', READY_MS * 2],
    ['v6', READY_MS],
  ]);
  // BIRD reads the agent's file (startBird rewrites it with the same text).
  rr.bird = await startRrBird('v4', dialect, host.netns, dir, READY_MS);
  superviseRrBird(rr, rr.bird);
  if (ip6 !== undefined) {
    rr.bird6 = await startRrBird('v6', dialect, host.netns, dir, READY_MS);
    superviseRrBird(rr, rr.bird6);
  }
  return rr;
}

/** Set when the lab is being torn down: daemons that exit then are not restarted. */
let tearingDown = false;
/** Every RR BIRD that died during the run and was started again (printed at the end). */
const birdRestarts: string[] = [];

/**
 * What s6 does in the product (the s6 tree's tests cover it): an RR host's
 * BIRD that dies is started again on its agent's config, and the agent's
 * probes give it the latest one. Here BIRD runs without s6, so the harness
 * does it, and says so on an [e2e] line: BIRD 3.1.8 has segfaulted in this
 * fabric (a null dereference, in the kernel log) on a loaded CI machine. A
 * restart during a scenario still fails that scenario's no-flap check: this
 * only keeps one daemon's crash from failing every later scenario. The same
 * handle is updated, so log marks stay valid (the log file is appended to).
 */
function superviseRrBird(rr: RrHost, h: BirdHandle): void {
  void h.process.exited.then(async ({ code, signal }) => {
    if (tearingDown) return;
    const why = signal ?? `exit code ${String(code)}`;
    birdRestarts.push(`${rr.name}/${h.family} (${why})`);
    log(`${rr.name}/${h.family}: BIRD exited (${why}): started again on its agent's config, as s6 does in the product; its log:\n${h.log().split('\n').slice(-8).join('\n')}`);
    try {
      Object.assign(h, await startRrBird(h.family, dialect, rr.host.netns, rr.dir, READY_MS));
      superviseRrBird(rr, h);
    } catch (e) {
      log(`${rr.name}/${h.family}: restart failed: ${(e as Error).message}`);
    }
  });
}

/** A route reflector host running the image root: the container's agent and BIRDs. */
async function startImageRrHost(name: string, index: number, ip: string, ip6: string | undefined, host: LabHost, dir: string, root: string): Promise<RrHost> {
  const image = await startImageRr({
    root,
    dir,
    netns: host.netns,
    etcdSocket,
    env: { IP: ip, ...(ip6 !== undefined ? { IP6: ip6 } : {}), PROBE_INTERVAL_MS: '2000', LOG_LEVEL: 'info' },
    ipv6: ip6 !== undefined,
    readyTimeoutMs: READY_MS * 2,
  }).catch((e: unknown) => {
    let log = '';
    try {
      log = readFileSync(join(dir, 'pid1.log'), 'utf8').slice(-4000);
    } catch {
      /* none */
    }
    throw new Error(`${name}: the image did not come up: ${(e as Error).message}\ncontainer log:\n${log}`);
  });
  const rr: RrHost = {
    name,
    index,
    ip,
    host,
    dir: image.configDir,
    agent: image.agent,
    kill: () => {
      try {
        process.kill(image.boot.pid1, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
    bird: image.bird,
    image,
  };
  if (image.bird6 !== undefined) rr.bird6 = image.bird6;
  if (ip6 !== undefined) rr.ip6 = ip6;
  rrs.set(index, rr);
  return rr;
}

const nodeConfig4 = (n: number, rrList: string[]) =>
  nodeBirdConfig({ family: 'v4', routerId: nodeIp(n), self: nodeIp(n), rrs: rrList, as: AS, routes: [nodePrefix(n)] });
const nodeConfig6 = (n: number) =>
  nodeBirdConfig({
    family: 'v6',
    routerId: nodeIp(n),
    self: node6Ip(n),
    rrs: rrsOfRack(rackOf(n)).map(rr6Ip),
    as: AS,
    routes: [nodePrefix6(n)],
  });

async function startNode(n: number, host: LabHost): Promise<NodeHost> {
  const dir = tempDir(`rr-e2e-n${n}`);
  dirs.push(dir);
  const rrList = rrsOfRack(rackOf(n)).map(rrIp);
  const [bird, bird6] = await Promise.all([
    startBird({ family: 'v4', netns: host.netns, dir, config: nodeConfig4(n, rrList), readyTimeoutMs: READY_MS }),
    startBird({ family: 'v6', netns: host.netns, dir, config: nodeConfig6(n), readyTimeoutMs: READY_MS }),
  ]);
  const node: NodeHost = { n, name: `n${n}`, host, bird, bird6, rrs: rrList };
  nodes.set(n, node);
  return node;
}

// ---------------------------------------------------------------- expectations

interface Expect {
  who: string;
  socket: string;
  family: Family;
  /** BGP protocols that must be Established. */
  up: string[];
  /** Configured but not required up (a node's session to an RR that dropped it). */
  others?: string[];
}

const rackNodes = (rack: number): number[] => {
  const out = [1, 2, 3, 4, 5, 6, 7, 8, 9].filter((n) => rackOf(n) === rack && (n !== 9 || model.n9Peerings));
  if (rack === rackOf(GOBGP_NODE) && model.gobgp) out.push(GOBGP_NODE);
  if (rack === rackOf(FRR_NODE) && model.frr) out.push(FRR_NODE);
  return out;
};
/** Nodes with an IPv4 / IPv6 prefix in the fabric right now (gobgpd is IPv4 only). */
const allNodeNumbers = (): number[] => [1, 2, 3, 4, 5, 6, 7, 8, 9, ...(model.gobgp ? [GOBGP_NODE] : []), ...(model.frr ? [FRR_NODE] : [])];
const allNodeNumbers6 = (): number[] => allNodeNumbers().filter((n) => n !== GOBGP_NODE);

function rrExpect(family: Family): Expect[] {
  const out: Expect[] = [];
  for (const rr of rrs.values()) {
    if (family === 'v6' && rr.bird6 === undefined) continue;
    const i = rr.index;
    const up: string[] = [];
    if (family === 'v4') {
      if (i === 8) {
        if (model.globalPeer) up.push(...allNodeNumbers().map((n) => `Node_${sym(nodeIp(n))}`));
      } else if (model.meshV4.includes(i)) {
        up.push(...model.meshV4.filter((j) => j !== i).map((j) => `Mesh_${sym(rrIp(j))}`));
        if (i <= 6) up.push(...rackNodes(rackOfRr(i)).map((n) => `Node_${sym(nodeIp(n))}`));
      }
    } else {
      up.push(...[1, 2, 3, 4, 5, 6].filter((j) => j !== i).map((j) => `Mesh_${sym(rr6Ip(j))}`));
      up.push(...rackNodes(rackOfRr(i)).filter((n) => n !== GOBGP_NODE).map((n) => `Node_${sym(node6Ip(n))}`));
    }
    out.push({ who: `${rr.name}/${family}`, socket: family === 'v4' ? rr.bird.socket : rr.bird6!.socket, family, up });
  }
  return out;
}

function nodeExpect(family: Family): Expect[] {
  const out: Expect[] = [];
  for (const node of nodes.values()) {
    const rack = rrsOfRack(rackOf(node.n));
    const rackPeers = family === 'v4' ? rack.map((i) => peerName(rrIp(i))) : rack.map((i) => peerName(rr6Ip(i)));
    const dropped = node.n === 9 && !model.n9Peerings;
    const up = dropped ? [] : [...rackPeers];
    if (family === 'v4' && model.globalPeer) up.push(peerName(GLOBAL_RR));
    const e: Expect = { who: `${node.name}/${family}`, socket: family === 'v4' ? node.bird.socket : node.bird6.socket, family, up };
    if (dropped) e.others = rackPeers;
    out.push(e);
  }
  return out;
}

/** Everything that is not as expected, as readable lines (empty = all good). */
async function sessionProblems(exps: Expect[]): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(
    exps.map(async (e) => {
      const rows = await bgpSessions(e.socket, e.family);
      for (const name of e.up) {
        const row = rows.get(name);
        if (!isEstablished(row)) problems.push(`${e.who} ${name}: ${row ? `${row.state} ${row.info}` : 'missing'}`);
      }
      const allowed = new Set([...e.up, ...(e.others ?? [])]);
      for (const name of rows.keys()) if (!allowed.has(name)) problems.push(`${e.who} unexpected ${name}`);
    }),
  );
  return problems.sort();
}

async function waitSessions(exps: Expect[], what: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const p = await sessionProblems(exps);
      if (p.length > 0) throw new Error(`${p.length} not as expected: ${p.slice(0, 12).join('; ')}`);
      return true;
    },
    { what, timeoutMs, intervalMs: 250 },
  );
}

/**
 * What node `n` must hold for node `m`'s prefix, RFC 4456 style: one path per
 * route reflector it peers with (address -> the CLUSTER_LIST as a set: the
 * cluster ids of the origin's and the observer's racks; BIRD 1.6 appends, the
 * order is not asserted), and via the standalone global RR, its router id.
 * Each with the origin's router id as ORIGINATOR_ID and the origin as next hop.
 */
function wantPaths(n: number, m: number, family: Family): Map<string, string[]> {
  const want = new Map<string, string[]>();
  const inFabric = (k: number) => k !== 9 || model.n9Peerings;
  if (inFabric(n) && inFabric(m)) {
    const clusters = [...new Set([clusterOfRack(rackOf(m)), clusterOfRack(rackOf(n))])].sort();
    for (const i of rrsOfRack(rackOf(n))) want.set(family === 'v4' ? rrIp(i) : rr6Ip(i), clusters);
  }
  if (family === 'v4' && model.globalPeer) want.set(GLOBAL_RR, [GLOBAL_RR]);
  return want;
}

const originsFor = (n: number, family: Family): number[] => (family === 'v4' ? allNodeNumbers() : allNodeNumbers6()).filter((m) => m !== n);

/** One path as seen by an observer, in the form both checks below compare. */
interface SeenPath {
  from: string;
  originator?: string | undefined;
  nextHop?: string | undefined;
  clusters: string[];
}

/** Problems of one observer's paths for origin m against wantPaths (empty = as expected). */
function pathProblems(who: string, n: number, m: number, family: Family, got: SeenPath[], opts: { attrs: boolean }): string[] {
  const prefix = family === 'v4' ? nodePrefix(m) : nodePrefix6(m);
  const originIp = family === 'v4' ? nodeIp(m) : node6Ip(m);
  const want = wantPaths(n, m, family);
  const from = [...new Set(got.map((e) => e.from))].sort();
  const wantFrom = [...want.keys()].sort();
  if (JSON.stringify(from) !== JSON.stringify(wantFrom)) return [`${who} ${prefix}: from [${from.join(',')}], want [${wantFrom.join(',')}]`];
  if (!opts.attrs) return [];
  const problems: string[] = [];
  for (const e of got) {
    const cl = e.clusters.join(',');
    const wantCl = (want.get(e.from) ?? []).join(',');
    if (e.originator !== nodeIp(m) || e.nextHop !== originIp || cl !== wantCl) {
      problems.push(
        `${who} ${prefix} via ${e.from}: originator ${e.originator ?? '-'} (want ${nodeIp(m)}), ` +
          `next hop ${e.nextHop ?? '-'} (want ${originIp}), cluster list {${cl}} (want {${wantCl}})`,
      );
    }
  }
  return problems;
}

/** A node's BGP protocol name (peerName) -> the route reflector address it peers with. */
const RR_OF_PROTOCOL = new Map([...[1, 2, 3, 4, 5, 6, 7].map(rrIp), ...[1, 2, 3, 4, 5, 6].map(rr6Ip), GLOBAL_RR].map((a) => [peerName(a), a]));

/** Route checks on one BIRD node (its BGP protocols are named after the RR address: peerName). */
async function routeProblems(node: NodeHost, family: Family, opts: { attrs: boolean }): Promise<string[]> {
  const entries = await routesAll(family === 'v4' ? node.bird.socket : node.bird6.socket, family);
  return originsFor(node.n, family).flatMap((m) => {
    const prefix = family === 'v4' ? nodePrefix(m) : nodePrefix6(m);
    const got = entries
      .filter((e) => e.prefix === prefix && e.attrs.get('Type')?.startsWith('BGP'))
      .map((e) => ({
        from: RR_OF_PROTOCOL.get(e.protocol) ?? e.protocol,
        originator: e.attrs.get('BGP.originator_id'),
        nextHop: e.attrs.get('BGP.next_hop')?.split(/\s+/)[0],
        clusters: clusterSet(e),
      }));
    return pathProblems(`${node.name}/${family}`, node.n, m, family, got, opts);
  });
}

/** The same checks on the FRR node, from FRR's own `show bgp ... json detail`. */
async function frrRouteProblems(f: FrrHandle, family: Family, opts: { attrs: boolean }): Promise<string[]> {
  const rib = await f.rib(family);
  return originsFor(FRR_NODE, family).flatMap((m) => {
    const got = (rib.get(family === 'v4' ? nodePrefix(m) : nodePrefix6(m)) ?? []).map((p) => ({
      from: p.peer,
      originator: p.originatorId,
      nextHop: p.nextHop,
      clusters: [...new Set(p.clusterList)].sort(),
    }));
    return pathProblems(`frr/${family}`, FRR_NODE, m, family, got, opts);
  });
}

async function waitRoutes(family: Family, what: string, opts: { attrs: boolean }, timeoutMs = 30_000): Promise<void> {
  // When a node's CLI fails on the last try, the routes it last read complete are what the timeout should show too.
  let lastProblems = 'none read yet';
  await waitFor(
    async () => {
      const reads = Promise.all([...[...nodes.values()].map((n) => routeProblems(n, family, opts)), ...(frr && model.frr ? [frrRouteProblems(frr, family, opts)] : [])]);
      const all = (
        await reads.catch((e: unknown) => {
          throw new Error(`${e instanceof Error ? e.message : String(e)} (route problems at the last complete read: ${lastProblems})`);
        })
      ).flat();
      lastProblems = all.length > 0 ? `${all.length}: ${all.slice(0, 8).join('; ')}` : 'none';
      if (all.length > 0) throw new Error(`route problems ${lastProblems}`);
      return true;
    },
    { what, timeoutMs, intervalMs: 500 },
  );
}

/** FRR's sessions that were ever reset (FRR counts drops per neighbor since bgpd started): none may be. */
async function frrResets(): Promise<string[]> {
  if (!frr) return [];
  return [...(await frr.peers())].filter(([, p]) => p.dropped > 0 || p.established > 1).map(([a, p]) => `frr ${a}: ${p.established} established, ${p.dropped} dropped`);
}

/**
 * The `protocol bgp NAME` blocks of a rendered config whose NAME starts with
 * `prefix`, each up to its closing brace (a top-level line): the same for every
 * dialect's template, whatever a block holds (BIRD 2/3 nest channel blocks).
 */
function protocolBlocks(cfg: string, prefix: string): string[] {
  return cfg.split(/\n(?=\S)/).filter((b) => b.startsWith(`protocol bgp ${prefix}`));
}

// ---------------------------------------------------------------- flap proof

interface LogMarks {
  marks: Map<BirdHandle, number>;
}

function allBirds(): Array<{ who: string; h: BirdHandle }> {
  const out: Array<{ who: string; h: BirdHandle }> = [];
  for (const rr of rrs.values()) {
    out.push({ who: `${rr.name}/v4`, h: rr.bird });
    if (rr.bird6) out.push({ who: `${rr.name}/v6`, h: rr.bird6 });
  }
  for (const n of nodes.values()) {
    out.push({ who: `${n.name}/v4`, h: n.bird });
    out.push({ who: `${n.name}/v6`, h: n.bird6 });
  }
  return out;
}

function markLogs(): LogMarks {
  return { marks: new Map(allBirds().map(({ h }) => [h, logSize(h)])) };
}

function logSize(h: BirdHandle): number {
  h.refresh?.();
  try {
    return statSync(h.logPath).size;
  } catch {
    return 0;
  }
}

/** What an RR's v4 BIRD logged about its mesh sessions since the marks, without per-message traces (debug all). */
function meshLines(rr: RrHost, m: LogMarks): string[] {
  return logSince(rr.bird, m)
    .split('\n')
    .filter((l) => /Mesh_\w+: /.test(l) && !/(KEEPALIVE|UPDATE|END-OF-RIB|Scheduling packet|rte_src)/.test(l));
}

/** The log from byte offset `mark` on (reads only the tail: RR logs with `debug all` grow). */
function logSince(h: BirdHandle, m: LogMarks): string {
  const from = m.marks.get(h) ?? 0;
  const size = logSize(h);
  if (size <= from) return '';
  const fd = openSync(h.logPath, 'r');
  try {
    const buf = Buffer.alloc(size - from);
    const n = readSync(fd, buf, 0, buf.length, from);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * State changes logged by any BIRD since the marks, except those `allowed`
 * (who, protocol). `resetsOnly`: only `stop`/`down` (a session reset).
 */
function changesSince(m: LogMarks, allowed: (who: string, protocol: string) => boolean, resetsOnly: boolean): string[] {
  const out: string[] = [];
  for (const { who, h } of allBirds()) {
    const changes: StateChange[] = stateChanges(logSince(h, m));
    for (const c of changes) {
      if (resetsOnly && c.state !== 'stop' && c.state !== 'down') continue;
      if (!allowed(who, c.protocol)) out.push(`${who} ${c.protocol} ${c.state} at ${c.time}`);
    }
  }
  return out;
}

function resetsOf(m: LogMarks, who: string, protocol: string): StateChange[] {
  const b = allBirds().find((x) => x.who === who);
  if (!b) throw new Error(`no BIRD ${who}`);
  return stateChanges(logSince(b.h, m), protocol).filter((c) => c.state === 'stop' || c.state === 'down');
}

function printUsage(when: string): void {
  const agents = [...rrs.values()].map((r) => ({ name: r.name, u: procUsage(r.agent.pid) }));
  const rss = agents.map((a) => a.u?.rssMb ?? 0);
  const cpu = agents.map((a) => a.u?.cpuS ?? 0);
  const birdsRss = allBirds().reduce((s, { h }) => s + (procUsage(h.pid)?.rssMb ?? 0), 0);
  const counts = [...rrs.values()].map((r) => {
    const n = (msg: string) => r.agent.find((l) => l.msg === msg).length;
    return `${r.name} ${n('reload ok')}/${n('daemon up')}`;
  });
  // More `daemon up` than BIRD starts (2 per RR, 1 without IP6): see test/e2e/probe-instance.test.ts.
  log(`${when}: reload ok / daemon up per agent: ${counts.join(', ')}`);
  log(
    `${when}: ${agents.length} agents RSS ${Math.min(...rss)}-${Math.max(...rss)} MB (total ${rss.reduce((a, b) => a + b, 0)} MB), ` +
      `CPU so far ${cpu.reduce((a, b) => a + b, 0).toFixed(1)} s total (max ${Math.max(...cpu).toFixed(1)} s); ` +
      `${allBirds().length} BIRDs RSS total ${birdsRss} MB`,
  );
}

// ---------------------------------------------------------------- lifecycle

/** Registers the whole fabric (hooks and scenarios) with the route reflectors on `d`. Call once per test file. */
export function fabricSuite(d: Dialect, o: { image?: boolean } = {}): void {
  dialect = d;
  const rrLabel = o.image === true ? `the image (${dialectName(d)})` : dialectName(d);

  beforeAll(async () => {
    requireDialect(dialect);
    const reaped = reapStaleLabs(TAG);
    if (reaped.length > 0) log(`removed ${reaped.length} namespaces of dead earlier runs`);
    process.once('exit', exitHook);
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoint });
    if (o.image === true) {
      // The Dockerfile's runtime stage as a root (from the machine's trixie cache: seconds).
      const work = tempDir('rr-e2e-image');
      dirs.push(work);
      const t = Date.now();
      await execa('sh', [join(REPO, 'scripts/image-root.sh'), join(work, 'root')], { stdin: 'ignore', env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` }, timeout: 600_000 });
      imageRoot = join(work, 'root');
      etcdSocket = join(work, 'etcd.sock');
      bridge = await etcdBridge(etcd.endpoint, etcdSocket);
      log(`image root built in ${secs(Date.now() - t)}`);
    }
    await Promise.all(labSeed().map((kv) => client.put(kv.key).value(kv.value)));
    lab = await createLab(RUN);

    // Hosts first (ip commands, sequential), then every daemon in parallel.
    const nodeHosts = new Map<number, LabHost>();
    for (let n = 1; n <= 9; n++) nodeHosts.set(n, await lab.addHost(`n${n}`, `${nodeIp(n)}/24`, `${node6Ip(n)}/64`));
    const tHosts = Date.now();
    // Nodes first (BIRD starts in milliseconds), then the RR hosts (agents take seconds of CPU to boot).
    await Promise.all([...nodeHosts].map(([n, h]) => startNode(n, h)));
    await Promise.all([
      ...[1, 2, 3, 4, 5, 6].map((i) => startRr(i, rrIp(i), rr6Ip(i))),
      // RR7 runs but is not registered yet (scenario 3); the global RR is standalone (scenario 2).
      startRr(RR7, rrIp(RR7)),
      startRr(8, GLOBAL_RR),
    ]);
    const firstInstall = [...rrs.values()].map((rr) => {
      const l = rr.agent.find((x) => x.msg === 'install ok' && x.family === 'v6')[0];
      return `${rr.name} ${l?.time ? Date.parse(l.time) - tHosts : '?'} ms`;
    });
    log(`${dialectName(dialect)} route reflectors; lab up: 8 RR hosts (${imageRoot !== undefined ? 'containers of the image root' : 'agent + bird/bird6'}), 9 nodes (bird + bird6) in ${secs(Date.now() - tHosts)}; agents' first configs installed at ${firstInstall.join(', ')}`);
  }, 300_000);

  afterAll(async () => {
    const errors: unknown[] = [];
    const step = async (f: () => Promise<unknown> | undefined) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    tearingDown = true;
    if (birdRestarts.length > 0) log(`RR BIRDs that died and were started again: ${birdRestarts.join(', ')}`);
    await step(() => stopAllAgents());
    await step(() => Promise.all([...rrs.values()].map((rr) => rr.image?.stop())));
    killAllImages();
    await step(() => bridge?.close());
    await step(() => gobgp?.stop());
    await step(() => frr?.stop());
    await step(() => killAllTracked());
    await step(() => lab?.destroy());
    await step(async () => client?.close());
    await step(() => etcd?.stop());
    for (const d of dirs) await step(() => removeDir(d));
    process.removeListener('exit', exitHook);
    log(`${rrLabel}: total ${secs(Date.now() - t0)}`);
    if (errors.length > 0) throw errors[0];
  }, 60_000);

  // ---------------------------------------------------------------- scenarios

  describe(`the seed topology end to end (6 RRs in 3 clusters, 9 nodes), route reflectors ${o.image === true ? `from the image root (${dialectName(dialect)})` : `on ${dialectName(dialect)}`}`, () => {
    it('1. every session is Established and every node learns the 8 other nodes\' routes with RFC 4456 attributes', async () => {
      const start = Date.now();
      await waitSessions([...rrExpect('v4'), ...nodeExpect('v4')], 'every IPv4 session Established', 60_000);
      log(`scenario 1: all IPv4 sessions Established ${secs(Date.now() - t0)} after the test began (${secs(Date.now() - start)} waited here)`);
      const r0 = Date.now();
      await waitRoutes('v4', 'every node has the 8 other prefixes, via both its RRs, with originator id and cluster list', { attrs: true });
      log(`scenario 1: routes complete ${secs(Date.now() - r0)} later`);

      // One cross-cluster route spelled out: N1's prefix as N4 sees it.
      const n4 = nodes.get(4)!;
      const routes = (await routesAll(n4.bird.socket, 'v4', nodePrefix(1))).filter((e) => e.prefix === nodePrefix(1));
      expect(routes.map((e) => e.protocol).sort()).toEqual([peerName(rrIp(3)), peerName(rrIp(4))]);
      for (const e of routes) {
        expect(e.attrs.get('BGP.originator_id')).toBe(nodeIp(1));
        expect(clusterSet(e)).toEqual(['1.0.0.1', '1.0.0.2']);
      }
      // The RRs' configs carry the rack cluster id on client sessions only.
      const cfg3 = readFileSync(join(rrs.get(3)!.dir, 'bird.cfg'), 'utf8');
      expect(protocolBlocks(cfg3, 'Node_10_77_0_14')[0]).toContain('rr cluster id 1.0.0.2;');
      const meshBlocks = protocolBlocks(cfg3, 'Mesh_');
      expect(meshBlocks).toHaveLength(5);
      for (const b of meshBlocks) expect(b).not.toContain('rr cluster id');
      printUsage('after scenario 1');
    }, 120_000);

    it('4. IPv6 dual-stack (bird6, rr_v6/peer_v6/ip_addr_v6): every node learns every other node\'s IPv6 route', async () => {
      const start = Date.now();
      await waitSessions([...rrExpect('v6'), ...nodeExpect('v6')], 'every IPv6 session Established', 60_000);
      await waitRoutes('v6', 'every node has the 8 other IPv6 prefixes', { attrs: true });
      log(`scenario 4: IPv6 sessions and routes complete in ${secs(Date.now() - start)}`);
      expect(readFileSync(join(rrs.get(1)!.dir, 'bird6.cfg'), 'utf8')).toContain('neighbor fd77::11 as 64512;');
    }, 120_000);

    it('2. a standalone RR registered as /global/peer_v4 peers with every node and reflects routes between them', async () => {
      const marks = markLogs();
      const start = Date.now();
      await put(`/global/peer_v4/${GLOBAL_RR}`, { ip: GLOBAL_RR, as_num: String(AS) });
      model.globalPeer = true;
      // Each node adds the global peer, as calico-node does (a new protocol: no other session restarts).
      await Promise.all(
        [...nodes.values()].map(async (node) => {
          node.rrs = [...node.rrs, GLOBAL_RR];
          node.bird.writeConfig(nodeConfig4(node.n, node.rrs));
          const reply = await birdc(node.bird.socket, 'configure', 'v4', true);
          expect(reply, node.name).toMatch(/^0003 Reconfigured/m);
        }),
      );
      await waitSessions([...rrExpect('v4'), ...nodeExpect('v4')], 'global RR sessions Established', 30_000);
      log(`scenario 2: global RR peered with 9 nodes in ${secs(Date.now() - start)}`);
      await waitRoutes('v4', 'every prefix also via the global RR (cluster list = its router id)', { attrs: true });
      log(`scenario 2: reflected routes complete ${secs(Date.now() - start)} after the put`);

      const text = readFileSync(join(rrs.get(8)!.dir, 'bird.cfg'), 'utf8');
      expect(text).not.toContain('Mesh_'); // standalone: no mesh
      expect(text).not.toContain('rr cluster id'); // and no cluster id
      expect(protocolBlocks(text, 'Node_').filter((b) => b.includes('rr client;'))).toHaveLength(9);
      // The global RR holds every node's prefix.
      const held = await routesAll(rrs.get(8)!.bird.socket, 'v4');
      expect(new Set(held.map((e) => e.prefix))).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8, 9].map(nodePrefix)));
      expect(changesSince(marks, (who, p) => p === peerName(GLOBAL_RR) || (who === 'grr/v4' && p.startsWith('Node_')), true)).toEqual([]);
    }, 120_000);

    it('5. a gobgpd node (second BGP implementation): its route reaches every other node, and it learns theirs', async () => {
      const marks = markLogs();
      const n = GOBGP_NODE;
      const host = await lab.addHost(`n${n}`, `${nodeIp(n)}/24`);
      const start = Date.now();
      const [a, b] = rrsOfRack(rackOf(n));
      await put(`/host/n${n}/ip_addr_v4`, nodeIp(n));
      await put(`/host/n${n}/as_num`, String(AS));
      await put(`/host/n${n}/peer_v4/${rrIp(a)}`, { ip: rrIp(a), as_num: String(AS) });
      await put(`/host/n${n}/peer_v4/${rrIp(b)}`, { ip: rrIp(b), as_num: String(AS) });
      model.gobgp = true;
      const dir = tempDir('rr-e2e-gobgp');
      dirs.push(dir);
      gobgp = await startGobgp({ netns: host.netns, routerId: nodeIp(n), self: nodeIp(n), as: AS, neighbors: [rrIp(a), rrIp(b), GLOBAL_RR], dir });
      await gobgp.cli('global', 'rib', 'add', '-a', 'ipv4', nodePrefix(n), 'nexthop', nodeIp(n), 'origin', 'igp');

      await waitSessions(rrExpect('v4'), 'RR3, RR4 and the global RR peer with the gobgpd node', 30_000);
      await waitFor(
        async () => {
          const nb = await gobgp!.neighbors();
          return [rrIp(a), rrIp(b), GLOBAL_RR].every((ip) => nb.get(ip) === 'Establ');
        },
        { what: 'gobgpd neighbors Established', timeoutMs: 30_000, intervalMs: 250 },
      );
      await waitRoutes('v4', "the gobgpd node's prefix on every BIRD node (and every other prefix)", { attrs: true });
      const learned = await waitFor(
        async () => {
          const p = new Set(await gobgp!.ribPrefixes());
          return [1, 2, 3, 4, 5, 6, 7, 8, 9].every((m) => p.has(nodePrefix(m))) ? p : undefined;
        },
        { what: 'gobgpd learns the 9 BIRD nodes\' prefixes', timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(learned.has(nodePrefix(n))).toBe(true);
      log(`scenario 5: gobgpd node peered and its route everywhere in ${secs(Date.now() - start)}`);
      expect(changesSince(marks, (who, p) => p === `Node_${sym(nodeIp(n))}`, true)).toEqual([]);
    }, 120_000);

    it("6. an FRR node (bgpd, IPv4 and IPv6): it learns every other node's prefix with next hop, originator id and cluster list, and they learn its", async () => {
      const marks = markLogs();
      const n = FRR_NODE;
      const host = await lab.addHost(`n${n}`, `${nodeIp(n)}/24`, `${node6Ip(n)}/64`);
      const start = Date.now();
      const rack = rrsOfRack(rackOf(n));
      await put(`/host/n${n}/ip_addr_v4`, nodeIp(n));
      await put(`/host/n${n}/ip_addr_v6`, node6Ip(n));
      await put(`/host/n${n}/as_num`, String(AS));
      for (const i of rack) {
        await put(`/host/n${n}/peer_v4/${rrIp(i)}`, { ip: rrIp(i), as_num: String(AS) });
        await put(`/host/n${n}/peer_v6/${rr6Ip(i)}`, { ip: rr6Ip(i), as_num: String(AS) });
      }
      model.frr = true;
      const dir = tempDir('rr-e2e-frr');
      dirs.push(dir);
      const neighbors = [...rack.map(rrIp), GLOBAL_RR];
      const neighbors6 = rack.map(rr6Ip);
      frr = await startFrr({
        netns: host.netns,
        routerId: nodeIp(n),
        as: AS,
        self: nodeIp(n),
        neighbors,
        self6: node6Ip(n),
        neighbors6,
        routes: [nodePrefix(n)],
        routes6: [nodePrefix6(n)],
        dir,
      });
      const f = frr;
      await waitSessions([...rrExpect('v4'), ...rrExpect('v6')], 'RR1, RR2 (IPv4 and IPv6) and the global RR peer with the FRR node', 30_000);
      await waitFor(
        async () => {
          const peers = await f.peers();
          return [...neighbors, ...neighbors6].every((a) => peers.get(a)?.state === 'Established');
        },
        { what: "FRR's 5 sessions Established (as FRR reports them)", timeoutMs: 30_000, intervalMs: 250 },
      );
      log(`scenario 6: FRR's 3 IPv4 + 2 IPv6 sessions Established ${secs(Date.now() - start)} after the puts`);
      await waitRoutes('v4', "every IPv4 prefix on FRR (via RR1, RR2, the global RR) and FRR's on every BIRD node", { attrs: true });
      await waitRoutes('v6', "every IPv6 prefix on FRR (via RR1, RR2) and FRR's on every BIRD node", { attrs: true });
      log(`scenario 6: FRR learned the 10 other IPv4 and 9 other IPv6 prefixes, and every node FRR's, ${secs(Date.now() - start)} after the puts`);

      // One path spelled out as FRR itself reports it: N4's prefix (rack 2) via RR1 (rack 1).
      const viaRr1 = (await f.rib('v4')).get(nodePrefix(4))?.find((p) => p.peer === rrIp(1));
      expect(viaRr1).toMatchObject({ nextHop: nodeIp(4), originatorId: nodeIp(4), valid: true });
      expect([...new Set(viaRr1?.clusterList)].sort()).toEqual(['1.0.0.1', '1.0.0.2']);
      const v6ViaRr2 = (await f.rib('v6')).get(nodePrefix6(7))?.find((p) => p.peer === rr6Ip(2));
      expect(v6ViaRr2).toMatchObject({ nextHop: node6Ip(7), originatorId: nodeIp(7), valid: true });
      // The other two implementations learn FRR's prefix: gobgpd too.
      await waitFor(async () => (await gobgp!.ribPrefixes()).includes(nodePrefix(n)), { what: "gobgpd learns FRR's prefix", timeoutMs: 30_000, intervalMs: 500 });
      expect(changesSince(marks, (_who, p) => p === `Node_${sym(nodeIp(n))}` || p === `Node_${sym(node6Ip(n))}`, true), 'sessions reset').toEqual([]);
      expect(await frrResets(), 'FRR sessions reset').toEqual([]);
    }, 120_000);

    describe('3. change without flaps', () => {
      it('RR7 joins: every RR meshes with it within 5 s, no other session changes state', async () => {
        await sleep(1500); // let the previous scenario's reloads settle before marking the logs
        const marks = markLogs();
        const mesh7 = `Mesh_${sym(rrIp(RR7))}`;
        const members = [1, 2, 3, 4, 5, 6];
        const joined = async () => {
          const rows = await Promise.all(members.map((i) => bgpSessions(rrs.get(i)!.bird.socket, 'v4')));
          const r7 = await bgpSessions(rrs.get(RR7)!.bird.socket, 'v4');
          return rows.every((r) => isEstablished(r.get(mesh7))) && members.every((i) => isEstablished(r7.get(`Mesh_${sym(rrIp(i))}`)));
        };
        const start = Date.now();
        await put(`/rr_v4/${rrIp(RR7)}`, { ip: rrIp(RR7), cluster_id: RR7_CLUSTER });
        model.meshV4 = [...members, RR7];
        const agentMarks = new Map([...rrs.values()].map((rr) => [rr, rr.agent.lines.length]));
        // The timeline behind the figure: when each agent reloaded BIRD (agent log) and when BIRD logged the new session up.
        const timeline = (detail: boolean): string =>
          [...members, RR7]
            .map((i) => {
              const rr = rrs.get(i)!;
              const at = (l: { time?: string }) => (l.time ? `+${Date.parse(l.time) - start} ms` : '?');
              const reloads = rr.agent.find((l) => l.msg === 'reload ok' && l.family === 'v4', agentMarks.get(rr)).map(at);
              const ups = stateChanges(logSince(rr.bird, marks))
                .filter((c) => c.state === 'up')
                .map((c) => `${c.protocol} ${c.time.slice(11)}`);
              let text = `${rr.name}: reload ok ${reloads.join(', ') || 'none'}; up: ${ups.join(', ') || 'none'}`;
              if (detail) {
                const agentLines = rr.agent
                  .find(() => true, agentMarks.get(rr))
                  .map((l) => `${at(l)} ${String(l.msg)} ${String(l.durationMs ?? '')} ${String(l.reason ?? l.message ?? '')}`);
                const birdLines = logSince(rr.bird, marks)
                  .split('\n')
                  .filter((l) => /Mesh_\w+: /.test(l) && !/(KEEPALIVE|UPDATE)/.test(l));
                text += `\n      ${[...agentLines, ...birdLines.slice(0, 20)].join('\n      ')}`;
              }
              return `    ${text}`;
            })
            .join('\n');
        try {
          await waitFor(joined, { what: 'RR1..RR6 Established with RR7 and RR7 with them', timeoutMs: Math.max(0, 5000 - (Date.now() - start)), intervalMs: 100 });
          log(`scenario 3: RR7 meshed with all 6 RRs ${secs(Date.now() - start)} after the put (limit 5 s)\n${timeline(process.env['E2E_DETAIL'] === '1')}`);
        } catch (e) {
          log(`scenario 3: RR7 join not complete after ${secs(Date.now() - start)}\n${timeline(true)}`);
          throw e;
        }

        await waitSessions([...rrExpect('v4'), ...nodeExpect('v4'), ...rrExpect('v6'), ...nodeExpect('v6')], 'whole fabric as expected', 10_000);
        await sleep(1000);
        const newSessions = (who: string, p: string) =>
          (p === mesh7 && /^rr[1-6]\/v4$/.test(who)) || (who === 'rr7/v4' && p.startsWith('Mesh_'));
        expect(changesSince(marks, newSessions, true), 'sessions reset').toEqual([]);
        // Stricter, as the issue words it: no state change of any kind on any other session.
        expect(changesSince(marks, newSessions, false), 'state changes').toEqual([]);
        expect(await frrResets(), 'FRR sessions reset').toEqual([]);
      }, 60_000);

      it("N9's peerings removed: only N9's sessions go", async () => {
        const marks = markLogs();
        const start = Date.now();
        const [a, b] = rrsOfRack(rackOf(9));
        for (const i of [a, b]) {
          await del(`/host/n9/peer_v4/${rrIp(i)}`);
          await del(`/host/n9/peer_v6/${rr6Ip(i)}`);
        }
        model.n9Peerings = false;
        await waitSessions([...rrExpect('v4'), ...nodeExpect('v4'), ...rrExpect('v6'), ...nodeExpect('v6')], "N9's RR sessions removed", 15_000);
        log(`scenario 3: N9's 4 sessions (v4+v6 on RR5, RR6) removed ${secs(Date.now() - start)} after the deletes`);
        // N9's own BIRD: its sessions to RR5/RR6 are no longer Established.
        const n9 = nodes.get(9)!;
        const rows4 = await bgpSessions(n9.bird.socket, 'v4');
        const rows6 = await bgpSessions(n9.bird6.socket, 'v6');
        for (const i of [a, b]) {
          expect(isEstablished(rows4.get(peerName(rrIp(i))))).toBe(false);
          expect(isEstablished(rows6.get(peerName(rr6Ip(i))))).toBe(false);
          expect(resetsOf(marks, 'n9/v4', peerName(rrIp(i))).length).toBeGreaterThan(0);
        }
        expect(isEstablished(rows4.get(peerName(GLOBAL_RR)))).toBe(true); // the global peering is not N9's to remove
        // Routes follow: N9's prefix now only via the global RR, everywhere.
        await waitRoutes('v4', "N9's prefix only via the global RR", { attrs: true });
        await sleep(1000);
        const n9Sessions = (who: string, p: string) =>
          (who.startsWith('n9/') && [a, b].some((i) => p === peerName(rrIp(i)) || p === peerName(rr6Ip(i)))) ||
          (/^rr[56]\//.test(who) && (p === `Node_${sym(nodeIp(9))}` || p === `Node_${sym(node6Ip(9))}`));
        expect(changesSince(marks, n9Sessions, true), 'sessions reset').toEqual([]);
        expect(await frrResets(), 'FRR sessions reset').toEqual([]);
      }, 60_000);

      it('/global/as_num changes: the mesh sessions reset and come back Established, client sessions stay', async () => {
        await sleep(1000);
        const marks = markLogs();
        const start = Date.now();
        await put('/global/as_num', String(NEW_AS));
        const meshReset = () =>
          [...rrs.values()]
            .filter((rr) => model.meshV4.includes(rr.index))
            .every((rr) => {
              const reset = new Set(stateChanges(logSince(rr.bird, marks)).filter((c) => c.state === 'down').map((c) => c.protocol));
              return model.meshV4.filter((j) => j !== rr.index).every((j) => reset.has(`Mesh_${sym(rrIp(j))}`));
            });
        await waitFor(meshReset, { what: 'every v4 mesh session reset', timeoutMs: 15_000 });
        const allDown = Date.now() - start;
        // What held a session back: BGP errors and delays BIRD logged on the RRs.
        const errorLines = () =>
          [...rrs.values()].flatMap((rr) =>
            [rr.bird, rr.bird6].flatMap((h) =>
              h
                ? logSince(h, marks)
                    .split('\n')
                    .filter((l) => /Mesh_\w+: (Error: |Startup delayed)/.test(l))
                    .map((l) => `${rr.name}/${h.family} ${l.slice(11)}`)
                : [],
            ),
          );
        try {
          // Generous: see the note below on BIRD's error wait time.
          await waitSessions([...rrExpect('v4'), ...rrExpect('v6'), ...nodeExpect('v4'), ...nodeExpect('v6')], 'mesh Established again', 100_000);
        } catch (e) {
          log(`AS change: BGP errors on the mesh:\n    ${errorLines().join('\n    ')}`);
          throw e;
        }
        // When one RR applies the new AS more than the mesh connect delay (2 s) after its peer, the
        // connecting end meets the old AS ("Bad peer AS"), and BIRD holds that session down for its
        // error wait time (default 60 s) before it tries again: printed, not asserted (a finding).
        const delayed = errorLines().filter((l) => l.includes('Startup delayed'));
        log(
          `scenario 3: AS change: ${delayed.length} mesh session ends hit a BGP error and waited out BIRD's error delay` +
            (delayed.length > 0 ? `:\n    ${delayed.join('\n    ')}` : ''),
        );
        log(
          `scenario 3: AS ${AS} -> ${NEW_AS}: 21 v4 + 15 v6 mesh sessions reset (every v4 one down ${secs(allDown)} after the put) ` +
            `and Established again ${secs(Date.now() - start)} after the put`,
        );
        if (process.env['E2E_DETAIL'] === '1') log(`AS change: mesh lines BIRD logged on RR1:\n    ${meshLines(rrs.get(1)!, marks).join('\n    ')}`);
        expect(readFileSync(join(rrs.get(1)!.dir, 'bird.cfg'), 'utf8')).toContain(`neighbor 10.77.0.2 as ${NEW_AS};`);
        // v6 mesh reset too (the AS is global to both families).
        expect(resetsOf(marks, 'rr1/v6', `Mesh_${sym(rr6Ip(2))}`).length).toBeGreaterThan(0);
        // Only mesh sessions reset: no node's session, no client session on any RR.
        expect(changesSince(marks, (who, p) => who.startsWith('rr') && p.startsWith('Mesh_'), true), 'non-mesh resets').toEqual([]);
        expect(await frrResets(), 'FRR sessions reset').toEqual([]);
        // And routes still reach everyone.
        await waitRoutes('v4', 'every node has every prefix after the AS change', { attrs: false });
        printUsage('at the end');
      }, 180_000);
    });
  });
}
