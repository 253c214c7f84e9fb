import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from '../../src/core/config.js';
import { decideRegistration, keysFor, registration, selfRegistrations } from '../../src/core/registration.js';

const P = '/calico/bgp/v1';

describe('self-registration (RR_CLUSTER_ID), pure part', () => {
  it('RR_CLUSTER_ID is validated at start-up and kept canonical (a uint32 becomes a dotted quad)', () => {
    expect(configFromEnv({ IP: '10.0.0.1', RR_CLUSTER_ID: '16777217' }).rrClusterId).toBe('1.0.0.1');
    expect(configFromEnv({ IP: '10.0.0.1' }).rrClusterId).toBeUndefined();
    expect(() => configFromEnv({ IP: '10.0.0.1', RR_CLUSTER_ID: '1.0.0.01' })).toThrow(ConfigError);
    expect(() => configFromEnv({ IP: '10.0.0.1', RR_CLUSTER_ID: 'rack-1' })).toThrow(/invalid RR_CLUSTER_ID="rack-1": cluster id "rack-1" is neither/);
  });

  it('one entry per family this RR speaks, the value rr add writes; none without RR_CLUSTER_ID', () => {
    expect(selfRegistrations({ ip: '10.0.0.1', ip6: 'fd00::1', rrClusterId: '1.0.0.1' })).toEqual([
      { family: 'v4', address: '10.0.0.1', clusterId: '1.0.0.1', key: `${P}/rr_v4/10.0.0.1`, value: '{"ip":"10.0.0.1","cluster_id":"1.0.0.1"}' },
      { family: 'v6', address: 'fd00::1', clusterId: '1.0.0.1', key: `${P}/rr_v6/fd00::1`, value: '{"ip":"fd00::1","cluster_id":"1.0.0.1"}' },
    ]);
    expect(selfRegistrations({ ip: '10.0.0.1', rrClusterId: '1.0.0.1' }).map((r) => r.family)).toEqual(['v4']);
    expect(selfRegistrations({ ip: '10.0.0.1', ip6: 'fd00::1' })).toEqual([]);
    expect(registration('v4', '10.0.0.1', '').ok).toBe(true);
    expect(registration('v4', 'fd00::1', '1.0.0.1')).toMatchObject({ ok: false, reason: expect.stringMatching(/^refusing to write/) });
  });

  it('finds this address under any spelling of its key, and only it', () => {
    const keys = [`${P}/rr_v6/fd00:0::1`, `${P}/rr_v6/fd00::10`, `${P}/rr_v4/10.0.0.1`, `${P}/rr_v6/garbage`];
    expect(keysFor('v6', 'fd00::1', keys)).toEqual([`${P}/rr_v6/fd00:0::1`]);
    expect(keysFor('v4', '10.0.0.1', keys)).toEqual([`${P}/rr_v4/10.0.0.1`]);
  });

  it('creates only when absent; keeps an entry whatever its cluster id; reports an invalid one', () => {
    const [want] = selfRegistrations({ ip: '10.0.0.1', rrClusterId: '1.0.0.1' });
    expect(decideRegistration(want!, {})).toEqual({ action: 'create' });
    const key = `${P}/rr_v4/10.0.0.1`;
    expect(decideRegistration(want!, { [key]: '{"ip":"10.0.0.1","cluster_id":"1.0.0.1"}' })).toEqual({ action: 'keep', key, clusterId: '1.0.0.1', matches: true });
    expect(decideRegistration(want!, { [key]: '{"ip":"10.0.0.1","cluster_id":"1.0.0.9"}' })).toEqual({ action: 'keep', key, clusterId: '1.0.0.9', matches: false });
    expect(decideRegistration(want!, { [key]: '{"ip":"10.0.0.1"}' })).toEqual({ action: 'keep', key, clusterId: '', matches: false });
    expect(decideRegistration(want!, { [key]: 'not json' })).toMatchObject({ action: 'invalid', key });
  });
});
