import { describe, expect, it } from 'vitest';
import { parseHttpListen, PREFIX } from '../../src/core/config.js';
import { explainAddress, parseAnyAddress } from '../../src/core/explain.js';
import type { Self } from '../../src/core/plan.js';
import { initialOpsStatus, reduceOps } from '../../src/core/readiness.js';
import { parseShowProtocolsAll } from '../support/birdc.js';
import { kv, stateOf } from '../support/state.js';

const self = { ip: '10.0.0.1', ip6: 'fd00::1' };
const peer = (ip: string, as = 64512) => ({ ip, as_num: as });
const state = stateOf([
  kv('/global/as_num', '64512'),
  kv('/rr_v4/10.0.0.1', { ip: '10.0.0.1', cluster_id: '1.0.0.1' }),
  kv('/rr_v4/10.0.0.2', { ip: '10.0.0.2', cluster_id: '1.0.0.1' }),
  kv('/host/n1/ip_addr_v4', '10.0.1.1'),
  kv('/host/n1/peer_v4/10.0.0.1', peer('10.0.0.1')),
  kv('/host/n2/ip_addr_v4', '10.0.1.2'),
  kv('/host/n2/peer_v4/10.0.0.9', peer('10.0.0.9')),
  kv('/host/n3/ip_addr_v4', '10.0.1.300'),
  kv('/host/n3/peer_v4/10.0.0.1', peer('10.0.0.1')),
  kv('/host/n4/ip_addr_v4', '10.0.1.4'),
  kv('/host/n4/peer_v4/10.0.0.1', '{"ip":"10.0.0.1","as_num":"0"}'),
]);
const explain = (addr: string, s = state, me: Self = self) => {
  const a = parseAnyAddress(addr)!;
  return explainAddress(s, PREFIX, me, a.family, a.address);
};

describe('explain', () => {
  it('a node-specific client: the rule and the keys', () => {
    const e = explain('10.0.1.1');
    expect(e.inPlan).toBe(true);
    expect(e.session?.name).toBe('Node_10_0_1_1');
    expect(e.rule).toMatch(/^client: node n1 has 10.0.1.1 and peers with this RR through \/calico\/bgp\/v1\/host\/n1\/peer_v4\/10.0.0.1/);
    expect(e.rule).toMatch(/rr cluster id 1.0.0.1/);
    expect(e.keys.map((k) => k.key)).toEqual([`${PREFIX}/host/n1/ip_addr_v4`, `${PREFIX}/host/n1/peer_v4/10.0.0.1`]);
  });

  it('a mesh member', () => {
    const e = explain('10.0.0.2');
    expect(e.inPlan).toBe(true);
    expect(e.rule).toMatch(/^mesh: .*rr_v4\/10.0.0.2 registers 10.0.0.2/);
  });

  it('a node that peers with another RR', () => {
    const e = explain('10.0.1.2');
    expect(e.inPlan).toBe(false);
    expect(e.rule).toMatch(/node n2 has 10.0.1.2 but is not a client of this RR: neither .*host\/n2\/peer_v4\/10.0.0.1 nor .*global\/peer_v4\/10.0.0.1 exists \(node n2 peers with 10.0.0.9\)/);
  });

  it('a value that failed validation', () => {
    const e = explain('10.0.1.4');
    expect(e.inPlan).toBe(false);
    const bad = e.keys.find((k) => !k.valid);
    expect(bad?.key).toBe(`${PREFIX}/host/n4/peer_v4/10.0.0.1`);
    expect(bad?.reason).toMatch(/"as_num": AS 0 is out of range/);
    expect(e.details.join('\n')).toMatch(/validation failed: .*host\/n4\/peer_v4\/10.0.0.1/);
  });

  it('an unknown address, our own address, a standalone RR and no IP6', () => {
    expect(explain('10.9.9.9').rule).toBe(`no key under ${PREFIX} mentions 10.9.9.9`);
    expect(explain('10.0.0.1').rule).toMatch(/own address/);
    const standalone = stateOf([kv('/rr_v4/10.0.0.2', { ip: '10.0.0.2', cluster_id: '' })]);
    expect(explain('10.0.0.2', standalone).rule).toMatch(/registered route reflector .* but this one is not registered/);
    expect(explain('fd00::5', state, { ip: '10.0.0.1' }).rule).toMatch(/IP6 is not set/);
    expect(parseAnyAddress('fd00:0::1')).toEqual({ family: 'v6', address: 'fd00::1' });
    expect(parseAnyAddress('10.0.0.300')).toBeUndefined();
  });
});

describe('HTTP_LISTEN', () => {
  it.each([
    [undefined, { host: '127.0.0.1', port: 9099 }],
    ['0.0.0.0:80', { host: '0.0.0.0', port: 80 }],
    [':9099', { host: '0.0.0.0', port: 9099 }],
    ['[::1]:9099', { host: '::1', port: 9099 }],
    ['off', undefined],
  ])('%s', (raw, want) => expect(parseHttpListen(raw)).toEqual(want));
  it('rejects nonsense', () => {
    expect(() => parseHttpListen('9099')).toThrow(/HTTP_LISTEN/);
    expect(() => parseHttpListen('x:70000')).toThrow(/HTTP_LISTEN/);
  });
});

describe('readiness reducer', () => {
  it('a reload that fails keeps it not ready, with the reason', () => {
    let s = initialOpsStatus(['v4']);
    s = reduceOps(s, { type: 'batch', revision: 3 });
    s = reduceOps(s, { type: 'health', family: 'v4', up: true, instance: 'a' });
    s = reduceOps(s, { type: 'config', family: 'v4', generation: 1 });
    s = reduceOps(s, { type: 'outcome', family: 'v4', generation: 1, step: 'reload', ok: false, durationMs: 1, message: '8002 error' });
    expect(s.live).toBe(true);
    expect(s.ready).toBe(false);
    expect(s.readyReason).toBe('bird: runs no config of this agent, current is 1 (reload of generation 1 failed: 8002 error)');
  });
});

describe('show protocols all', () => {
  it('reads neighbour, BGP state and last error', () => {
    const out = [
      '0001 BIRD 1.6.8 ready.',
      '2002-name     proto    table    state  since       info',
      '1002-device1  Device   master   up     18:45:24    ',
      '1006-  Preference:     240',
      '1002-Node_127_0_0_2 BGP      master   start  18:45:24    Active        Socket: Connection refused',
      '1006-  Preference:     100',
      '       BGP state:          Active',
      '         Neighbor address: 127.0.0.2',
      '         Neighbor AS:      65000',
      '         Last error:       Socket: Connection refused',
      '0000 ',
    ].join('\n');
    const rows = parseShowProtocolsAll(out);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ name: 'Node_127_0_0_2', proto: 'BGP', state: 'start', bgpState: 'Active', neighbor: '127.0.0.2', lastError: 'Socket: Connection refused' });
  });
});
