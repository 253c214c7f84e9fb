/**
 * The agent end to end on one route reflector: real etcd, real BIRD for the
 * RR (in a network namespace, reading the files the agent writes) and real
 * BIRDs as Calico nodes peering with it.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { stopAllAgents, type AgentProcess, type LogLine } from '../support/agent.js';
import { birdSocketProxy, type BirdSocketProxy } from '../support/bird-socket-proxy.js';
import { birdc, sessionResets, waitEstablished, type BirdHandle } from '../support/bird.js';
import { peerName } from '../support/node-bird.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { AS, N1, RR, RR6, createRrLab, shellScript, type RrLab } from '../support/rr-lab.js';

const N2 = '10.77.0.12';

let lab: RrLab;
let dir: string;
let agent: AgentProcess;
let rrBird: BirdHandle;
let rrBird6: BirdHandle;
const nodes = new Map<string, BirdHandle>();
let checkMarker: string;
let proxy: BirdSocketProxy | undefined;

const put = (suffix: string, value: unknown) => lab.put(suffix, value);
const del = (suffix: string) => lab.del(suffix);
const cfg = (name: 'bird.cfg' | 'bird6.cfg') => readFileSync(join(dir, name), 'utf8');
const protocols = async (): Promise<string> => birdc(rrBird.socket, 'show protocols', 'v4');
const isReload = (family: string) => (l: LogLine) => l.step === 'reload' && l.family === family && l.ok === true;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startNode(name: string, ip: string): Promise<BirdHandle> {
  const bird = await lab.startNode(name, ip, `10.77.${100 + nodes.size}.0/24`);
  nodes.set(name, bird);
  return bird;
}

beforeAll(async () => {
  dir = tempDir('rr-agent');
  lab = await createRrLab({ prefix: `rra${process.pid % 10000}` });
  // While a marker file exists, a config the check rejects: a wrapper around `bird -p` (the check while BIRD
  // does not answer) fails, and the running BIRD reads a rejected copy of the file it is asked to configure.
  checkMarker = join(dir, 'reject-next-check');
  const wrapper = shellScript(dir, 'bird-check.sh', `if [ -e ${checkMarker} ]; then echo "bird: simulated rejection" >&2; exit 1; fi\nexec bird "$@"\n`);
  proxy = await birdSocketProxy(join(dir, 'bird.ctl'), join(dir, 'proxy.ctl'), dir);
  proxy.reject = () => existsSync(checkMarker);
  const rr = await lab.startRr({ dir, env: { BIRD_BIN: wrapper, BIRD_SOCKET: proxy.path }, withBird6: true });
  agent = rr.agent;
  rrBird = rr.bird;
  rrBird6 = rr.bird6!;
  await startNode('n1', N1);
  await waitEstablished(rrBird.socket, 'Node_10_77_0_11');
}, 120_000);

afterAll(async () => {
  await stopAllAgents();
  await killAllTracked();
  await proxy?.close();
  await lab?.destroy();
  if (dir) await removeDir(dir);
});

describe('agent against real etcd and BIRD', () => {
  it('renders the initial config that BIRD runs, and re-applies it when BIRD comes up', async () => {
    const text = cfg('bird.cfg');
    // CLIENT_IMPORT_LIMIT's default: every client is from the clients' template, which states the limit once.
    expect(text).toContain('protocol bgp Node_10_77_0_11 from client_template');
    expect(text).toContain('template bgp client_template from bgp_template {\n  import limit 10000 action disable;\n}');
    expect(text).toContain('rr cluster id 1.0.0.1;');
    expect(statSync(join(dir, 'bird.cfg')).mode & 0o777).toBe(0o644);
    expect(cfg('bird6.cfg')).toContain('source address fd77::1;');
    // BIRD came up after the first install: the agent saw it and reloaded it.
    await agent.waitForLine((l) => l.msg === 'daemon up' && l.family === 'v4', 'bird seen up');
    await agent.waitForLine(isReload('v4'), 'bird reloaded after it came up');
    expect(await protocols()).toMatch(/Node_10_77_0_11\s+BGP\s+master\s+up\s+\S+\s+Established/);
  });

  it('adds a client without resetting the established session, and removes it again', async () => {
    const n1 = nodes.get('n1')!;
    const mark = agent.lines.length;
    await put('/host/n2/ip_addr_v4', N2);
    await put(`/host/n2/peer_v4/${RR}`, { ip: RR, as_num: AS });
    await startNode('n2', N2);
    await waitEstablished(rrBird.socket, 'Node_10_77_0_12');
    const plan = await agent.waitForLine((l) => l.msg === 'plan v4 sessions +1 -0 ~0', 'plan +1', { from: mark });
    expect(plan.added).toEqual(['Node_10_77_0_12']);
    expect(sessionResets(n1.log(), peerName(RR))).toEqual([]);

    // n2 learns n1's route through the RR (reflected, next hop kept).
    await waitFor(async () => (await birdc(nodes.get('n2')!.socket, 'show route 10.77.100.0/24', 'v4')).includes('10.77.100.0/24'), {
      what: "n1's prefix on n2",
      timeoutMs: 20_000,
    });

    const mark2 = agent.lines.length;
    await del(`/host/n2/peer_v4/${RR}`);
    await agent.waitForLine((l) => l.msg === 'plan v4 sessions +0 -1 ~0', 'plan -1', { from: mark2 });
    await waitFor(async () => !(await protocols()).includes('Node_10_77_0_12'), { what: 'Node_10_77_0_12 removed from BIRD' });
    expect(sessionResets(n1.log(), peerName(RR))).toEqual([]);
  });

  it('adds and removes a mesh member', async () => {
    const mark = agent.lines.length;
    await put('/rr_v4/10.77.0.2', { ip: '10.77.0.2', cluster_id: '1.0.0.1' });
    await agent.waitForLine((l) => l.msg === 'plan v4 sessions +1 -0 ~0' && (l.added as string[])[0] === 'Mesh_10_77_0_2', 'mesh +1', { from: mark });
    await waitFor(async () => /Mesh_10_77_0_2\s+BGP/.test(await protocols()), { what: 'Mesh_10_77_0_2 in BIRD' });
    expect(cfg('bird.cfg')).toMatch(/protocol bgp Mesh_10_77_0_2 from bgp_template \{\n {2}local as 64512;\n {2}neighbor 10.77.0.2 as 64512;\n {2}connect delay time 2;\n {2}error wait time 5, 60;\n\}/);
    await del('/rr_v4/10.77.0.2');
    await waitFor(async () => !(await protocols()).includes('Mesh_10_77_0_2'), { what: 'Mesh_10_77_0_2 removed' });
  });

  it('does not reload for a write that changes nothing, nor BIRD for an IPv6-only change', async () => {
    await sleep(1500); // let earlier changes settle
    const mark = agent.lines.length;
    await put('/host/n1/ip_addr_v4', N1); // same value
    await put('/host/n1/as_num', '65000'); // not used by any plan
    await put('/global/node_mesh', '{"enabled":false}'); // not ours
    await put('/host/n1/ip_addr_v6', 'fd77::11');
    await put(`/host/n1/peer_v6/${RR6}`, { ip: RR6, as_num: AS });
    await agent.waitForLine(isReload('v6'), 'bird6 reloaded for the IPv6 change', { from: mark });
    await sleep(1500); // debounce ceiling is 1 s: anything for IPv4 would have happened
    expect(agent.find(isReload('v4'), mark)).toEqual([]);
    expect(agent.find((l) => l.step === 'write' && l.family === 'v4', mark)).toEqual([]);
    expect(cfg('bird6.cfg')).toContain('neighbor fd77::11 as 64512;');
    expect(await birdc(rrBird6.socket, 'show protocols', 'v6')).toContain('Node_fd77__11');
  });

  it('skips bad input with one log line naming the key, and keeps the rest', async () => {
    const mark = agent.lines.length;
    const evil = 'protocol kernel';
    const bad: Array<[string, string]> = [
      ['/host/bad1/ip_addr_v4', '10.77.0.99; protocol kernel { }'],
      ['/host/bad2/ip_addr_v4', `10.77.0.98\n${evil} {}`],
      ['/host/bad3/peer_v4/10.77.0.1', '{"ip":"10.77.0.1","as_num":"0"}'],
      ['/host/bad4/peer_v4/10.77.0.1', '{not json'],
      ['/rr_v4/10.77.0.3', `{"ip":"10.77.0.3\\"; ${evil} {","cluster_id":"1.0.0.1"}`],
      ['/global/peer_v4/10.77.0.1', '{"ip":"10.77.0.1","as_num":"4294967296"}'],
    ];
    for (const [k, v] of bad) await put(k, v);
    await put('/host/n3/ip_addr_v4', '10.77.0.13');
    await put(`/host/n3/peer_v4/${RR}`, { ip: RR, as_num: AS }); // a good change after the bad ones
    await agent.waitForLine((l) => l.msg === 'install ok' && l.family === 'v4', 'install after bad input', { from: mark });
    for (const [k] of bad) {
      const lines = agent.find((l) => l.msg === 'invalid entry skipped' && l.key === `${PREFIX}${k}`, mark);
      expect(lines, k).toHaveLength(1);
    }
    const text = cfg('bird.cfg');
    expect(text).not.toContain(evil);
    expect(text).toContain('neighbor 10.77.0.13 as 64512;');
    expect(text).toContain('neighbor 10.77.0.11 as 64512;');
    for (const [k] of bad) await del(k);
  });

  it('never installs a config the check rejects, and applies the next good one', async () => {
    await sleep(1200);
    const before = cfg('bird.cfg');
    const mark = agent.lines.length;
    writeFileSync(checkMarker, '');
    await put(`/host/n4/ip_addr_v4`, '10.77.0.14');
    await put(`/host/n4/peer_v4/${RR}`, { ip: RR, as_num: AS });
    const failed = await agent.waitForLine((l) => l.step === 'check' && l.ok === false, 'check failure logged', { from: mark });
    expect(failed.message).toMatch(/rejected\.cfg:\d+:\d+ syntax error/); // BIRD's own verdict, by the daemon that runs it
    expect(failed.checkedBy).toBe('daemon');
    expect(failed.level).toBe('error');
    expect(cfg('bird.cfg')).toBe(before);
    expect(await protocols()).not.toContain('Node_10_77_0_14');
    expect(agent.find(isReload('v4'), mark)).toEqual([]);

    const { rmSync } = await import('node:fs');
    rmSync(checkMarker);
    const mark2 = agent.lines.length;
    await put(`/host/n5/ip_addr_v4`, '10.77.0.15');
    await put(`/host/n5/peer_v4/${RR}`, { ip: RR, as_num: AS });
    await agent.waitForLine(isReload('v4'), 'reload after the check passes again', { from: mark2 });
    const text = cfg('bird.cfg');
    expect(text).toContain('neighbor 10.77.0.14 as 64512;');
    expect(text).toContain('neighbor 10.77.0.15 as 64512;');
    expect(await protocols()).toContain('Node_10_77_0_15');
  });

  it('logs every decision as one JSON object per line', () => {
    expect(agent.lines.filter((l) => l['unparsed'])).toEqual([]);
    const batch = agent.find((l) => l.msg === 'etcd batch')[0];
    expect(batch).toMatchObject({ level: 'info', revision: expect.any(Number), events: expect.any(Number) });
    expect(agent.find((l) => l.msg === 'etcd connected').length).toBeGreaterThan(0);
  });

  it('exits 0 on SIGTERM', async () => {
    expect(await agent.stop('SIGTERM')).toBe(0);
    expect(agent.find((l) => l.msg === 'stopping')).toHaveLength(1);
  });
});
