/**
 * Issue 15, end to end: the route reflectors' own upstream peer. The seed
 * topology (IPv4: RR1..RR6 in three clusters, nodes N1..N9, BIRD 1.6 nodes,
 * test/support/fabric.ts's addresses) in network namespaces, once per BIRD
 * dialect of the route reflectors; plus one upstream router (BIRD 1.6 in AS
 * 65000, at 10.77.0.200, originating 10.77.250.0/24) that RR1 and RR3 (two
 * racks) peer with through their own peer keys (`NODENAME` rr-1, rr-3:
 * `/host/rr-<i>/peer_v4/10.77.0.200`).
 *
 * - The upstream learns every node's prefix, each with the node's own
 *   address as next hop (the RR is not in the forwarding path: `next hop
 *   keep` on an eBGP session whose default is next hop self), and with our
 *   AS as the only AS in its path.
 * - Every node learns the upstream's prefix, next hop the upstream.
 * - Adding and removing the upstream resets no other session, on either end
 *   (the nodes and the RRs log their state changes: loglevel debug).
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { MAIN, runAgent, stopAllAgents, type AgentProcess } from '../support/agent.js';
import { stateChanges, startBird, type BirdHandle } from '../support/bird.js';
import { DIALECTS, dialectName, requireDialect, type Dialect } from '../support/dialect.js';
import { startEtcd, type EtcdProcess } from '../support/etcd.js';
import { AS, labSeed, nodeIp, nodePrefix, rackOf, reapStaleLabs, rrAgentEnv, rrIp, rrsOfRack, startRrBird, sym, waitFirstInstalls } from '../support/fabric.js';
import { createLab, type Lab } from '../support/netns.js';
import { nodeBirdConfig, peerName } from '../support/node-bird.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { bgpSessions, isEstablished, routesAll } from '../support/routes.js';

const TAG = 'eup';
const UP = '10.77.0.200';
const UP_AS = 65000;
const UP_PREFIX = '10.77.250.0/24';
/** The RRs that peer with the upstream: one in rack 1, one in rack 2. */
const UPLINKED = [1, 3];
const NODES = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const READY_MS = 90_000;
const nodeName = (i: number): string => `rr-${i}`;
const ownPeerKey = (i: number): string => `/host/${nodeName(i)}/peer_v4/${UP}`;
const isReset = (state: string): boolean => state === 'stop' || state === 'down';

function upstreamConfig(): string {
  const peers = UPLINKED.map(
    (i) => `protocol bgp ${peerName(rrIp(i))} {
  debug { states };
  local as ${UP_AS};
  neighbor ${rrIp(i)} as ${AS};
  source address ${UP};
  connect delay time 1;
  import all;
  export where proto = "originate";
}`,
  ).join('\n\n');
  return `router id ${UP};
log stderr all;
protocol device { scan time 10; }
protocol static originate {
  route ${UP_PREFIX} unreachable;
}

${peers}
`;
}

/** UPSTREAM_DIALECTS=bird1,bird3 runs only those (default: every dialect). */
const only = (process.env['UPSTREAM_DIALECTS'] ?? '').split(',').filter((d) => d !== '');

describe.each(DIALECTS.map((d, k) => [d, k] as const).filter(([d]) => only.length === 0 || only.includes(d)))('%s: an upstream router peers with two route reflectors of the seed topology', (dialect: Dialect, k: number) => {
  const run = `${TAG}${process.pid % 100000}${k}`;
  let etcd: EtcdProcess;
  let client: Etcd3;
  let lab: Lab;
  const rrs = new Map<number, { agent: AgentProcess; bird: BirdHandle; dir: string }>();
  const nodes = new Map<number, BirdHandle>();
  let upstream: BirdHandle;
  const dirs: string[] = [];
  const put = (suffix: string, value: unknown) => client.put(`${PREFIX}${suffix}`).value(typeof value === 'string' ? value : JSON.stringify(value));
  const log = (msg: string) => console.log(`[e2e upstream ${dialect}] ${msg}`);

  beforeAll(async () => {
    requireDialect(dialect);
    reapStaleLabs(TAG);
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoint });
    // The seed's IPv4 keyspace (and loglevel debug: the RRs log their state changes).
    for (const kv of labSeed()) if (!/_v6(\/|$)/.test(kv.key)) await client.put(kv.key).value(kv.value);
    lab = await createLab(run);
    await Promise.all(
      [1, 2, 3, 4, 5, 6].map(async (i) => {
        const host = await lab.addHost(`rr${i}`, `${rrIp(i)}/24`);
        const dir = tempDir(`rr-eup-${i}`);
        dirs.push(dir);
        const agent = runAgent(rrAgentEnv(dir, dialect, { IP: rrIp(i), NODENAME: nodeName(i), ETCD_ENDPOINTS: etcd.endpoint }));
        await waitFirstInstalls(agent, `rr${i}`, [['v4', READY_MS]]);
        const bird = await startRrBird('v4', dialect, host.netns, dir, READY_MS);
        rrs.set(i, { agent, bird, dir });
      }),
    );
    for (const n of NODES) {
      const host = await lab.addHost(`n${n}`, `${nodeIp(n)}/24`);
      const rrList = rrsOfRack(rackOf(n)).map(rrIp);
      nodes.set(n, await startBird({ family: 'v4', netns: host.netns, config: nodeBirdConfig({ family: 'v4', routerId: nodeIp(n), self: nodeIp(n), rrs: rrList, as: AS, routes: [nodePrefix(n)] }), readyTimeoutMs: READY_MS }));
    }
    const up = await lab.addHost('up', `${UP}/24`);
    upstream = await startBird({ family: 'v4', netns: up.netns, config: upstreamConfig(), readyTimeoutMs: READY_MS });
    // The fabric converges before the upstream is added: every node with its rack's RRs, and the full mesh.
    await waitFor(
      async () => {
        for (const [i, r] of rrs) {
          const sessions = await bgpSessions(r.bird.socket);
          if (![1, 2, 3, 4, 5, 6].filter((j) => j !== i).every((j) => isEstablished(sessions.get(`Mesh_${sym(rrIp(j))}`)))) return false;
        }
        return true;
      },
      { timeoutMs: READY_MS, intervalMs: 500, what: 'the full mesh Established' },
    );
    await waitFor(
      async () => {
        for (const n of NODES) {
          const s = await bgpSessions(nodes.get(n)!.socket);
          if (!rrsOfRack(rackOf(n)).every((i) => isEstablished(s.get(peerName(rrIp(i)))))) return false;
        }
        return true;
      },
      { timeoutMs: READY_MS, intervalMs: 500, what: 'every node Established with its rack RRs' },
    );
  }, 300_000);

  afterAll(async () => {
    await stopAllAgents();
    await killAllTracked();
    client?.close();
    await lab?.destroy();
    await etcd?.stop();
    for (const d of dirs) removeDir(d);
  });

  /** Every session reset (a state change to stop or down) logged since the marks, on the RRs and the nodes, except the upstream's own sessions. */
  const marks = () => ({ rr: new Map([...rrs].map(([i, r]) => [i, r.bird.logMark()])), node: new Map([...nodes].map(([n, b]) => [n, b.logMark()])) });
  const othersChanged = (m: ReturnType<typeof marks>): string[] => [
    ...[...rrs].flatMap(([i, r]) => stateChanges(r.bird.logSince(m.rr.get(i)!)).filter((c) => !c.protocol.startsWith('Peer_') && isReset(c.state)).map((c) => `rr${i} ${c.protocol} ${c.state}`)),
    ...[...nodes].flatMap(([n, b]) => stateChanges(b.logSince(m.node.get(n)!)).filter((c) => isReset(c.state)).map((c) => `n${n} ${c.protocol} ${c.state}`)),
  ];

  it('adding the upstream: it learns every node\'s prefix with the node\'s next hop, every node learns its prefix; no other session resets', async () => {
    const m = marks();
    const t0 = Date.now();
    for (const i of UPLINKED) await put(ownPeerKey(i), { ip: UP, as_num: String(UP_AS) });
    await waitFor(async () => {
      const s = await bgpSessions(upstream.socket);
      return UPLINKED.every((i) => isEstablished(s.get(peerName(rrIp(i)))));
    }, { timeoutMs: 60_000, intervalMs: 300, what: 'upstream Established with RR1 and RR3' });
    log(`upstream Established with RR${UPLINKED.join(', RR')} ${((Date.now() - t0) / 1000).toFixed(2)} s after the puts`);
    await waitFor(async () => {
      const routes = await routesAll(upstream.socket);
      return NODES.every((n) => routes.some((r) => r.prefix === nodePrefix(n)));
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'every node prefix at the upstream' });
    const routes = await routesAll(upstream.socket);
    for (const n of NODES) {
      const got = routes.filter((r) => r.prefix === nodePrefix(n));
      expect(got.length, `n${n} at the upstream`).toBeGreaterThan(0);
      for (const r of got) {
        expect(r.attrs.get('BGP.next_hop'), `n${n}'s next hop at the upstream via ${r.protocol}`).toBe(nodeIp(n));
        expect(r.attrs.get('BGP.as_path'), `n${n}'s AS path`).toBe(String(AS));
      }
    }
    expect(routes.some((r) => r.prefix === UP_PREFIX && r.protocol !== 'originate')).toBe(false); // nothing sent back
    await waitFor(async () => {
      for (const n of NODES) if (!(await routesAll(nodes.get(n)!.socket)).some((r) => r.prefix === UP_PREFIX)) return false;
      return true;
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'the upstream prefix at every node' });
    for (const n of NODES) {
      for (const r of (await routesAll(nodes.get(n)!.socket)).filter((x) => x.prefix === UP_PREFIX)) {
        expect(r.attrs.get('BGP.next_hop'), `upstream prefix's next hop at n${n}`).toBe(UP);
        expect(r.attrs.get('BGP.as_path')).toBe(String(UP_AS));
      }
    }
    expect(othersChanged(m)).toEqual([]);
  }, 180_000);

  it('`status` shows kind peer, `explain` names the key behind it', async () => {
    const rr1 = rrs.get(1)!;
    const env = { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin`, IP: rrIp(1), NODENAME: nodeName(1), ETCD_ENDPOINTS: etcd.endpoint, BIRD_SOCKET: join(rr1.dir, 'bird.ctl'), BIRD6_SOCKET: join(rr1.dir, 'bird6.ctl') };
    const st = await execa(process.execPath, [MAIN, 'status', '--json', '--family', 'v4'], { env, extendEnv: false, reject: false });
    const sessions = (JSON.parse(String(st.stdout)) as Array<{ sessions: Array<{ name: string; kind: string; state: string }> }>)[0]!.sessions;
    expect(sessions.find((s) => s.name === `Peer_${sym(UP)}`)).toMatchObject({ kind: 'peer', state: 'Established' });
    const ex = await execa(process.execPath, [MAIN, 'explain', UP], { env, extendEnv: false, reject: false });
    expect(String(ex.stdout)).toContain(`${PREFIX}${ownPeerKey(1)}`);
    expect(String(ex.stdout)).toContain(`${UP} (v4) IS a neighbour`);
  }, 60_000);

  it('removing the upstream withdraws its prefix and resets no other session', async () => {
    const m = marks();
    for (const i of UPLINKED) await client.delete().key(`${PREFIX}${ownPeerKey(i)}`);
    await waitFor(async () => {
      for (const n of NODES) if ((await routesAll(nodes.get(n)!.socket)).some((r) => r.prefix === UP_PREFIX)) return false;
      return true;
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'the upstream prefix gone from every node' });
    const s = await bgpSessions(upstream.socket);
    for (const i of UPLINKED) expect(isEstablished(s.get(peerName(rrIp(i))))).toBe(false);
    expect(othersChanged(m)).toEqual([]);
    log(`${dialectName(dialect)}: added and removed with no other session reset`);
  }, 120_000);
});
