/**
 * Fault 1: etcd outage. Real etcd, the agent, the route reflector's BIRD and
 * a Calico node's BIRD (each in its own network namespace).
 *
 * A. etcd is stopped for 60 s (ETCD_OUTAGE_MS) while sessions are up and
 *    nothing changes, then started again: no BGP session restarts (BIRD's own
 *    state log on both ends), the agent logs the outage and the recovery,
 *    and `run` never exits.
 * B. etcd goes away for the agent (its connection is cut and etcd is killed);
 *    etcd is restarted on the same data dir and a change is written to it;
 *    then the agent can reach etcd again: time from etcd's return to the
 *    change on disk (goal <= 2 s) and loaded by BIRD.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllAgents } from '../support/agent.js';
import { birdc, sessionResets, waitEstablished, type BirdHandle } from '../support/bird.js';
import { startTcpProxy, type EtcdProcess, type TcpProxy } from '../support/etcd.js';
import { peerName } from '../support/node-bird.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { figure, sleep, stats } from '../support/reliability.js';
import { AS, N1, RR, createRrLab, type RrLab, type RrUnderTest } from '../support/rr-lab.js';

const OUTAGE_MS = Number(process.env['ETCD_OUTAGE_MS'] ?? 60_000);
const T = 'etcd outage';

let lab: RrLab;
let etcd: EtcdProcess;
let proxy: TcpProxy;
let dir: string;
let rr: RrUnderTest;
let node: BirdHandle;

const put = (suffix: string, value: unknown): Promise<string> => lab.put(suffix, value);
const del = (suffix: string): Promise<string> => lab.del(suffix);
const cfg = (): string => readFileSync(join(dir, 'bird.cfg'), 'utf8');
const since = async (socket: string, proto: string): Promise<string> =>
  (await birdc(socket, `show protocols ${proto}`)).split('\n').find((l) => l.startsWith(`${proto} `))?.split(/\s+/)[4] ?? '';

beforeAll(async () => {
  dir = tempDir('rr-rel-out');
  lab = await createRrLab({ prefix: `rlo${process.pid % 10000}`, ipv6: false });
  etcd = lab.etcd;
  proxy = await startTcpProxy(etcd.endpoint);
  rr = await lab.startRr({ dir, env: { ETCD_ENDPOINTS: proxy.endpoint } });
  node = await lab.startNode('n1', N1, '10.77.100.0/24');
  await waitEstablished(rr.bird.socket, 'Node_10_77_0_11');
  await waitEstablished(node.socket, peerName(RR));
}, 120_000);

afterAll(async () => {
  await stopAllAgents();
  await killAllTracked();
  await proxy?.close();
  await lab?.destroy();
  if (dir) await removeDir(dir);
});

describe('fault 1: etcd outage', () => {
  it(`etcd down for ${OUTAGE_MS / 1000} s with nothing changed: no session restarts, outage and recovery logged, agent keeps running`, async () => {
    const agent = rr.agent;
    const mark = agent.lines.length;
    const nodeMark = node.logMark();
    const rrMark = rr.bird.logMark();
    const sinceBefore = await since(node.socket, peerName(RR));

    const tDown = Date.now();
    await etcd.kill('SIGKILL');
    const down = await agent.waitForLine((l) => l.msg === 'etcd disconnected', 'outage logged', { from: mark, timeoutMs: 20_000 });
    figure(T, 'outage noticed by the agent after', Date.parse(String(down.time)) - tDown, 'ms');
    await sleep(OUTAGE_MS - (Date.now() - tDown));
    expect(agent.child.exitCode).toBeNull();

    const tBack = Date.now();
    await etcd.restart();
    const healthy = Date.now();
    const up = await agent.waitForLine((l) => l.msg === 'etcd connected', 'recovery logged', { from: mark, timeoutMs: 30_000 });
    figure(T, `outage length`, healthy - tDown, 'ms');
    figure(T, 'etcd healthy again to agent reconnected (no change; <= 0: before the test saw etcd healthy)', Date.parse(String(up.time)) - healthy, 'ms');
    figure(T, 'etcd restart took', healthy - tBack, 'ms');
    await sleep(2000);

    const disconnects = agent.find((l) => l.msg === 'etcd disconnected', mark);
    console.log(`[detail] ${disconnects.length} 'etcd disconnected' lines during the outage; first reason: ${String(disconnects[0]?.['reason'])}`);
    expect(agent.child.exitCode).toBeNull();
    // Nothing changed: nothing written, no session reset on either end. (A
    // reload of the same file may happen when a health probe of BIRD times
    // out on a loaded machine: harmless, BIRD answers "Reconfigured".)
    expect(agent.find((l) => l.step === 'write', mark)).toEqual([]);
    const reloads = agent.find((l) => l.step === 'reload', mark);
    for (const r of reloads) expect(r.message).toBe('Reconfigured');
    console.log(`[detail] reloads of the unchanged config during the outage: ${reloads.length}`);
    expect(sessionResets(node.logSince(nodeMark), peerName(RR))).toEqual([]);
    expect(sessionResets(rr.bird.logSince(rrMark), 'Node_10_77_0_11')).toEqual([]);
    await waitEstablished(node.socket, peerName(RR), 'v4', 1000);
    const sinceAfter = await since(node.socket, peerName(RR));
    console.log(`[detail] node's session "since": before ${sinceBefore}, after ${sinceAfter}`);
    // BIRD's "since" column jitters by a second between calls (docs/bird-notes.md);
    // the proof of no reset is the state log above. A reset would move it by far more.
    const secs = (hms: string): number => hms.split(':').reduce((a, x) => a * 60 + Number(x), 0);
    expect(Math.abs(secs(sinceAfter) - secs(sinceBefore))).toBeLessThanOrEqual(1);
    figure(T, `BGP session resets during a ${OUTAGE_MS / 1000} s outage`, 0);
  }, OUTAGE_MS + 120_000);

  it('a change written during the outage reaches disk and BIRD soon after etcd returns (goal <= 2 s)', async () => {
    const agent = rr.agent;
    const runs = Number(process.env['ETCD_RETURN_RUNS'] ?? 3);
    const outage = Number(process.env['ETCD_RETURN_OUTAGE_MS'] ?? 15_000);
    const toDisk: number[] = [];
    const toBird: number[] = [];
    const nodeMark = node.logMark();
    for (let i = 0; i < runs; i++) {
      const mark = agent.lines.length;
      const ip = `10.77.0.${50 + i}`;
      proxy.cut(); // the agent loses etcd now ...
      await etcd.kill('SIGKILL'); // ... and etcd dies
      await agent.waitForLine((l) => l.msg === 'etcd disconnected', 'outage logged', { from: mark, timeoutMs: 20_000 });
      await sleep(outage / 2);
      await etcd.restart(); // same data dir
      await put(`/host/x${i}/ip_addr_v4`, ip);
      await put(`/host/x${i}/peer_v4/${RR}`, { ip: RR, as_num: AS });
      await sleep(outage / 2);
      expect(cfg()).not.toContain(`neighbor ${ip} as`);
      const t0 = Date.now();
      proxy.restore(); // etcd is back for the agent
      await waitFor(() => cfg().includes(`neighbor ${ip} as ${AS};`), { what: `${ip} in bird.cfg`, timeoutMs: 30_000, intervalMs: 10 });
      toDisk.push(Date.now() - t0);
      await waitFor(async () => (await birdc(rr.bird.socket, 'show protocols')).includes(`Node_${ip.replace(/\./g, '_')}`), {
        what: 'BIRD loaded the change',
        timeoutMs: 30_000,
        intervalMs: 20,
      });
      toBird.push(Date.now() - t0);
      figure(T, `run ${i + 1}: etcd back to config on disk`, toDisk[i]!, 'ms');
    }
    const d = stats(toDisk);
    const b = stats(toBird);
    figure(T, `etcd back to config on disk (${runs} runs, ${outage / 1000} s outages) median/max`, `${d.median}/${d.max}`, 'ms');
    figure(T, `etcd back to config loaded by BIRD median/max`, `${b.median}/${b.max}`, 'ms');
    expect(agent.child.exitCode).toBeNull();
    expect(sessionResets(node.logSince(nodeMark), peerName(RR))).toEqual([]);
    expect(existsSync(join(dir, '.bird.cfg.stage'))).toBe(false);
    // Goal 2 s; the bound leaves room for a loaded CI machine.
    expect(d.max).toBeLessThan(5_000);
    for (let i = 0; i < runs; i++) await del(`/host/x${i}/peer_v4/${RR}`);
  }, 240_000);
});
