/**
 * Issue 15 against real BIRD, on every dialect the route reflector supports
 * (the Calico nodes run BIRD 1.6): MD5 passwords from the peer value (right:
 * Established; wrong: down, with BIRD's own state in `status`; fixed: only
 * that session changes), the config file mode 0600, no password in logs,
 * /metrics, /status, `explain`, `status` or `rr list`, passwords from a
 * mounted secret directory (BGP_PASSWORD_DIR: a node's own address file, and
 * `default` for a node whose value has none), and the client import
 * limit (a node that announces too many prefixes is shut down, logged and
 * counted; the other sessions are untouched).
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, runAgent, stopAllAgents, type AgentProcess } from '../support/agent.js';
import { birdc, sessionResets, startBird, waitEstablished, type BirdHandle } from '../support/bird.js';
import { DIALECTS, birdEnv, birdcBin, dialectName, requireDialect, type Dialect } from '../support/dialect.js';
import { nodeBirdConfig, peerName } from '../support/node-bird.js';
import { killAllTracked, removeDir, tempDir, waitFor } from '../support/processes.js';
import { AS, N1, RR, createRrLab, type RrLab, type RrUnderTest } from '../support/rr-lab.js';

const N2 = '10.77.0.12';
const N3 = '10.77.0.13';
const N4 = '10.77.0.14';
const PW1 = 'n1-Pass;word#{x}';
const PW2 = 'n2-right$pw';
const PW2_NODE = 'n2-the-node-has-this';
/** BGP_PASSWORD_DIR's: N4's own file, and `default` (n3's value has no password). */
const PW4_FILE = 'n4-from-the-secret-dir';
const PW_DEFAULT = 'every-other-client';
const LIMIT = 5;

/** A Calico node's BIRD with an MD5 password towards the RR. */
function nodeConfig(ip: string, routes: string[], password?: string): string {
  const text = nodeBirdConfig({ family: 'v4', routerId: ip, self: ip, rrs: [RR], as: AS, routes });
  return password === undefined ? text : text.replace(`  neighbor ${RR} as ${AS};\n`, `  neighbor ${RR} as ${AS};\n  password "${password}";\n`);
}

describe.each(DIALECTS.map((d, i) => [d, i] as const))('%s: passwords and the import limit', (dialect: Dialect, i: number) => {
  let lab: RrLab;
  let dir: string;
  let rr: RrUnderTest;
  let agent: AgentProcess;
  let base: string;
  let secrets: string;
  const nodes: Record<string, BirdHandle> = {};

  const cli = async (args: string[]) => {
    const r = await execa(process.execPath, [MAIN, ...args], {
      env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin`, IP: RR, BGP_PASSWORD_DIR: secrets, ETCD_ENDPOINTS: lab.etcd.endpoint, BIRD_SOCKET: join(dir, 'bird.ctl'), BIRD6_SOCKET: join(dir, 'bird6.ctl') },
      extendEnv: false,
      reject: false,
      timeout: 30_000,
    });
    return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const rrShow = async (what: string) => (await execa(birdcBin(dialect), ['-s', rr.bird.socket, ...what.split(' ')], { reject: false })).stdout;

  beforeAll(async () => {
    requireDialect(dialect);
    dir = tempDir(`rr-peers-${dialect}`);
    // A Docker secret or a Kubernetes Secret mounted as a directory: one file per address, and default.
    secrets = join(tempDir(`rr-peers-secrets-${dialect}`), 'bgp');
    mkdirSync(secrets, { mode: 0o700 });
    writeFileSync(join(secrets, N4), `${PW4_FILE}\n`, { mode: 0o600 });
    writeFileSync(join(secrets, 'default'), `${PW_DEFAULT}\n`, { mode: 0o600 });
    lab = await createRrLab({ prefix: `rrq${(process.pid % 1000) * 10 + i}`, ipv6: false });
    await lab.put(`/host/n1/peer_v4/${RR}`, { ip: RR, as_num: String(AS), password: PW1, enable_bfd: false });
    await lab.put('/host/n2/ip_addr_v4', N2);
    await lab.put(`/host/n2/peer_v4/${RR}`, { ip: RR, as_num: String(AS), password: PW2 });
    await lab.put('/host/n3/ip_addr_v4', N3);
    await lab.put(`/host/n3/peer_v4/${RR}`, { ip: RR, as_num: String(AS) });
    await lab.put('/host/n4/ip_addr_v4', N4);
    await lab.put(`/host/n4/peer_v4/${RR}`, { ip: RR, as_num: String(AS) });
    rr = await lab.startRr({
      dir,
      dialect,
      env: { CLIENT_IMPORT_LIMIT: String(LIMIT), SESSION_POLL_MS: '500', HTTP_LISTEN: '127.0.0.1:0', BGP_PASSWORD_DIR: secrets },
      beforeBird: async (a) => {
        const listening = await a.waitForLine((l) => l.msg === 'http listening', 'http listening');
        base = `http://127.0.0.1:${String(listening['port'])}`;
      },
    });
    agent = rr.agent;
    const host = async (name: string, ip: string, config: string) => {
      const h = await lab.lab.addHost(name, `${ip}/24`);
      nodes[name] = await startBird({ family: 'v4', netns: h.netns, config });
    };
    await host('n1', N1, nodeConfig(N1, ['10.77.101.0/24'], PW1));
    await host('n2', N2, nodeConfig(N2, ['10.77.102.0/24'], PW2_NODE));
    await host('n3', N3, nodeConfig(N3, Array.from({ length: LIMIT + 3 }, (_, k) => `10.77.${130 + k}.0/24`), PW_DEFAULT));
    await host('n4', N4, nodeConfig(N4, ['10.77.104.0/24'], PW4_FILE));
    await waitEstablished(rr.bird.socket, 'Node_10_77_0_11', 'v4', 30_000);
  }, 180_000);

  afterAll(async () => {
    await stopAllAgents();
    await killAllTracked();
    await lab?.destroy();
    if (dir) removeDir(dir);
    if (secrets) removeDir(dirname(secrets));
  });

  it('writes the config that holds passwords mode 0600', () => {
    expect(statSync(join(dir, 'bird.cfg')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'bird6.cfg')).mode & 0o777).toBe(0o644);
  });

  it('the right password: Established; a wrong one: down, with BIRD\'s own state in `status`', async () => {
    await waitEstablished(nodes['n1']!.socket, peerName(RR), 'v4', 30_000);
    // Give the wrong one the time the right one took, several times over.
    await new Promise((r) => setTimeout(r, 5000));
    const st = await cli(['status', '--json', '--family', 'v4']);
    const sessions = (JSON.parse(st.stdout) as Array<{ sessions: Array<{ name: string; state: string; lastError: string; kind: string }> }>)[0]!.sessions;
    const n2 = sessions.find((s) => s.name === 'Node_10_77_0_12')!;
    expect(n2.kind).toBe('client');
    expect(n2.state).not.toBe('Established');
    // What status shows is what BIRD itself reports for the session.
    const own = await rrShow('show protocols all Node_10_77_0_12');
    expect(own).toContain(`BGP state:          ${n2.state}`);
    if (n2.lastError !== '') expect(own).toContain(n2.lastError);
    expect(sessions.find((s) => s.name === 'Node_10_77_0_11')?.state).toBe('Established');
  }, 60_000);

  it('passwords from BGP_PASSWORD_DIR: the address file and default bring their sessions up; the agent says it read them, not what', async () => {
    await waitEstablished(nodes['n4']!.socket, peerName(RR), 'v4', 30_000);
    await waitEstablished(rr.bird.socket, 'Node_10_77_0_14', 'v4', 30_000);
    const read = await agent.waitForLine((l) => l.msg === 'password files read', 'password files read');
    expect(read).toMatchObject({ dir: secrets, addresses: 1, default: true });
    // n3 came up with default before its import limit shut it down (BIRD says which).
    await waitFor(async () => /Route limit exceeded|Established/i.test(await rrShow('show protocols Node_10_77_0_13')), { timeoutMs: 30_000, intervalMs: 300, what: 'n3 up with the default password' });
    const explain = await cli(['explain', N4]);
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain(`password: from the file for ${N4} in BGP_PASSWORD_DIR ${secrets}`);
    expect(explain.stdout).not.toContain(PW4_FILE);
  }, 60_000);

  it('a node announcing more than CLIENT_IMPORT_LIMIT prefixes is shut down, logged and counted; the others are untouched', async () => {
    await waitFor(async () => /Route limit exceeded/i.test(await rrShow('show protocols Node_10_77_0_13')), { timeoutMs: 30_000, intervalMs: 300, what: 'n3 shut down by its import limit' });
    const line = await agent.waitForLine((l) => String(l.msg).startsWith('import limit exceeded') && l['session'] === 'Node_10_77_0_13', 'import limit line', { timeoutMs: 10_000 });
    expect(line['family']).toBe('v4');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^routereflector_import_limit_hits_total\{family="v4"\} 1$/m);
    expect(metrics).toMatch(/^routereflector_import_limit_blocked_sessions\{family="v4"\} 1$/m);
    // Nothing of n3 is reflected; n1 still has the session it had and sees no n3 prefix.
    const n1Routes = await birdc(nodes['n1']!.socket, 'show route');
    expect(n1Routes).not.toMatch(/10\.77\.13\d\.0\/24/);
    expect(sessionResets(nodes['n1']!.log(), peerName(RR))).toEqual([]);
    await waitEstablished(rr.bird.socket, 'Node_10_77_0_11');
  }, 60_000);

  it('a changed password restarts that session only, which then comes up', async () => {
    const from = agent.lines.length;
    const n1Mark = nodes['n1']!.logMark();
    await lab.put(`/host/n2/peer_v4/${RR}`, { ip: RR, as_num: String(AS), password: PW2_NODE });
    const plan = await agent.waitForLine((l) => l.msg === 'plan v4 sessions +0 -0 ~1', 'plan with one changed session', { from });
    expect(plan['changed']).toEqual(['Node_10_77_0_12']);
    await waitEstablished(rr.bird.socket, 'Node_10_77_0_12', 'v4', 30_000);
    await waitEstablished(nodes['n2']!.socket, peerName(RR), 'v4', 30_000);
    expect(sessionResets(nodes['n1']!.logSince(n1Mark), peerName(RR))).toEqual([]);
    // n2's prefix reaches n1 through the RR.
    await waitFor(async () => (await birdc(nodes['n1']!.socket, 'show route 10.77.102.0/24')).includes('10.77.102.0/24'), { timeoutMs: 20_000, what: 'n2 prefix at n1' });
  }, 60_000);

  it('no password in logs, /metrics, /status, explain, status or rr list', async () => {
    const outputs = [
      JSON.stringify(agent.lines),
      agent.stderr(),
      await (await fetch(`${base}/metrics`)).text(),
      await (await fetch(`${base}/status`)).text(),
      ...(await Promise.all([N1, N2, N3, N4].flatMap((a) => [cli(['explain', a, '--json']), cli(['explain', a])]))).map((r) => r.stdout + r.stderr),
      ...(await Promise.all([cli(['status', '--json']), cli(['rr', 'list', '--json'])])).map((r) => r.stdout + r.stderr),
    ];
    expect(agent.lines.some((l) => l.msg === 'peer value fields ignored' && l['key'] === `/calico/bgp/v1/host/n1/peer_v4/${RR}`)).toBe(true);
    for (const text of outputs) for (const pw of [PW1, PW2, PW2_NODE, PW4_FILE, PW_DEFAULT]) expect(text).not.toContain(pw);
    const explain = await cli(['explain', N1, '--json']);
    expect(explain.stdout).toContain('(redacted)');
  }, 60_000);

  it(`${dialectName(dialect)} runs the options the plan gave it`, async () => {
    const all = await rrShow('show protocols all Node_10_77_0_11');
    expect(all).toMatch(/Import limit:\s+5/);
  });

  it('changing CLIENT_IMPORT_LIMIT (an upgrade adds it to every client) reloads without resetting a session', async () => {
    const marks = { n1: nodes['n1']!.logMark(), n2: nodes['n2']!.logMark() };
    await agent.stop();
    const next = runAgent({
      CONFIG_DIR: dir,
      BIRD_SOCKET: join(dir, 'bird.ctl'),
      BIRD6_SOCKET: join(dir, 'bird6.ctl'),
      PROBE_INTERVAL_MS: '200',
      HTTP_LISTEN: 'off',
      IP: RR,
      ETCD_ENDPOINTS: lab.etcd.endpoint,
      CLIENT_IMPORT_LIMIT: '0',
      BGP_PASSWORD_DIR: secrets,
      ...birdEnv(dialect),
    });
    await next.waitForLine((l) => l.msg === 'reload ok' && l.family === 'v4', 'reload without the limit', { timeoutMs: 30_000 });
    expect(await rrShow('show protocols all Node_10_77_0_11')).not.toMatch(/Import limit/);
    await new Promise((r) => setTimeout(r, 3000));
    expect(sessionResets(nodes['n1']!.logSince(marks.n1), peerName(RR))).toEqual([]);
    expect(sessionResets(nodes['n2']!.logSince(marks.n2), peerName(RR))).toEqual([]);
    await waitEstablished(rr.bird.socket, 'Node_10_77_0_11');
  }, 60_000);
});
