/**
 * Fault 9: a cold start during an etcd outage (a container restart or a
 * host reboot while etcd is unreachable), with the project's s6 tree, real
 * etcd and BIRD 1.6, each host in its own network namespace.
 *
 * The tree runs with a mesh peer and two clients, sessions Established; the
 * tree is stopped; changes are written to etcd (a client added, one
 * removed); etcd is stopped; the tree is started again. The agent starts
 * from its journal: BIRD runs the previous config within seconds and the
 * sessions come back, while /readyz, /status and `routereflector status`
 * say the plan is the journal's and stale. Then etcd returns: the changes
 * are applied (goal <= 2 s) by resuming the watch from the journal's
 * revision, and no session the changes did not touch restarts (the peers'
 * own logged state changes).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { MAIN } from '../support/agent.js';
import { birdc, sessionResets, startBird, waitEstablished, type BirdHandle } from '../support/bird.js';
import { createLab, type Lab, type LabHost } from '../support/netns.js';
import { nodeBirdConfig, peerName } from '../support/node-bird.js';
import { waitFor } from '../support/processes.js';
import { figure } from '../support/reliability.js';
import { startNsEtcd, startTree, stopTree, teardownTreeLab, treeWork, type NsEtcd, type Tree } from '../support/s6.js';

const T = 'cold start during an etcd outage';
const P = '/calico/bgp/v1';
const RR = '10.77.71.1';
const MESH = '10.77.71.2';
const N1 = '10.77.71.11';
const N2 = '10.77.71.12';
const N3 = '10.77.71.13';
const AS = 64512;
const HTTP = '127.0.0.1:9099';
const proto = (kind: 'Mesh' | 'Node', ip: string): string => `${kind}_${ip.replace(/\./g, '_')}`;

let lab: Lab;
let rrHost: LabHost;
let etcd: NsEtcd | undefined;
let tree: Tree | undefined;
let work: string;
let env: Record<string, string>;
const peers: Record<string, BirdHandle> = {};
const dirs: string[] = [];

const agentLines = (t: Tree): Array<Record<string, unknown>> =>
  t
    .lines()
    .filter((l) => l.startsWith('{"service":"agent",'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** An HTTP GET of the agent's endpoint, from inside the RR's namespace. */
async function get(path: string): Promise<{ code: number; body: string }> {
  const r = await execa('ip', ['netns', 'exec', rrHost.netns, process.execPath, '-e', `fetch('http://${HTTP}${path}').then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())), () => process.exit(3))`], { reject: false, stdin: 'ignore', timeout: 10_000 });
  const [code = '0', ...rest] = String(r.stdout).split('\n');
  return { code: Number(code), body: rest.join('\n') };
}

const cfg = (): string => readFileSync(join(env['CONFIG_DIR']!, 'bird.cfg'), 'utf8');
const shown = async (): Promise<string> => birdc(env['BIRD_SOCKET']!, 'show protocols').catch(() => '');

beforeAll(async () => {
  lab = await createLab(`rrcs${process.pid % 100000}`);
  rrHost = await lab.addHost('rr', `${RR}/24`);
  const meshHost = await lab.addHost('mesh', `${MESH}/24`);
  const n1 = await lab.addHost('n1', `${N1}/24`);
  const n2 = await lab.addHost('n2', `${N2}/24`);
  ({ work, env } = treeWork('rr-rel-cold', RR, dirs, { HTTP_LISTEN: HTTP }));
  // The other mesh member: passive towards the lower address (RR connects), its states logged.
  peers['mesh'] = await startBird({
    family: 'v4',
    netns: meshHost.netns,
    config: `router id ${MESH};
log stderr all;
protocol device { scan time 10; }
protocol bgp ${proto('Mesh', RR)} {
  debug { states };
  local as ${AS};
  neighbor ${RR} as ${AS};
  source address ${MESH};
  passive on;
  graceful restart;
  import all;
  export all;
}
`,
  });
  peers['n1'] = await startBird({ family: 'v4', netns: n1.netns, config: nodeBirdConfig({ family: 'v4', routerId: N1, self: N1, rrs: [RR], as: AS, routes: ['10.77.171.0/24'] }) });
  peers['n2'] = await startBird({ family: 'v4', netns: n2.netns, config: nodeBirdConfig({ family: 'v4', routerId: N2, self: N2, rrs: [RR], as: AS, routes: ['10.77.172.0/24'] }) });
  etcd = await startNsEtcd(rrHost.netns, join(work, 'etcd', 'data'));
  const put = (k: string, v: unknown): Promise<void> => etcd!.put(`${P}${k}`, typeof v === 'string' ? v : JSON.stringify(v));
  await put('/global/as_num', String(AS));
  await put(`/rr_v4/${RR}`, { ip: RR, cluster_id: '1.0.0.1' });
  await put(`/rr_v4/${MESH}`, { ip: MESH, cluster_id: '1.0.0.1' });
  for (const [n, ip] of [['n1', N1], ['n2', N2]] as const) {
    await put(`/host/${n}/ip_addr_v4`, ip);
    await put(`/host/${n}/peer_v4/${RR}`, { ip: RR, as_num: String(AS) });
  }
}, 90_000);

afterAll(() => teardownTreeLab(tree, lab, dirs), 60_000);

describe('fault 9: cold start during an etcd outage', () => {
  it('starts BIRD with the journal\'s plan while etcd is down, reports it stale, then applies what changed without touching the rest', async () => {
    onTestFailed(() => console.log(`[detail] the tree's output, last 120 lines:\n${(tree?.lines() ?? []).slice(-120).join('\n')}`));
    // 1. The tree up, sessions Established.
    tree = startTree({ netns: rrHost.netns, env });
    await tree.waitUp(60_000);
    const sockets = env['BIRD_SOCKET']!;
    for (const p of [proto('Mesh', MESH), proto('Node', N1), proto('Node', N2)]) await waitEstablished(sockets, p, 'v4', 60_000);
    const before = cfg();

    // 2. Stop the tree; change etcd while it is down; stop etcd.
    await stopTree(tree);
    await etcd!.put(`${P}/host/n3/ip_addr_v4`, N3);
    await etcd!.put(`${P}/host/n3/peer_v4/${RR}`, JSON.stringify({ ip: RR, as_num: String(AS) }));
    await etcd!.ctl('del', `${P}/host/n2/peer_v4/${RR}`);
    await etcd!.stop();

    // 3. Start the tree again: BIRD runs the previous config, the sessions come back.
    const t0 = Date.now();
    tree = startTree({ netns: rrHost.netns, env, dir: tree.dir });
    const t = tree;
    await waitFor(async () => {
      const out = await shown();
      return [proto('Mesh', MESH), proto('Node', N1), proto('Node', N2)].every((p) => out.includes(p));
    }, { what: 'BIRD runs the previous config', timeoutMs: 30_000, intervalMs: 50 });
    const birdRunning = Date.now() - t0;
    figure(T, 'tree start to BIRD running the previous config (etcd down; goal <= 3 s)', birdRunning, 'ms');
    expect(cfg()).toBe(before);
    const started = agentLines(t).find((l) => l['msg'] === 'started from the journal: BIRD gets the last installed configs until etcd answers');
    expect(started).toMatchObject({ revision: expect.any(Number), ageSeconds: expect.any(Number) });
    const revision = Number(started!['revision']);
    for (const p of [proto('Mesh', MESH), proto('Node', N1), proto('Node', N2)]) await waitEstablished(sockets, p, 'v4', 60_000);
    figure(T, 'tree start to every session Established again', Date.now() - t0, 'ms');

    // 4. Stale, and said so: /readyz (200: BIRD serves its last plan), /status, `routereflector status`, metrics.
    await waitFor(async () => (await get('/readyz')).code === 200, { what: '/readyz 200', timeoutMs: 20_000 });
    const readyz = await get('/readyz');
    expect(readyz.body).toMatch(new RegExp(`^ok \\(stale: BIRD serves the journal's plan of etcd revision ${revision} .*etcd not reached since start`));
    const status = JSON.parse((await get('/status')).body) as Record<string, unknown>;
    expect(status).toMatchObject({ ready: true, stale: true, source: 'journal', restored: { revision } });
    const metrics = (await get('/metrics')).body;
    expect(metrics).toMatch(/^routereflector_plan_source\{source="journal"\} 1$/m);
    expect(metrics).toMatch(/^routereflector_stale 1$/m);
    const cli = await execa('ip', ['netns', 'exec', rrHost.netns, process.execPath, MAIN, 'status'], { env: { ...env }, reject: false, stdin: 'ignore', timeout: 20_000 });
    expect(String(cli.stdout)).toMatch(new RegExp(`agent: stale: BIRD serves the journal's plan of etcd revision ${revision}`));
    console.log(`[detail] routereflector status:\n${String(cli.stdout)}`);

    // 5. etcd returns: the changes are applied; untouched sessions are not restarted.
    const marks = Object.fromEntries(Object.entries(peers).map(([k, b]) => [k, b.logMark()]));
    const tBack = Date.now();
    etcd = await startNsEtcd(rrHost.netns, join(work, 'etcd', 'data'));
    const healthy = Date.now();
    await waitFor(() => cfg().includes(`neighbor ${N3} as ${AS};`) && !cfg().includes(`neighbor ${N2} as`), { what: 'the changes in bird.cfg', timeoutMs: 30_000, intervalMs: 10 });
    const applied = Date.now();
    figure(T, 'etcd healthy to the changes on disk (goal <= 2 s)', applied - healthy, 'ms');
    figure(T, 'etcd restart took', healthy - tBack, 'ms');
    await waitFor(async () => (await shown()).includes(proto('Node', N3)) && !(await shown()).includes(proto('Node', N2)), { what: 'BIRD runs the changes', timeoutMs: 30_000 });
    const resumed = agentLines(t).find((l) => l['msg'] === 'etcd connected' && Date.parse(String(l['time'])) >= tBack);
    expect(resumed).toMatchObject({ resumeFrom: revision + 1 });
    // Resumed from the journal's revision: no full read.
    expect(agentLines(t).filter((l) => l['msg'] === 'etcd resynced' && Date.parse(String(l['time'])) >= t0)).toEqual([]);
    await waitFor(async () => (await get('/status')).body.includes('"stale": false'), { what: 'not stale', timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 2000));
    expect(sessionResets(peers['mesh']!.logSince(marks['mesh']!), proto('Mesh', RR))).toEqual([]);
    expect(sessionResets(peers['n1']!.logSince(marks['n1']!), peerName(RR))).toEqual([]);
    // The removed client's session went away, as it should.
    expect(sessionResets(peers['n2']!.logSince(marks['n2']!), peerName(RR)).length).toBeGreaterThan(0);
    await waitEstablished(sockets, proto('Node', N1), 'v4', 5_000);
    figure(T, 'sessions the changes did not touch that restarted on the catch-up', 0);
  }, 300_000);
});
