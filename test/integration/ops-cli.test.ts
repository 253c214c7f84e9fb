/**
 * Operator CLI against a real etcd: rr add/remove/list (validated: nothing is
 * written on bad input), and usage errors of every command.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { MAIN } from '../support/agent.js';
import { etcdctl, startEtcd, type EtcdProcess } from '../support/etcd.js';

let etcd: EtcdProcess;

async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await execa(process.execPath, [MAIN, ...args], {
    env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin`, ETCD_ENDPOINTS: etcd.endpoint, ...env },
    extendEnv: false,
    reject: false,
    timeout: 30_000,
  });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}
const keys = async (): Promise<string> => etcdctl(etcd.endpoint, 'get', '--prefix', `${PREFIX}/rr_`);

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

describe('routereflector rr', () => {
  it('adds, lists and removes route reflectors in the v3 keyspace', async () => {
    let r = await cli(['rr', 'add', '--ip', '10.0.0.1', '--cluster-id', '1.0.0.1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/registered 10.0.0.1 \(v4, cluster id 1.0.0.1\)/);
    r = await cli(['rr', 'add', '--ip', 'fd00:0::2', '--cluster-id', '16777217']);
    expect(r.code).toBe(0);
    expect(await etcdctl(etcd.endpoint, 'get', `${PREFIX}/rr_v4/10.0.0.1`, '--print-value-only')).toBe('{"ip":"10.0.0.1","cluster_id":"1.0.0.1"}\n');
    // Canonical address and cluster id.
    expect(await etcdctl(etcd.endpoint, 'get', `${PREFIX}/rr_v6/fd00::2`, '--print-value-only')).toBe('{"ip":"fd00::2","cluster_id":"1.0.0.1"}\n');

    r = await cli(['rr', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^KIND\s+FAMILY\s+IP\s+CLUSTER ID\s+STATUS\nrr\s+v4\s+10.0.0.1\s+1.0.0.1\s+ok\nrr\s+v6\s+fd00::2\s+1.0.0.1\s+ok\n?$/);
    // With NODENAME, this RR's own peers too (kind peer), the password never shown.
    await etcdctl(etcd.endpoint, 'put', `${PREFIX}/host/rr-a/peer_v4/10.0.9.1`, '{"ip":"10.0.9.1","as_num":"65000","password":"Sekr1t-pw"}');
    r = await cli(['rr', 'list'], { NODENAME: 'rr-a' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^KIND\s+FAMILY\s+IP\s+CLUSTER ID\s+AS\s+PASSWORD\s+STATUS\n(rr\s.*\n){2}peer\s+v4\s+10.0.9.1\s+-\s+65000\s+set\s+ok\n?$/);
    r = await cli(['rr', 'list', '--json'], { NODENAME: 'rr-a' });
    expect(r.stdout).not.toContain('Sekr1t-pw');
    expect(JSON.parse(r.stdout)).toContainEqual(expect.objectContaining({ kind: 'peer', ip: '10.0.9.1', as: 65000, password: true, valid: true }));
    await etcdctl(etcd.endpoint, 'del', `${PREFIX}/host/rr-a/peer_v4/10.0.9.1`);
    await etcdctl(etcd.endpoint, 'put', `${PREFIX}/rr_v4/10.0.0.3`, '{"ip":"10.0.0.4"}'); // written by hand, wrong
    r = await cli(['rr', 'list', '--json']);
    const rows = JSON.parse(r.stdout) as Array<{ ip: string; valid: boolean; reason?: string }>;
    expect(rows.map((x) => [x.ip, x.valid])).toEqual([['10.0.0.1', true], ['10.0.0.3', false], ['fd00::2', true]]);
    expect(rows[1]?.reason).toMatch(/differs from the key's address/);

    r = await cli(['rr', 'remove', '--ip', 'fd00::2']);
    expect(r.code).toBe(0);
    r = await cli(['rr', 'remove', '--ip', '10.0.0.3']);
    expect(r.code).toBe(0);
    r = await cli(['rr', 'remove', '--ip', '10.0.0.3']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/10.0.0.3 is not registered/);
    // A key that spells the address differently is found too.
    await etcdctl(etcd.endpoint, 'put', `${PREFIX}/rr_v6/fd00:0::7`, '{"ip":"fd00::7"}');
    r = await cli(['rr', 'remove', '--ip', 'fd00::7']);
    expect(r.code).toBe(0);
    expect(await keys()).toMatch(/^\/calico\/bgp\/v1\/rr_v4\/10.0.0.1\n{"ip":"10.0.0.1","cluster_id":"1.0.0.1"}\n?$/);
  });

  it.each([
    [['rr', 'add', '--ip', '10.0.0.300'], /--ip "10.0.0.300" is not a usable IPv4 or IPv6 address/],
    [['rr', 'add', '--ip', '224.0.0.1'], /not a usable/],
    [['rr', 'add', '--ip', '10.0.0.9', '--cluster-id', '1.2.3'], /--cluster-id: cluster id "1.2.3" is neither a dotted quad nor a uint32/],
    [['rr', 'add', '--ip', '10.0.0.9', '--cluster-id', '4294967296'], /--cluster-id: cluster id "4294967296" is out of range/],
    [['rr', 'add'], /--ip is required/],
    [['rr', 'add', '--ip', '10.0.0.9', '--bogus'], /Unknown option '--bogus'/],
    [['rr', 'frob'], /unknown subcommand "frob"/],
    [['explain', 'not-an-ip'], /"not-an-ip" is not a usable IPv4 or IPv6 address/],
    [['explain'], /one address expected/],
    [['replay'], /one journal file expected/],
    [['status', '--family', 'v5'], /--family must be v4 or v6/],
  ])('%j: exit 2, a clear message, nothing written', async (args, message) => {
    const before = await keys();
    const r = await cli(args, { IP: '10.0.0.1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await keys()).toBe(before);
  });

  it('every command has --help', async () => {
    for (const c of ['run', 'render', 'status', 'explain', 'rr', 'replay']) {
      const r = await cli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`usage: routereflector.*${c === 'run' ? '' : c}`));
    }
  });

  it('fails with exit 1 when etcd or the journal cannot be read', async () => {
    let r = await cli(['rr', 'list'], { ETCD_ENDPOINTS: 'http://127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/etcd at http:\/\/127.0.0.1:1/);
    r = await cli(['replay', '/nonexistent/journal']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot read journal \/nonexistent\/journal: ENOENT/);
  });
});
