/**
 * Self-registration (RR_CLUSTER_ID, issue 17) against a real etcd and the
 * built agent: the entry is written when absent, before the first config is
 * planned (so that config already has the cluster id: no second generation);
 * a stop leaves it; a restart never rewrites it, whatever it holds; an etcd
 * that is away at start is waited for. No BIRD runs here: only what the
 * agent writes to etcd and says in its log is looked at.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { runAgent, stopAllAgents, type LogLine } from '../support/agent.js';
import { etcdctl, startEtcd, type EtcdProcess } from '../support/etcd.js';
import { removeDir, tempDir } from '../support/processes.js';

const RR = '10.77.67.1';
const RR6 = 'fd77::67:1';
const NODE = '10.77.67.11';

let etcd: EtcdProcess;
let dir: string;

const get = async (key: string): Promise<string> => (await etcdctl(etcd.endpoint, 'get', '--print-value-only', key)).trim();
const put = async (key: string, value: string): Promise<void> => {
  await etcdctl(etcd.endpoint, 'put', key, value);
};
const msg = (text: string) => (l: LogLine) => l.msg === text;

function agentEnv(extra: Record<string, string>): Record<string, string> {
  return {
    ETCD_ENDPOINTS: etcd.endpoint,
    CONFIG_DIR: join(dir, `config-${Object.values(extra).join('-')}`),
    BIRD_SOCKET: join(dir, 'none', 'bird.ctl'),
    BIRD6_SOCKET: join(dir, 'none', 'bird6.ctl'),
    LOG_LEVEL: 'info',
    ...extra,
  };
}

beforeAll(async () => {
  dir = tempDir('rr-selfreg');
  etcd = await startEtcd();
  // A node that is a client of this RR: its session carries the cluster id once the RR is registered.
  await put(`${PREFIX}/host/n1/ip_addr_v4`, NODE);
  await put(`${PREFIX}/host/n1/peer_v4/${RR}`, JSON.stringify({ ip: RR, as_num: '64512' }));
}, 60_000);

afterAll(async () => {
  await stopAllAgents();
  await etcd?.stop();
  if (dir) await removeDir(dir);
});

describe('self-registration', () => {
  it('absent: registers rr_v4 and rr_v6 before the first plan; a stop leaves both', async () => {
    const a = runAgent(agentEnv({ IP: RR, IP6: RR6, RR_CLUSTER_ID: '16777217' }));
    const v4 = await a.waitForLine((l) => l.msg === 'self-registration: registered' && l.family === 'v4', 'registered v4');
    await a.waitForLine((l) => l.msg === 'self-registration: registered' && l.family === 'v6', 'registered v6');
    expect(v4).toMatchObject({ ip: RR, clusterId: '1.0.0.1', key: `${PREFIX}/rr_v4/${RR}` });
    expect(await get(`${PREFIX}/rr_v4/${RR}`)).toBe(`{"ip":"${RR}","cluster_id":"1.0.0.1"}`);
    expect(await get(`${PREFIX}/rr_v6/${RR6}`)).toBe(`{"ip":"${RR6}","cluster_id":"1.0.0.1"}`);
    // The first v4 plan already had this RR registered: the client session, and nothing planned after it.
    await a.waitForLine((l) => l.msg === 'write ok' && l.family === 'v4', 'bird.cfg written');
    await new Promise((r) => setTimeout(r, 1500));
    const plans = a.find((l) => typeof l.msg === 'string' && l.msg.startsWith('plan v4'));
    expect(plans.map((l) => l.generation)).toEqual([1]);
    const registeredAt = a.lines.findIndex((l) => l.msg === 'self-registration: registered' && l.family === 'v6');
    expect(a.lines.findIndex((l) => typeof l.msg === 'string' && l.msg.startsWith('plan v4'))).toBeGreaterThan(registeredAt);
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(await get(`${PREFIX}/rr_v4/${RR}`)).toBe(`{"ip":"${RR}","cluster_id":"1.0.0.1"}`);
    expect(await get(`${PREFIX}/rr_v6/${RR6}`)).toBe(`{"ip":"${RR6}","cluster_id":"1.0.0.1"}`);
  }, 60_000);

  it('present (an operator changed the cluster id): left as it is, with one warning', async () => {
    const key = `${PREFIX}/rr_v4/${RR}`;
    await put(key, `{"ip":"${RR}","cluster_id":"1.0.0.9"}`);
    const a = runAgent(agentEnv({ IP: RR, RR_CLUSTER_ID: '1.0.0.1' }));
    const warned = await a.waitForLine(msg('self-registration: registered with another cluster id, left as it is (routereflector rr add changes it)'), 'kept');
    expect(warned).toMatchObject({ level: 'warn', key, clusterId: '1.0.0.1', registeredClusterId: '1.0.0.9' });
    await a.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('plan v4'), 'planned');
    expect(await get(key)).toBe(`{"ip":"${RR}","cluster_id":"1.0.0.9"}`);
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(await get(key)).toBe(`{"ip":"${RR}","cluster_id":"1.0.0.9"}`);
  }, 60_000);

  it('etcd away at start: retried until it answers, then registered', async () => {
    await etcd.kill('SIGKILL');
    const a = runAgent(agentEnv({ IP: '10.77.67.2', RR_CLUSTER_ID: '1.0.0.2' }));
    const retry = await a.waitForLine(msg('self-registration: etcd failed, retrying'), 'a retry', { timeoutMs: 30_000 });
    expect(retry).toMatchObject({ level: 'warn', family: 'v4', ip: '10.77.67.2' });
    await etcd.restart();
    await a.waitForLine(msg('self-registration: registered'), 'registered after etcd came back', { timeoutMs: 30_000 });
    expect(await get(`${PREFIX}/rr_v4/10.77.67.2`)).toBe('{"ip":"10.77.67.2","cluster_id":"1.0.0.2"}');
    expect(await a.stop('SIGTERM')).toBe(0);
  }, 90_000);

  it('a bad RR_CLUSTER_ID exits 2 at start with one line naming it, and writes nothing', async () => {
    const a = runAgent(agentEnv({ IP: '10.77.67.3', RR_CLUSTER_ID: 'rack-3' }));
    await new Promise((r) => setTimeout(r, 3000));
    expect(await a.stop()).toBe(2); // exited by itself: stop only collects the code
    expect(a.stderr()).toMatch(/invalid RR_CLUSTER_ID="rack-3"/);
    expect(await get(`${PREFIX}/rr_v4/10.77.67.3`)).toBe('');
  }, 30_000);
});
