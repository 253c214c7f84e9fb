/**
 * The CLI contract: environment validation at start, and the one-shot
 * `render` against an etcd holding the seed topology.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN } from '../support/agent.js';
import { birdBins } from '../support/dialect.js';
import { etcdctl, startEtcd, type EtcdProcess } from '../support/etcd.js';
import { removeDir, tempDir } from '../support/processes.js';
import { seedNode6, seedRr, seedRr6, seedTopology } from '../support/seed.js';

let etcd: EtcdProcess;
let dir: string;

function cli(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin`, LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  dir = tempDir('rr-cli');
  etcd = await startEtcd();
  for (const { key, value } of seedTopology({ rr6Ip: seedRr6, node6Ip: seedNode6 })) await etcdctl(etcd.endpoint, 'put', key, value);
});

afterAll(async () => {
  await etcd?.stop();
  if (dir) await removeDir(dir);
});

describe('environment validation', () => {
  it.each([
    [{}, /IP is required/],
    [{ IP: 'abc' }, /invalid IP="abc"/],
    [{ IP: '10.0.0.1', IP6: '10.0.0.1' }, /invalid IP6="10.0.0.1"/],
    [{ IP: '10.0.0.1', ETCD_ENDPOINTS: 'ftp://x:1' }, /ETCD_ENDPOINTS.*scheme/],
    [{ IP: '10.0.0.1', ETCD_AUTHORITY: 'nohost' }, /invalid ETCD_AUTHORITY="nohost"/],
    [{ IP: '10.0.0.1', DEBOUNCE_MS: 'soon' }, /invalid DEBOUNCE_MS/],
    [{ IP: '10.0.0.1', ETCD_CA_CERT_FILE: '/nonexistent/ca.pem' }, /ETCD_CA_CERT_FILE=\/nonexistent\/ca.pem: cannot read/],
    [{ IP: '10.0.0.1', BIRD_SOCKET: `/run/${'x'.repeat(110)}.ctl` }, /invalid BIRD_SOCKET=.*: a unix socket path is at most 107 bytes, this one has 119/],
  ])('%j exits 2 with a clear message', (env, message) => {
    const r = cli(['render', '--no-check'], env as Record<string, string>);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it.each([
    [['render', '--no-check'], { BIRD_BIN: '/bin/true' }, /\/bin\/true --version: not a BIRD version line: "true \(GNU coreutils\)/],
    [['run'], { BIRD_BIN: '/nonexistent/bird' }, /cannot run \/nonexistent\/bird --version: ENOENT/],
    [['run'], { BIRD6_BIN: '/bin/true' }, /\/bin\/true --version: not a BIRD version line/],
  ])('%j with %j: an unsupported BIRD exits 2 at start with a clear message', (args, env, message) => {
    const r = cli(args, { IP: '10.0.0.1', ETCD_ENDPOINTS: etcd.endpoint, HTTP_LISTEN: 'off', ...env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects an unknown command and option', () => {
    expect(cli(['frobnicate'], { IP: '10.0.0.1' }).code).toBe(2);
    expect(cli(['render', '--bogus'], { IP: '10.0.0.1' }).code).toBe(2);
  });

  it('prints usage with --help', () => {
    const r = cli(['--help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/usage: routereflector/);
  });
});

describe('routereflector render', () => {
  it('writes the seed RR1 configs that bird -p accepts', () => {
    const out = join(dir, 'rr1');
    const r = cli(['render', '--out', out], { IP: seedRr(1), IP6: seedRr6(1), ETCD_ENDPOINTS: etcd.endpoint });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const text = readFileSync(join(out, 'bird.cfg'), 'utf8');
    expect(text.match(/^protocol bgp Mesh_10_0_0_[2-6] /gm)).toHaveLength(5);
    const clients = [...text.matchAll(/^protocol bgp (Node_\S+) /gm)].map((m) => m[1]);
    expect(clients).toEqual(['Node_10_0_1_1', 'Node_10_0_1_2', 'Node_10_0_1_3']);
    expect(text.match(/rr client;\n {2}rr cluster id 1\.0\.0\.1;/g)).toHaveLength(3);
    expect(readFileSync(join(out, 'bird6.cfg'), 'utf8')).toMatch(/neighbor fd00::1:3 as 64512;/);
  });

  it('writes BIRD 2/3 syntax for a BIRD 3 binary, one binary for both families, accepted by it', () => {
    const bird3 = birdBins('bird3').v4;
    const out = join(dir, 'rr1-bird3');
    const r = cli(['render', '--out', out], { IP: seedRr(1), IP6: seedRr6(1), ETCD_ENDPOINTS: etcd.endpoint, BIRD_BIN: bird3, LOG_LEVEL: 'info' });
    expect(r.code).toBe(0);
    const logged = r.stdout.split('\n').filter((l) => l.includes('config written')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.map((l) => [l['family'], l['bird'], l['dialect']])).toEqual([['v4', '3.1.8', 'bird3'], ['v6', '3.1.8', 'bird3']]);
    expect(readFileSync(join(out, 'bird.cfg'), 'utf8')).toMatch(/\n {2}ipv4 \{\n {4}import all;\n {4}export all;\n/);
    expect(readFileSync(join(out, 'bird6.cfg'), 'utf8')).toMatch(/\n {2}ipv6 \{\n/);
  });

  it('fails clearly when etcd cannot be reached', () => {
    const r = cli(['render', '--no-check', '--out', join(dir, 'x')], { IP: '10.0.0.1', ETCD_ENDPOINTS: 'http://127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot read etcd at http:\/\/127.0.0.1:1/);
  });
});
