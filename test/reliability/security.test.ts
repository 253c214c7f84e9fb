/**
 * Security: a real etcd with TLS (a CA, a server and a client certificate
 * made by openssl here), with client-certificate auth; a real etcd with
 * user/password auth; what the agent logs and writes.
 */
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { MAIN, runAgent, stopAllAgents, type AgentProcess } from '../support/agent.js';
import { killAllTracked, removeDir, tempDir } from '../support/processes.js';
import { figure, grammarViolations, makePki, sleep, startEtcdWith, type CustomEtcd } from '../support/reliability.js';

const RR = '10.77.0.1';
const PASSWORD = 'pw-Zq8!x%s$HOME`id`';
const ROOT_PASSWORD = 'root-pw-K7w2';
const dirs: string[] = [];
const etcds: CustomEtcd[] = [];

afterAll(async () => {
  await stopAllAgents();
  for (const e of etcds) await e.stop();
  await killAllTracked();
  for (const d of dirs) await removeDir(d);
});

const baseEnv = (dir: string): Record<string, string> => ({
  IP: RR,
  CONFIG_DIR: dir,
  BIRD_SOCKET: join(dir, 'bird.ctl'),
  BIRD6_SOCKET: join(dir, 'bird6.ctl'),
  HTTP_LISTEN: 'off',
});

async function render(env: Record<string, string>): Promise<{ code: number | undefined; stderr: string; stdout: string; ms: number }> {
  const t0 = Date.now();
  const r = await execa(process.execPath, [MAIN, 'render', '--out', env['CONFIG_DIR']!], {
    env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`, ...env },
    reject: false,
    timeout: 60_000,
  });
  return { code: r.exitCode, stderr: String(r.stderr), stdout: String(r.stdout), ms: Date.now() - t0 };
}

const noStack = (text: string): void => {
  expect(text).not.toMatch(/^\s+at \S+/m);
  expect(text).not.toMatch(/Please report this error/);
};

function allOutput(a: AgentProcess): string {
  return JSON.stringify(a.lines) + a.stderr();
}

describe('TLS etcd', () => {
  let pki: Awaited<ReturnType<typeof makePki>>;
  let etcd: CustomEtcd;
  const ctl = (...args: string[]): Promise<unknown> =>
    execa('etcdctl', ['--endpoints', etcd.endpoint, '--cacert', pki.ca, '--cert', pki.clientCert, '--key', pki.clientKey, ...args], {
      env: { ETCDCTL_API: '3' },
      timeout: 15_000,
    });

  beforeAll(async () => {
    const dir = tempDir('rr-rel-pki');
    dirs.push(dir);
    pki = await makePki(dir);
    etcd = await startEtcdWith({
      scheme: 'https',
      extraArgs: ['--cert-file', pki.serverCert, '--key-file', pki.serverKey, '--client-cert-auth', '--trusted-ca-file', pki.ca],
      health: async (endpoint) => {
        const r = await execa('etcdctl', ['--endpoints', endpoint, '--cacert', pki.ca, '--cert', pki.clientCert, '--key', pki.clientKey, 'endpoint', 'health'], {
          env: { ETCDCTL_API: '3' },
          reject: false,
          timeout: 10_000,
        });
        return r.exitCode === 0;
      },
    });
    etcds.push(etcd);
    await ctl('put', `${PREFIX}/rr_v4/${RR}`, JSON.stringify({ ip: RR, cluster_id: '1.0.0.1' }));
    await ctl('put', `${PREFIX}/rr_v4/10.77.0.2`, JSON.stringify({ ip: '10.77.0.2', cluster_id: '1.0.0.1' }));
  }, 60_000);
  it('the agent connects with ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE', async () => {
    const dir = tempDir('rr-rel-tls');
    dirs.push(dir);
    const t0 = Date.now();
    const agent = runAgent({ ...baseEnv(dir), ETCD_ENDPOINTS: etcd.endpoint, ETCD_CA_CERT_FILE: pki.ca, ETCD_CERT_FILE: pki.clientCert, ETCD_KEY_FILE: pki.clientKey });
    await agent.waitForLine((l) => l.msg === 'install ok' && l.family === 'v4', 'install over TLS', { timeoutMs: 30_000 });
    figure('TLS etcd', 'agent start to first config over mutual TLS', Date.now() - t0, 'ms');
    expect(readFileSync(join(dir, 'bird.cfg'), 'utf8')).toContain('protocol bgp Mesh_10_77_0_2 ');
    expect(allOutput(agent)).not.toContain('PRIVATE KEY');
    expect(allOutput(agent)).not.toContain(readFileSync(pki.clientKey, 'utf8').split('\n')[1]!);
    await agent.stop();
  }, 60_000);

  it('a wrong CA, a missing client certificate or an unreadable file fail with one clear line, no stack trace', async () => {
    const dir = tempDir('rr-rel-tlsbad');
    dirs.push(dir);
    const env = { ...baseEnv(dir), ETCD_ENDPOINTS: etcd.endpoint };
    let depWarnings = 0;
    const cases: Array<[string, Record<string, string>, number, RegExp]> = [
      ['wrong CA', { ETCD_CA_CERT_FILE: pki.otherCa, ETCD_CERT_FILE: pki.clientCert, ETCD_KEY_FILE: pki.clientKey }, 1, /etcd/i],
      ['no client certificate', { ETCD_CA_CERT_FILE: pki.ca }, 1, /client certificate/],
      ['unreadable client certificate', { ETCD_CA_CERT_FILE: pki.ca, ETCD_CERT_FILE: join(dir, 'nope.pem'), ETCD_KEY_FILE: pki.clientKey }, 2, /ETCD_CERT_FILE=.*nope\.pem.*ENOENT/],
      ['certificate without key', { ETCD_CA_CERT_FILE: pki.ca, ETCD_CERT_FILE: pki.clientCert }, 2, /ETCD_CERT_FILE and ETCD_KEY_FILE/],
    ];
    for (const [name, extra, code, re] of cases) {
      const r = await render({ ...env, ...extra });
      console.log(`[detail] render with ${name}: exit ${String(r.code)} after ${r.ms} ms: ${r.stderr.trim()}`);
      expect(r.code, name).toBe(code);
      // Node's own DEP0123 warning (grpc-js sets the TLS server name to the IP) is not ours: counted, not failed.
      const lines = r.stderr.trim().split('\n');
      const ours = lines.filter((l) => !/DEP0123|--trace-deprecation/.test(l));
      if (ours.length < lines.length) depWarnings++;
      expect(ours, name).toHaveLength(1);
      expect(ours[0], name).toMatch(/^routereflector: /);
      expect(r.stderr, name).toMatch(re);
      noStack(r.stderr + r.stdout);
      figure('TLS etcd', `render with ${name}`, `exit ${String(r.code)} after ${r.ms} ms: ${ours[0]!.slice(0, 160)}`);
    }
    figure('TLS etcd', 'runs that also printed Node\'s DEP0123 warning (TLS server name is an IP)', depWarnings);
    // `run` with a wrong CA: keeps trying, logs why on one line, never installs, no stack trace.
    const agent = runAgent({ ...env, ETCD_CA_CERT_FILE: pki.otherCa, ETCD_CERT_FILE: pki.clientCert, ETCD_KEY_FILE: pki.clientKey });
    const line = await agent.waitForLine((l) => l.msg === 'etcd disconnected', 'disconnect reason', { timeoutMs: 30_000 });
    console.log(`[detail] run with wrong CA logs: ${JSON.stringify(line)}`);
    expect(String(line['reason'])).not.toContain('\n');
    await sleep(2000);
    expect(agent.child.exitCode).toBeNull();
    expect(existsSync(join(dir, 'bird.cfg'))).toBe(false);
    noStack(allOutput(agent));
    await agent.stop();
  }, 180_000);

});

describe('etcd user/password auth', () => {
  it('ETCD_USERNAME/ETCD_PASSWORD from the environment; the password is never logged; a wrong one fails clearly', async () => {
    const etcd = await startEtcdWith({ scheme: 'http', extraArgs: [] });
    etcds.push(etcd);
    const ctl = async (...args: string[]): Promise<void> => {
      await execa('etcdctl', ['--endpoints', etcd.endpoint, ...args], { env: { ETCDCTL_API: '3' }, timeout: 15_000 });
    };
    await ctl('user', 'add', 'root', `--new-user-password=${ROOT_PASSWORD}`);
    await ctl('user', 'add', 'rr', `--new-user-password=${PASSWORD}`);
    await ctl('role', 'add', 'rr-read');
    await ctl('role', 'grant-permission', 'rr-read', 'read', `${PREFIX}/`, '--prefix=true');
    await ctl('user', 'grant-role', 'rr', 'rr-read');
    await ctl('auth', 'enable');
    const asRoot = (...args: string[]): Promise<void> => ctl('--user', `root:${ROOT_PASSWORD}`, ...args);
    await asRoot('put', `${PREFIX}/rr_v4/${RR}`, JSON.stringify({ ip: RR, cluster_id: '1.0.0.1' }));
    await asRoot('put', `${PREFIX}/rr_v4/10.77.0.2`, JSON.stringify({ ip: '10.77.0.2', cluster_id: '1.0.0.1' }));

    const dir = tempDir('rr-rel-auth');
    dirs.push(dir);
    const env = { ...baseEnv(dir), ETCD_ENDPOINTS: etcd.endpoint, ETCD_USERNAME: 'rr', ETCD_PASSWORD: PASSWORD, LOG_LEVEL: 'silly' };
    const agent = runAgent(env);
    await agent.waitForLine((l) => l.msg === 'install ok' && l.family === 'v4', 'install with auth', { timeoutMs: 30_000 });
    expect(readFileSync(join(dir, 'bird.cfg'), 'utf8')).toContain('protocol bgp Mesh_10_77_0_2 ');
    // A change arrives through the authenticated watch too.
    await asRoot('put', `${PREFIX}/rr_v4/10.77.0.3`, JSON.stringify({ ip: '10.77.0.3', cluster_id: '1.0.0.1' }));
    await agent.waitForLine((l) => l.msg === 'install ok' && l.family === 'v4' && readFileSync(join(dir, 'bird.cfg'), 'utf8').includes('Mesh_10_77_0_3'), 'watch with auth', {
      timeoutMs: 20_000,
    });
    // Files: 0644, complete, nothing but the plan; no stage file left.
    for (const [f, file] of [['v4', 'bird.cfg'], ['v6', 'bird6.cfg']] as const) {
      expect((statSync(join(dir, file)).mode & 0o777).toString(8)).toBe('644');
      expect(grammarViolations(readFileSync(join(dir, file), 'utf8'), f)).toEqual([]);
      expect(existsSync(join(dir, `.${file}.stage`))).toBe(false);
    }
    await agent.stop();
    const out = allOutput(agent);
    expect(out).not.toContain(PASSWORD);
    expect(out).not.toContain('pw-Zq8');
    figure('etcd auth', 'password occurrences in the agent output at LOG_LEVEL=silly', 0);
    figure('files', 'bird.cfg/bird6.cfg mode; lines outside the template grammar', '0644; 0');

    // Wrong password: `render` exits 1 with one clear line; `run` logs why; neither shows the password.
    const wrong = 'wrong-Pw-91';
    const r = await render({ ...env, ETCD_PASSWORD: wrong });
    console.log(`[detail] render with a wrong password: exit ${String(r.code)}: ${r.stderr.trim()}`);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/auth|credential|password/i);
    expect(r.stderr + r.stdout).not.toContain(wrong);
    noStack(r.stderr);
    figure('etcd auth', 'render with a wrong password', `exit ${String(r.code)}: ${r.stderr.trim().slice(0, 160)}`);
    const a2 = runAgent({ ...env, ETCD_PASSWORD: wrong });
    const line = await a2.waitForLine((l) => l.msg === 'etcd disconnected', 'auth failure logged', { timeoutMs: 30_000 });
    console.log(`[detail] run with a wrong password logs: ${JSON.stringify(line)}`);
    await sleep(1000);
    await a2.stop();
    expect(allOutput(a2)).not.toContain(wrong);
    noStack(allOutput(a2));
  }, 120_000);
});
