import { describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import { classifyKey, parseEntry, type KeyClass } from '../../src/core/keyspace.js';

const parse = (suffix: string, raw: string) => {
  const cls = classifyKey(PREFIX, PREFIX + suffix);
  if (!cls) throw new Error(`not classified: ${suffix}`);
  return parseEntry(cls, raw);
};

describe('classifyKey', () => {
  it.each<[string, KeyClass | undefined]>([
    ['/global/as_num', { kind: 'globalAs' }],
    ['/global/loglevel', { kind: 'loglevel' }],
    ['/global/peer_v4/10.0.0.1', { kind: 'globalPeer', family: 'v4', keyIp: '10.0.0.1' }],
    ['/global/peer_v6/fd00::1', { kind: 'globalPeer', family: 'v6', keyIp: 'fd00::1' }],
    ['/host/n1/ip_addr_v4', { kind: 'hostIp', family: 'v4', node: 'n1' }],
    ['/host/n1/ip_addr_v6', { kind: 'hostIp', family: 'v6', node: 'n1' }],
    ['/host/n1/as_num', { kind: 'hostAs', node: 'n1' }],
    ['/host/n1/peer_v4/10.0.0.1', { kind: 'hostPeer', family: 'v4', node: 'n1', keyIp: '10.0.0.1' }],
    ['/rr_v4/10.0.0.1', { kind: 'rr', family: 'v4', keyIp: '10.0.0.1' }],
    ['/rr_v6/fd00::1', { kind: 'rr', family: 'v6', keyIp: 'fd00::1' }],
    ['/global/node_mesh', undefined],
    ['/host/n1/peer_v5/10.0.0.1', undefined],
    ['/host/n1/ip_addr_v4/extra', undefined],
    ['/rr_v4', undefined],
    ['/rr_v4/', undefined],
  ])('%s', (suffix, expected) => {
    expect(classifyKey(PREFIX, PREFIX + suffix)).toEqual(expected);
  });
  it('ignores keys outside the prefix', () => {
    expect(classifyKey(PREFIX, '/calico/bgp/v1x/global/as_num')).toBeUndefined();
    expect(classifyKey(PREFIX, '/calico/v1/host/a/ip_addr_v4')).toBeUndefined();
  });
});

describe('parseEntry', () => {
  it('parses each kind', () => {
    expect(parse('/global/as_num', '64512')).toEqual({ ok: true, value: { kind: 'globalAs', as: 64512 } });
    expect(parse('/global/loglevel', 'debug')).toEqual({ ok: true, value: { kind: 'loglevel', debug: true } });
    expect(parse('/global/loglevel', 'none')).toEqual({ ok: true, value: { kind: 'loglevel', debug: false } });
    expect(parse('/host/n/ip_addr_v6', 'FD00:0::5')).toEqual({
      ok: true,
      value: { kind: 'hostIp', family: 'v6', node: 'n', ip: 'fd00::5' },
    });
    expect(parse('/rr_v4/10.0.0.1', '{"ip":"10.0.0.1","cluster_id":"1.0.0.1"}')).toEqual({
      ok: true,
      value: { kind: 'rr', family: 'v4', ip: '10.0.0.1', clusterId: '1.0.0.1' },
    });
    expect(parse('/rr_v4/10.0.0.1', '{"ip":"10.0.0.1","cluster_id":""}')).toEqual({
      ok: true,
      value: { kind: 'rr', family: 'v4', ip: '10.0.0.1' },
    });
    expect(parse('/host/n/peer_v6/fd00::1', '{"ip":"fd00:0::1","as_num":"64512"}')).toEqual({
      ok: true,
      value: { kind: 'hostPeer', family: 'v6', node: 'n', ip: 'fd00::1', as: 64512 },
    });
  });

  it.each([
    ['/rr_v4/10.0.0.1', '{"ip":"10.0.0.1"', /not JSON/],
    ['/rr_v4/10.0.0.1', '["10.0.0.1"]', /not a JSON object/],
    ['/rr_v4/10.0.0.1', '{"ip":"10.0.0.2"}', /differs from the key/],
    ['/rr_v4/10.0.0.1', '{"ip":"10.0.0.1","cluster_id":"1.2.3"}', /cluster_id/],
    ['/rr_v4/bogus', '{"ip":"10.0.0.1"}', /key address/],
    ['/host/n/ip_addr_v4', '10.0.0.9; protocol kernel { }', /not an IPv4 address/],
    ['/host/n/ip_addr_v4', '10.0.0.9\nprotocol kernel {}', /not an IPv4 address/],
    ['/host/n/peer_v4/10.0.0.1', '{"ip":"10.0.0.1; protocol kernel { }","as_num":1}', /"ip"/],
    ['/host/n/peer_v4/10.0.0.1', '{"ip":"10.0.0.1","as_num":"4294967296"}', /out of range/],
    ['/host/n/peer_v4/10.0.0.1', '{"ip":"10.0.0.1"}', /as_num/],
    ['/global/as_num', '0', /out of range/],
    ['/global/as_num', '64512 }', /not an AS number/],
    ['/global/loglevel', 'verbose', /log level/],
  ])('%s = %j is rejected', (suffix, raw, reason) => {
    const p = parse(suffix, raw);
    expect(p.ok).toBe(false);
    expect(p.ok ? '' : p.reason).toMatch(reason);
  });
});
