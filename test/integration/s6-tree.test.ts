/**
 * The s6 supervision tree (`s6/`), for real: s6-svscan on a temp copy of the
 * tree inside a network namespace (the RR host of a lab), a real etcd in the
 * same namespace, real bird/bird6 started by s6, and a peer BIRD in a second
 * namespace to prove sessions survive an agent crash.
 *
 * Covers issue 3: start order without a crash loop (BIRD waits for the
 * agent's readiness), kill -9 of BIRD (s6 restarts it, the agent hears it
 * from s6 and re-applies the latest config), kill -9 of the agent (BIRD keeps
 * running, no session reset), logs on stdout tagged per service (+ LOG_DIR),
 * graceful stop by SIGTERM to the scanner (ordered) and by s6-svscanctl -t.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birdc, sessionResets, startBird, waitEstablished, type BirdHandle } from '../support/bird.js';
import { createLab, type Lab, type LabHost } from '../support/netns.js';
import { waitFor } from '../support/processes.js';
import { netnsPids, readComm, startNsEtcd, startTree, stopTree, teardownTreeLab, treeWork, type NsEtcd, type Tree } from '../support/s6.js';

const P = '/calico/bgp/v1';
const RR = '10.77.61.1';
const PEER = '10.77.61.2';
const GHOST = '10.77.61.3'; // an RR that exists only in etcd
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let lab: Lab;
let rr: LabHost;
let peerHost: LabHost;
let etcd: NsEtcd | undefined;
let peer: BirdHandle | undefined;
let tree: Tree | undefined;
let work: string;
let env: Record<string, string>;
const dirs: string[] = [];

function treeEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...env, ...extra };
}

/** BIRD's own lines from the tree's stdout (`bird: ` prefix removed). */
function birdLog(t: Tree, svc = 'bird'): string {
  return t
    .lines()
    .filter((l) => l.startsWith(`${svc}: `))
    .map((l) => l.slice(svc.length + 2))
    .join('\n');
}

function agentLines(t: Tree): Array<Record<string, unknown>> {
  return t
    .lines()
    .filter((l) => l.startsWith('{"service":"agent",'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  lab = await createLab(`rrs6${process.pid % 100000}`);
  rr = await lab.addHost('rr', `${RR}/24`);
  peerHost = await lab.addHost('peer', `${PEER}/24`);
  ({ work, env } = treeWork('rr-s6-int', RR, dirs, { LOG_FORMAT: 'json' }));
  peer = await startBird({
    family: 'v4',
    netns: peerHost.netns,
    config: `router id ${PEER};
log stderr all;
protocol device { scan time 10; }
protocol bgp Mesh_10_77_61_1 {
  debug { states };
  local as 64512;
  neighbor ${RR} as 64512;
  source address ${PEER};
  passive on;
  graceful restart;
  import all;
  export all;
}
`,
  });
}, 60_000);

afterAll(() => teardownTreeLab(tree, lab, dirs), 60_000);

describe('s6 tree', () => {
  it('starts BIRD and BIRD6 only after the agent is ready, once, with a config', async () => {
    // The tree first, etcd later: the agent cannot render, so BIRD must wait.
    tree = startTree({ netns: rr.netns, env: treeEnv() });
    const t = tree;
    await waitFor(async () => (await t.stat('agent')).up && (await t.stat('bird')).up && (await t.stat('bird6')).up, {
      what: 'agent, bird, bird6 supervised',
      timeoutMs: 15_000,
    });
    // Sample for a while: the bird services run their wait, not BIRD.
    for (let i = 0; i < 10; i++) {
      const [a, b, b6] = [await t.stat('agent'), await t.stat('bird'), await t.stat('bird6')];
      expect(a.ready).toBe(false);
      expect(readComm(b.pid)).not.toBe('bird');
      expect(readComm(b6.pid)).not.toBe('bird6');
      expect(existsSync(env['BIRD_SOCKET']!)).toBe(false);
      expect(existsSync(env['BIRD6_SOCKET']!)).toBe(false);
      await sleep(200);
    }
    const waitingPid = (await t.stat('bird')).pid;

    const t0 = Date.now();
    etcd = await startNsEtcd(rr.netns, join(work, 'etcd', 'data'));
    await etcd.put(`${P}/global/as_num`, '64512');
    await etcd.put(`${P}/rr_v4/${RR}`, JSON.stringify({ ip: RR, cluster_id: '1.0.0.1' }));
    await etcd.put(`${P}/rr_v4/${PEER}`, JSON.stringify({ ip: PEER, cluster_id: '1.0.0.1' }));
    await t.waitUp(30_000);
    console.log(`[s6] etcd up -> agent ready and both BIRDs running: ${Date.now() - t0} ms`);

    // Same run-script process that waited, now exec'ed into BIRD: no restart, no crash loop.
    expect((await t.stat('bird')).pid).toBe(waitingPid);
    // s6 reports both BIRDs up before their first lines have passed the loggers (under load, by
    // seconds): wait for them to reach the tree's stdout, then assert on what is there.
    await waitFor(
      () => ['bird', 'bird6'].every((svc) => t.lines().some((l) => l.startsWith(`${svc}: `) && /<INFO> Started/.test(l))),
      { what: "both BIRDs' start lines on the tree's stdout", timeoutMs: 30_000 },
    );
    const lines = t.lines();
    for (const svc of ['bird', 'bird6']) {
      expect(lines.filter((l) => l.startsWith(`${svc}: starting with`)), `the tree's stdout:\n${lines.join('\n')}`).toHaveLength(1);
      expect(lines.filter((l) => l.includes('missing although'))).toHaveLength(0);
      expect(lines.filter((l) => /Unable to open configuration file/.test(l))).toHaveLength(0);
    }
    // The agent said "ready" before s6 let BIRD start (order of the tree's stdout).
    const readyAt = lines.findIndex((l) => l.includes('readiness notified'));
    const birdAt = lines.findIndex((l) => l.startsWith('bird: starting with'));
    const bird6At = lines.findIndex((l) => l.startsWith('bird6: starting with'));
    console.log(`[s6] stdout order: agent ready line ${readyAt}, bird start ${birdAt}, bird6 start ${bird6At}`);
    expect(readyAt).toBeGreaterThanOrEqual(0);
    expect(birdAt).toBeGreaterThan(readyAt);
    expect(bird6At).toBeGreaterThan(readyAt);

    expect(await birdc(env['BIRD_SOCKET']!, 'show status', 'v4')).toMatch(/Daemon is up and running/);
    // IP6 unset: bird6 runs the minimal config (router id, device, no BGP).
    expect(await birdc(env['BIRD6_SOCKET']!, 'show status', 'v6')).toMatch(/Daemon is up and running/);
    expect(readFileSync(join(env['CONFIG_DIR']!, 'bird6.cfg'), 'utf8')).not.toMatch(/protocol bgp/);

    await waitEstablished(env['BIRD_SOCKET']!, 'Mesh_10_77_61_2', 'v4', 30_000);
  }, 90_000);

  it('puts every line on stdout tagged with its service; agent lines stay one JSON object each', () => {
    const lines = tree!.lines();
    expect(lines.length).toBeGreaterThan(10);
    const bad = lines.filter((l) => !(l.startsWith('{"service":"agent",') || /^(agent|bird|bird6): /.test(l)));
    expect(bad).toEqual([]);
    const json = lines.filter((l) => l.startsWith('{'));
    for (const l of json) expect(() => JSON.parse(l)).not.toThrow();
    expect(json.length).toBeGreaterThan(5);
    expect(lines.some((l) => l.startsWith('bird: ') && /<INFO> Started/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('bird6: ') && /<INFO> Started/.test(l))).toBe(true);
  });

  it('kill -9 the agent: s6 restarts it, BIRD keeps running, no session resets', async () => {
    const t = tree!;
    await waitEstablished(env['BIRD_SOCKET']!, 'Mesh_10_77_61_2', 'v4', 30_000);
    const bird = await t.stat('bird');
    const bird6 = await t.stat('bird6');
    const agent = await t.stat('agent');
    const peerMark = peer!.logMark();
    const rrMark = birdLog(t).length;
    const killedAt = Date.now();
    process.kill(agent.pid, 'SIGKILL');
    const back = await waitFor(
      async () => {
        const s = await t.stat('agent');
        return s.up && s.ready && s.pid !== agent.pid ? s : undefined;
      },
      { what: 'agent restarted and ready again', timeoutMs: 30_000 },
    );
    console.log(`[s6] agent kill -9 -> restarted (pid ${back.pid}) and ready: ${Date.now() - killedAt} ms`);
    // Give the new agent time to probe and re-apply, then look.
    await waitFor(() => agentLines(t).some((l) => l['msg'] === 'daemon up' && l['family'] === 'v4' && Date.parse(String(l['time'])) >= killedAt), {
      what: 'new agent sees BIRD up',
      timeoutMs: 15_000,
    });
    await sleep(1500);
    expect((await t.stat('bird')).pid).toBe(bird.pid);
    expect((await t.stat('bird6')).pid).toBe(bird6.pid);
    expect(sessionResets(peer!.logSince(peerMark), 'Mesh_10_77_61_1')).toEqual([]);
    expect(sessionResets(birdLog(t).slice(rrMark), 'Mesh_10_77_61_2')).toEqual([]);
    const proto = await birdc(env['BIRD_SOCKET']!, 'show protocols Mesh_10_77_61_2', 'v4');
    expect(proto).toMatch(/Established/);
  }, 90_000);

  it('kill -9 BIRD: s6 restarts it and it runs the latest config (a RR added while it was down)', async () => {
    const t = tree!;
    const before = await t.stat('bird');
    const from = agentLines(t).length;
    process.kill(before.pid, 'SIGKILL');
    const killedAt = Date.now();
    await etcd!.put(`${P}/rr_v4/${GHOST}`, JSON.stringify({ ip: GHOST, cluster_id: '1.0.0.1' }));
    const putAt = Date.now();
    const stillDown = readComm((await t.stat('bird')).pid) !== 'bird' || !(await t.stat('bird')).up;
    console.log(`[s6] RR added ${putAt - killedAt} ms after kill -9; BIRD still down then: ${stillDown}`);

    const restarted = await waitFor(
      async () => {
        const s = await t.stat('bird');
        return s.up && s.pid !== before.pid && readComm(s.pid) === 'bird' ? s : undefined;
      },
      { what: 'bird restarted by s6', timeoutMs: 20_000 },
    );
    await waitFor(async () => (await birdc(env['BIRD_SOCKET']!, 'show protocols', 'v4')).includes('Mesh_10_77_61_3'), {
      what: 'Mesh_10_77_61_3 in show protocols after the restart',
      timeoutMs: 20_000,
    });
    console.log(`[s6] kill -9 -> new BIRD pid ${restarted.pid}, new RR visible: ${Date.now() - killedAt} ms`);
    // The agent heard of it from s6 (not only from its socket probe) and re-applied.
    const after = agentLines(t).slice(from);
    expect(after.some((l) => l['msg'] === 'daemon down' && l['family'] === 'v4' && String(l['reason']).startsWith('s6:'))).toBe(true);
    await waitFor(() => agentLines(t).slice(from).some((l) => l['msg'] === 'reload ok' && l['family'] === 'v4'), {
      what: 'a reload after the restart',
    });
    expect(birdLog(t).split('\n').filter((l) => /<INFO> Started/.test(l))).toHaveLength(2);
    // Not asserted (a BGP matter, not s6): does the mesh session come back soon?
    const w0 = Date.now();
    const back = await waitEstablished(env['BIRD_SOCKET']!, 'Mesh_10_77_61_2', 'v4', 20_000).then(
      () => true,
      () => false,
    );
    const row = (await birdc(env['BIRD_SOCKET']!, 'show protocols Mesh_10_77_61_2', 'v4')).split('\n').pop();
    const peerRow = (await birdc(peer!.socket, 'show protocols Mesh_10_77_61_1', 'v4')).split('\n').pop();
    console.log(`[s6] after BIRD kill -9: mesh session re-established within 20 s: ${back} (${Date.now() - w0} ms); RR: ${row}; peer: ${peerRow}`);
  }, 90_000);

  it('SIGTERM to s6-svscan: agent stops first, then BIRD and BIRD6; exits 0; nothing left', async () => {
    const t = tree!;
    const res = await stopTree(t, 15_000);
    console.log(`[s6] SIGTERM -> s6-svscan exit ${String(res.code)}/${String(res.signal)} after ${res.ms} ms`);
    expect(res.signal).toBeNull();
    expect(res.code).toBe(0);
    const lines = t.lines();
    const agentStop = lines.findIndex((l) => l.startsWith('{"service":"agent",') && l.includes('"msg":"stopping"'));
    const birdStop = lines.findIndex((l) => l.startsWith('bird: ') && l.includes('Shutting down'));
    const bird6Stop = lines.findIndex((l) => l.startsWith('bird6: ') && l.includes('Shutting down'));
    console.log(`[s6] stop order in stdout: agent ${agentStop}, bird ${birdStop}, bird6 ${bird6Stop}`);
    expect(agentStop).toBeGreaterThanOrEqual(0);
    expect(birdStop).toBeGreaterThan(agentStop);
    expect(bird6Stop).toBeGreaterThan(agentStop);
    // BIRD's graceful shutdown completed and removed its socket.
    expect(lines.some((l) => l.startsWith('bird: ') && l.includes('Shutdown completed'))).toBe(true);
    expect(existsSync(env['BIRD_SOCKET']!)).toBe(false);
    // Only etcd remains in the namespace.
    const left = (await netnsPids(rr.netns)).filter((p) => p !== etcd!.process.pid);
    expect(left.map((p) => `${p}:${readComm(p) ?? '?'}`)).toEqual([]);
  }, 60_000);

  it('s6-svscanctl -t stops a second boot cleanly; LOG_DIR keeps rotated files', async () => {
    const logDir = join(work, 'logs');
    const t = startTree({ netns: rr.netns, env: treeEnv({ LOG_DIR: logDir }) });
    tree = t;
    await t.waitUp(30_000);
    await waitFor(() => existsSync(join(logDir, 'bird', 'current')) && /Started/.test(readFileSync(join(logDir, 'bird', 'current'), 'utf8')), {
      what: 'bird lines in LOG_DIR/bird/current',
    });
    // The files hold the raw lines (agent JSON unchanged), stdout the tagged ones.
    const agentFile = readFileSync(join(logDir, 'agent', 'current'), 'utf8');
    expect(agentFile).toMatch(/^@[0-9a-f]{24} \{"time":/m);
    expect(t.lines().some((l) => l.startsWith('bird: ') && l.includes('Started'))).toBe(true);

    const t0 = Date.now();
    const r = await execa('s6-svscanctl', ['-t', t.dir], { reject: false, stdin: 'ignore' });
    expect(r.exitCode).toBe(0);
    const res = await Promise.race([t.scanner.exited, sleep(15_000).then(() => undefined)]);
    console.log(`[s6] s6-svscanctl -t -> scanner exit ${JSON.stringify(res)} after ${Date.now() - t0} ms`);
    expect(res).toEqual({ code: 0, signal: null });
    const left = (await netnsPids(rr.netns)).filter((p) => p !== etcd!.process.pid);
    expect(left.map((p) => `${p}:${readComm(p) ?? '?'}`)).toEqual([]);
  }, 60_000);
});
