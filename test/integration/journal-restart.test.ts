/**
 * The agent's restart path against a real etcd, case by case: each restart
 * starts from the journal (or says why not) with its one log line, and then
 * catches up with etcd the way the case calls for:
 * - etcd compacted past the journal's revision: a full read (`compacted`);
 * - a torn last line: cut off, then the watch resumes from R+1 (no full read);
 * - a corrupt line: never folded across, still converges;
 * - another etcd cluster behind the same endpoint list: a full read (`cluster`).
 * After each, the files equal what etcd holds (a fresh `render`).
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { MAIN, runAgent, stopAllAgents, type AgentProcess, type LogLine } from '../support/agent.js';
import { currentRevision, etcdctl, startEtcd, type EtcdProcess } from '../support/etcd.js';
import { removeDir, tempDir, waitFor } from '../support/processes.js';

const RR = '10.77.0.1';
const RR6 = 'fd77::1';
let etcd: EtcdProcess;
let other: EtcdProcess | undefined;
let dir: string;
let out: string;
const journal = (): string => join(dir, 'journal', 'journal.jsonl');
const env = (endpoint: string): Record<string, string> => ({
  IP: RR,
  IP6: RR6,
  ETCD_ENDPOINTS: endpoint,
  CONFIG_DIR: dir,
  BIRD_SOCKET: join(dir, 'bird.ctl'),
  BIRD6_SOCKET: join(dir, 'bird6.ctl'),
  LOG_LEVEL: 'info',
});
const put = (e: EtcdProcess, suffix: string, value: unknown): Promise<string> =>
  etcdctl(e.endpoint, 'put', `${PREFIX}${suffix}`, typeof value === 'string' ? value : JSON.stringify(value));
const STARTED = 'started from the journal: BIRD gets the last installed configs until etcd answers';
const isStart = (l: LogLine): boolean => l.msg === STARTED || l.msg === 'journal not used: waiting for etcd';

/** The files equal a fresh `render` of what `e` holds. */
async function converged(e: EtcdProcess): Promise<void> {
  const r = await execa(process.execPath, [MAIN, 'render', '--out', out, '--no-check'], { env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin`, ...env(e.endpoint), CONFIG_DIR: out }, reject: false, timeout: 30_000 });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  await waitFor(
    () => ['bird.cfg', 'bird6.cfg'].every((f) => readFileSync(join(dir, f), 'utf8') === readFileSync(join(out, f), 'utf8')),
    { what: 'configs equal a fresh render', timeoutMs: 20_000 },
  );
}

async function restart(endpoint: string): Promise<AgentProcess> {
  const agent = runAgent(env(endpoint));
  await agent.waitForLine(isStart, 'the journal used, or why not', { timeoutMs: 20_000 });
  return agent;
}

beforeAll(async () => {
  etcd = await startEtcd();
  dir = tempDir('rr-journal-restart');
  out = tempDir('rr-journal-restart-ref');
  await put(etcd, '/global/as_num', '64512');
  await put(etcd, `/rr_v4/${RR}`, { ip: RR, cluster_id: '1.0.0.1' });
  await put(etcd, `/global/peer_v4/${RR}`, { ip: RR, as_num: '64512' });
  await put(etcd, '/host/n1/ip_addr_v4', '10.77.1.1');
  const first = runAgent(env(etcd.endpoint));
  await first.waitForLine((l) => l.msg === 'install ok' && l.family === 'v4', 'bird.cfg installed', { timeoutMs: 20_000 });
  await first.waitForLine((l) => l.msg === 'install ok' && l.family === 'v6', 'bird6.cfg installed', { timeoutMs: 20_000 });
  expect(await first.stop()).toBe(0);
}, 60_000);

afterAll(async () => {
  await stopAllAgents();
  await other?.stop();
  await etcd?.stop();
  await removeDir(dir);
  await removeDir(out);
});

describe('restart from the journal, case by case (real etcd)', { timeout: 60_000 }, () => {
  it('etcd compacted past the journal revision: started from the journal, then one full read (compacted)', async () => {
    await put(etcd, '/host/n2/ip_addr_v4', '10.77.1.2');
    await put(etcd, '/host/n3/ip_addr_v4', '10.77.1.3');
    await etcdctl(etcd.endpoint, 'compact', String(await currentRevision(etcd.endpoint)));
    const agent = await restart(etcd.endpoint);
    const started = agent.find((l) => l.msg === STARTED);
    expect(started).toHaveLength(1);
    const resync = await agent.waitForLine((l) => l.msg === 'etcd resynced', 'a full read', { timeoutMs: 20_000 });
    expect(resync).toMatchObject({ cause: 'compacted', after: started[0]!['revision'] });
    await converged(etcd);
    expect(await agent.stop()).toBe(0);
  });

  it('a torn last line: cut off with one log line, started from the journal, the watch resumes from R+1', async () => {
    appendFileSync(journal(), '{"t":"2026-12-02T00:00:00.000Z","run":"x","type":"batch","n":9,"revision":99,"ev');
    await put(etcd, '/host/n4/ip_addr_v4', '10.77.1.4');
    const agent = await restart(etcd.endpoint);
    expect(agent.find((l) => l.msg === 'journal tail cut off at the last intact line')).toEqual([expect.objectContaining({ lines: 1, reason: expect.stringMatching(/torn/) })]);
    const started = agent.find((l) => l.msg === STARTED);
    expect(started).toHaveLength(1);
    const connected = await agent.waitForLine((l) => l.msg === 'etcd connected', 'watch resumed', { timeoutMs: 20_000 });
    expect(connected['resumeFrom']).toBe(Number(started[0]!['revision']) + 1);
    await converged(etcd);
    expect(agent.find((l) => l.msg === 'etcd resynced')).toEqual([]);
    expect(await agent.stop()).toBe(0);
  });

  it('a corrupt line: never folded across (one log line), and the agent still converges', async () => {
    const lines = readFileSync(journal(), 'utf8').split('\n');
    // The newest full state (this run's checkpoint): nothing after it can be folded on it any more.
    const at = lines.map((l, i) => [l, i] as const).filter(([l]) => l.includes('"type":"checkpoint"')).at(-1)![1];
    lines[at] = lines[at]!.replace('10.77.1.', '10.77.9.');
    writeFileSync(journal(), lines.join('\n'));
    await put(etcd, '/host/n5/ip_addr_v4', '10.77.1.5');
    const agent = await restart(etcd.endpoint);
    expect(agent.find((l) => l.msg === 'journal lines corrupt: not folded across')).toEqual([expect.objectContaining({ lines: 1, firstLine: at + 1 })]);
    // Either an older state that renders the files (before the corrupt line), or a wait for etcd: never the corrupt one.
    const how = agent.find(isStart)[0]!;
    console.log(`[detail] after a corrupt checkpoint: ${String(how.msg)} ${String(how['reason'] ?? how['revision'])}`);
    await converged(etcd);
    expect(await agent.stop()).toBe(0);
  });

  it('another etcd cluster answers: started from the journal, then one full read (cluster), and the files follow the new cluster', async () => {
    other = await startEtcd({ name: 'other' });
    await put(other, '/global/as_num', '64512');
    await put(other, `/rr_v4/${RR}`, { ip: RR, cluster_id: '1.0.0.1' });
    await put(other, `/global/peer_v4/${RR}`, { ip: RR, as_num: '64512' });
    await put(other, '/host/m1/ip_addr_v4', '10.77.2.1');
    // A healthy journal again first (the corrupt line is behind the last run's own checkpoint now).
    const agent = await restart(other.endpoint);
    expect(agent.find((l) => l.msg === STARTED)).toHaveLength(1);
    const resync = await agent.waitForLine((l) => l.msg === 'etcd resynced', 'a full read', { timeoutMs: 20_000 });
    expect(resync).toMatchObject({ cause: 'cluster' });
    expect(agent.find((l) => l.msg === 'etcd disconnected' && /cluster id \d+ is not the one the state was read from/.test(String(l['reason'])))).toHaveLength(1);
    await converged(other);
    expect(readFileSync(join(dir, 'bird.cfg'), 'utf8')).toContain('neighbor 10.77.2.1 as');
    expect(await agent.stop()).toBe(0);
  });
});
