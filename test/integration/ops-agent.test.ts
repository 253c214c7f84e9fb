/**
 * Operations against a running agent with real etcd and BIRD (in a network
 * namespace): /readyz and /livez, /metrics, change impact, `status`,
 * `explain`, BIRD debug from the datastore, and the journal replayed byte for
 * byte.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, stopAllAgents, type AgentProcess, type LogLine } from '../support/agent.js';
import { waitEstablished, type BirdHandle } from '../support/bird.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { AS, N1, RR, RR6, createRrLab, type RrLab } from '../support/rr-lab.js';

let lab: RrLab;
let dir: string;
let agent: AgentProcess;
let rrBird: BirdHandle;
let base: string;
let readyBeforeBird: { code: number; body: string };
const journal = () => join(dir, 'journal.jsonl');

const put = (suffix: string, value: unknown) => lab.put(suffix, value);
const cfg = (name: 'bird.cfg' | 'bird6.cfg') => readFileSync(join(dir, name), 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function get(path: string): Promise<{ code: number; body: string; type: string }> {
  const r = await fetch(`${base}${path}`);
  return { code: r.status, body: await r.text(), type: r.headers.get('content-type') ?? '' };
}
async function cli(args: string[]) {
  const r = await execa(process.execPath, [MAIN, ...args], {
    env: {
      PATH: `${process.env['PATH'] ?? ''}:/usr/sbin`,
      IP: RR,
      IP6: RR6,
      ETCD_ENDPOINTS: lab.etcd.endpoint,
      BIRD_SOCKET: join(dir, 'bird.ctl'),
      BIRD6_SOCKET: join(dir, 'bird6.ctl'),
    },
    extendEnv: false,
    reject: false,
    timeout: 30_000,
  });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Prometheus text format: every line a comment or `name{labels} value`. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}
const metrics = async () => parseMetrics((await get('/metrics')).body);
const plan = (family: string, summary: string) => (l: LogLine) => l.msg === `plan ${family} sessions ${summary}`;

beforeAll(async () => {
  dir = tempDir('rr-ops');
  lab = await createRrLab({ prefix: `rro${process.pid % 10000}` });
  const rr = await lab.startRr({
    dir,
    env: { SESSION_POLL_MS: '1000', HTTP_LISTEN: '127.0.0.1:0', JOURNAL_FILE: journal(), BIRDC_BIN: '/usr/local/bin/my-birdc' },
    withBird6: true,
    beforeBird: async (a) => {
      const listening = await a.waitForLine((l) => l.msg === 'http listening', 'http listening');
      base = `http://127.0.0.1:${String(listening.port)}`;
      readyBeforeBird = await get('/readyz');
    },
  });
  agent = rr.agent;
  rrBird = rr.bird;
  await lab.startNode('n1', N1, '10.77.100.0/24');
  await waitEstablished(rrBird.socket, 'Node_10_77_0_11');
}, 120_000);

afterAll(async () => {
  await stopAllAgents();
  await killAllTracked();
  await lab?.destroy();
  if (dir) await removeDir(dir);
});

describe('ops endpoints, CLI and journal against a running agent', () => {
  it('says once that a BIRDC_BIN left in the environment is ignored (BIRD is reloaded on its socket)', () => {
    const warned = agent.lines.filter((l) => String(l.msg).startsWith('BIRDC_BIN is ignored'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ level: 'warn', BIRDC_BIN: '/usr/local/bin/my-birdc' });
  });

  it('names the BIRD of each family once: in the log, /status and routereflector_bird_info', async () => {
    const logged = agent.lines.filter((l) => l.msg === 'BIRD');
    expect(logged.map((l) => [l.family, l.version, l.dialect])).toEqual([['v4', '1.6.8', 'bird1'], ['v6', '1.6.8', 'bird1']]);
    const status = JSON.parse((await get('/status')).body) as { bird: Record<string, unknown> };
    expect(status.bird).toEqual({ v4: { bin: 'bird', version: '1.6.8', dialect: 'bird1' }, v6: { bin: 'bird6', version: '1.6.8', dialect: 'bird1' } });
    const m = await metrics();
    expect(m.get('routereflector_bird_info{family="v4",version="1.6.8",dialect="bird1"}')).toBe(1);
    expect(m.get('routereflector_bird_info{family="v6",version="1.6.8",dialect="bird1"}')).toBe(1);
  });

  it('/readyz goes from 503 (BIRD not running the plan) to 200; /livez is 200', async () => {
    expect(readyBeforeBird.code).toBe(503);
    expect(readyBeforeBird.body).toMatch(/^not ready: .*bird: runs no config of this agent, current is 1/);
    expect(readyBeforeBird.body.trim().split('\n')).toHaveLength(1);
    await waitFor(async () => (await get('/readyz')).code === 200, { what: '/readyz 200', timeoutMs: 20_000 });
    expect((await get('/readyz')).body).toBe('ok\n');
    expect((await get('/livez')).code).toBe(200);
    expect(agent.find((l) => l.msg === 'ready: BIRD and BIRD6 run the current plan').length).toBeGreaterThan(0);
  });

  it('/metrics is Prometheus text, and the reload counter moves on a change', async () => {
    const r = await get('/metrics');
    expect(r.code).toBe(200);
    expect(r.type).toMatch(/^text\/plain/);
    const m0 = parseMetrics(r.body);
    for (const name of [
      'process_cpu_seconds_total',
      'routereflector_etcd_connected',
      'routereflector_etcd_revision',
      'routereflector_config_generation{family="v4"}',
      'routereflector_reloads_total{family="v4",outcome="ok"}',
      'routereflector_planned_sessions{family="v4",kind="client"}',
      'routereflector_daemon_up{family="v4"}',
      'routereflector_ready',
    ]) expect(m0.has(name), name).toBe(true);
    expect([...m0.keys()].some((k) => k.startsWith('routereflector_reload_duration_seconds_bucket{'))).toBe(true);
    expect([...m0.keys()].some((k) => k.startsWith('routereflector_render_duration_seconds_count{'))).toBe(true);
    expect(m0.get('routereflector_etcd_connected')).toBe(1);
    expect(m0.get('routereflector_planned_sessions{family="v4",kind="client"}')).toBe(1);
    await waitFor(async () => (await metrics()).get('routereflector_bgp_sessions{family="v4",state="Established"}') === 1, { what: 'one established session in /metrics' });

    const reloads = m0.get('routereflector_reloads_total{family="v4",outcome="ok"}') ?? 0;
    await put('/host/n2/ip_addr_v4', '10.77.0.12');
    await put(`/host/n2/peer_v4/${RR}`, { ip: RR, as_num: AS });
    await waitFor(async () => ((await metrics()).get('routereflector_reloads_total{family="v4",outcome="ok"}') ?? 0) > reloads, { what: 'reload counter to move' });
    await waitFor(async () => (await metrics()).get('routereflector_planned_sessions{family="v4",kind="client"}') === 2, { what: 'two planned client sessions' });
    await waitFor(async () => ((await metrics()).get('routereflector_config_generation{family="v4"}') ?? 0) > (m0.get('routereflector_config_generation{family="v4"}') ?? 0), { what: 'generation up' });
    const m1 = await metrics();
    expect(m1.get('routereflector_etcd_revision')).toBeGreaterThan(m0.get('routereflector_etcd_revision') ?? 0);
    // The change was checked by the running BIRD itself (configure "<stage>"), the first config by bird -p (BIRD not up yet).
    const daemonChecks = 'routereflector_config_checks_total{family="v4",by="daemon",outcome="ok"}';
    expect(m1.get(daemonChecks) ?? 0).toBeGreaterThan(m0.get(daemonChecks) ?? 0);
    expect(m1.get('routereflector_config_checks_total{family="v4",by="bird -p",outcome="ok"}')).toBeGreaterThanOrEqual(1);
  });

  it('change impact: an added peer is +1, an altered session ~1 and an expected reset', async () => {
    await agent.waitForLine(plan('v4', '+1 -0 ~0'), 'plan +1 for the added peer');
    const resets = (await metrics()).get('routereflector_expected_session_resets_total{family="v4"}') ?? 0;
    const mark = agent.lines.length;
    await put(`/host/n2/peer_v4/${RR}`, { ip: RR, as_num: 65000 });
    const line = await agent.waitForLine(plan('v4', '+0 -0 ~1'), 'plan ~1 for the altered session', { from: mark });
    expect(line.changed).toEqual(['Node_10_77_0_12']);
    await waitFor(async () => (await metrics()).get('routereflector_expected_session_resets_total{family="v4"}') === resets + 1, { what: 'expected resets +1' });
    // Planned sessions are counted from each diff: a changed session keeps the count, a removed one lowers it.
    const planned = async (): Promise<number | undefined> => (await metrics()).get('routereflector_planned_sessions{family="v4",kind="client"}');
    expect(await planned()).toBe(2);
    let m = agent.lines.length;
    await lab.del(`/host/n2/peer_v4/${RR}`);
    await agent.waitForLine(plan('v4', '+0 -1 ~0'), 'plan -1 for the removed peer', { from: m });
    await waitFor(async () => (await planned()) === 1, { what: 'one planned client session' });
    m = agent.lines.length;
    await put(`/host/n2/peer_v4/${RR}`, { ip: RR, as_num: 65000 });
    await agent.waitForLine(plan('v4', '+1 -0 ~0'), 'plan +1 for the peer put back', { from: m });
    await waitFor(async () => (await planned()) === 2, { what: 'two planned client sessions again' });
  });

  it('status lists each BGP session with neighbour, kind and state', async () => {
    const r = await cli(['status', '--json']);
    expect(r.code).toBe(0);
    const daemons = JSON.parse(r.stdout) as Array<{ family: string; answered: boolean; sessions: Array<Record<string, string>> }>;
    expect(daemons.map((d) => [d.family, d.answered])).toEqual([['v4', true], ['v6', true]]);
    const n1 = daemons[0]?.sessions.find((s) => s['name'] === 'Node_10_77_0_11');
    expect(n1).toMatchObject({ neighbor: N1, kind: 'client', state: 'Established' });
    const n2 = daemons[0]?.sessions.find((s) => s['name'] === 'Node_10_77_0_12');
    expect(n2?.['state']).not.toBe('Established'); // no BIRD behind it
    const text = await cli(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^bird \(v4\): BIRD [0-9.]+, 2 BGP sessions, 1 established\nNAME\s+NEIGHBOR\s+KIND\s+STATE\s+SINCE\s+LAST ERROR\n/);
    expect(text.stdout).toMatch(/Node_10_77_0_11\s+10\.77\.0\.11\s+client\s+Established/);
  });

  it('explain says why a peer is configured, or missing', async () => {
    let r = await cli(['explain', N1]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^10.77.0.11 \(v4\) IS a neighbour of this RR \(10.77.0.1\): Node_10_77_0_11\n {2}rule: client: node n1 has 10.77.0.11 and peers with this RR through \/calico\/bgp\/v1\/host\/n1\/peer_v4\/10.77.0.1/);
    await put('/host/n9/ip_addr_v4', '10.77.0.19');
    await put(`/host/n9/peer_v4/${RR}`, { ip: RR, as_num: 'sixty' });
    r = await cli(['explain', '10.77.0.19', '--json']);
    expect(r.code).toBe(3);
    const e = JSON.parse(r.stdout) as { inPlan: boolean; rule: string; details: string[]; keys: Array<{ key: string; valid: boolean; reason?: string }> };
    expect(e.inPlan).toBe(false);
    expect(e.rule).toMatch(/node n9 has 10.77.0.19 but is not a client of this RR/);
    expect(e.details.join('\n')).toMatch(/validation failed: \/calico\/bgp\/v1\/host\/n9\/peer_v4\/10.77.0.1: "as_num": "sixty" is not an AS number/);
    r = await cli(['explain', '10.77.9.9']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/why: no key under \/calico\/bgp\/v1 mentions 10.77.9.9/);
  });

  it('/global/loglevel debug turns BGP debugging on in BIRD', async () => {
    const mark = agent.lines.length;
    await put('/global/loglevel', 'debug');
    const planned = await agent.waitForLine((l) => l.msg === 'plan v4 sessions +0 -0 ~0' && l.templateChanged === true, 'plan with the template changed', { from: mark });
    await agent.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v4' && l.generation === planned.generation, 'reload with debug', { from: mark });
    expect(cfg('bird.cfg')).toContain('debug all;');
    await put('/global/loglevel', 'none');
    await waitFor(() => cfg('bird.cfg').includes('debug off;'), { what: 'debug off again' });
  });

  it('replay rebuilds every generation byte for byte from the journal', async () => {
    await sleep(1500); // let the last change settle (debounce ceiling 1 s)
    const out = join(dir, 'replayed');
    const r = await cli(['replay', journal(), '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { runs: string[]; problems: string[]; configs: Array<{ run: string; family: string; generation: number; sha256: string; verified: boolean }> };
    expect(res.runs).toHaveLength(1);
    expect(res.problems).toEqual([]);
    // The agent logged a sha256 for each generation it rendered: the replay has every one, with the same bytes.
    const logged = agent.find((l) => typeof l.msg === 'string' && l.msg.startsWith('plan v') && typeof l.sha256 === 'string');
    expect(logged.length).toBeGreaterThanOrEqual(6);
    expect(res.configs.map((c) => `${c.family} ${c.generation} ${c.sha256}`).sort()).toEqual(logged.map((l) => `${String(l.family)} ${String(l.generation)} ${String(l.sha256)}`).sort());
    expect(res.configs.every((c) => c.verified)).toBe(true);
    // The newest replayed files are the agent's files, byte for byte.
    expect(readFileSync(join(out, 'bird.cfg'), 'utf8')).toBe(cfg('bird.cfg'));
    expect(readFileSync(join(out, 'bird6.cfg'), 'utf8')).toBe(cfg('bird6.cfg'));
    const run = res.runs[0]!;
    const files = readdirSync(join(out, run));
    expect(files.filter((f) => f.startsWith('bird.cfg.')).length).toBe(res.configs.filter((c) => c.family === 'v4').length);
    // The journal also holds health transitions and outcomes.
    const types = new Set(readFileSync(journal(), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type));
    for (const t of ['start', 'batch', 'settled', 'config', 'health', 'outcome', 'etcd']) expect(types.has(t), t).toBe(true);
  });

  it('stop BIRD: /livez says which daemon, status exits 1', async () => {
    await rrBird.stop();
    await waitFor(async () => (await get('/livez')).code === 503, { what: '/livez 503' });
    const live = await get('/livez');
    // One line naming the daemon (bird6's probe may time out too on a loaded machine).
    // The reason is the probe's: ECONNREFUSED, ENOENT, or "shutting down" when it caught BIRD stopping.
    expect(live.body).toMatch(/^not live: bird: control socket not answering \([^)\n]+\)(;[^\n]*)?\n$/);
    expect((await get('/readyz')).code).toBe(503);
    expect((await metrics()).get('routereflector_daemon_up{family="v4"}')).toBe(0);
    const r = await cli(['status']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bird does not answer on .*bird\.ctl/);
    expect(r.stdout).toMatch(/bird6 \(v6\): BIRD [0-9.]+, \d+ BGP sessions/);
  });

  it('exits 0 on SIGTERM', async () => {
    const code = await agent.stop('SIGTERM');
    expect(code, `signal ${String(agent.child.signalCode)}; stderr ${agent.stderr()}\n${JSON.stringify(agent.lines.slice(-5))}`).toBe(0);
  });
});
