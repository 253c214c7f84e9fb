import { describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import type { EtcdEvent } from '../../src/core/events.js';
import { foldBatch, createState } from '../../src/core/state.js';
import { k, kv } from '../support/state.js';

const batch = (revision: number, ...events: EtcdEvent[]) => ({ revision, events });
const put = (suffix: string, value: unknown, revision: number): EtcdEvent => ({ type: 'put', ...kv(suffix, value), revision });

describe('the fold', () => {
  it('indexes puts and deletes, and tracks the revision', () => {
    const s = createState();
    foldBatch(s, PREFIX, batch(5, put('/host/a/ip_addr_v4', '10.0.1.1', 4), put('/host/a/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 1 }, 5)));
    expect(s.revision).toBe(5);
    expect(s.hostIps.v4.get('a')).toBe('10.0.1.1');
    expect(s.hostPeersByIp.v4.get('10.0.0.1')?.size).toBe(1);
    foldBatch(s, PREFIX, batch(6, { type: 'delete', key: k('/host/a/peer_v4/10.0.0.1'), revision: 6 }));
    expect(s.hostPeersByIp.v4.has('10.0.0.1')).toBe(false);
    expect(s.revision).toBe(6);
  });

  it('bumps only the generation of the family an event touches', () => {
    const s = createState();
    foldBatch(s, PREFIX, batch(2, put('/host/a/ip_addr_v6', 'fd00::1', 2)));
    expect(s.changes).toEqual({ v4: 0, v6: 1 });
    foldBatch(s, PREFIX, batch(3, put('/global/as_num', '65000', 3)));
    expect(s.changes).toEqual({ v4: 1, v6: 2 });
    foldBatch(s, PREFIX, batch(4, put('/host/a/as_num', '65000', 4)));
    expect(s.changes).toEqual({ v4: 1, v6: 2 });
  });

  it('does not re-parse or re-report an unchanged value', () => {
    const s = createState();
    const first = foldBatch(s, PREFIX, batch(2, put('/global/as_num', 'bogus', 2)));
    expect(first.rejected).toEqual([{ key: k('/global/as_num'), reason: '"bogus" is not an AS number' }]);
    const again = foldBatch(s, PREFIX, batch(3, put('/global/as_num', 'bogus', 3)));
    expect(again.rejected).toEqual([]);
    expect(s.changes.v4).toBe(0);
  });

  it('replaces a rejected value by a good one and a good one by a rejected one', () => {
    const s = createState();
    foldBatch(s, PREFIX, batch(2, put('/global/as_num', '65000', 2)));
    expect(s.globalAs).toBe(65000);
    foldBatch(s, PREFIX, batch(3, put('/global/as_num', '-1', 3)));
    expect(s.globalAs).toBeUndefined();
    expect(s.invalid.has(k('/global/as_num'))).toBe(true);
    foldBatch(s, PREFIX, batch(4, put('/global/as_num', '65001', 4)));
    expect(s.globalAs).toBe(65001);
    expect(s.invalid.size).toBe(0);
  });

  it('turns a resync into the difference: removes vanished keys, keeps unchanged ones', () => {
    const s = createState();
    foldBatch(s, PREFIX, batch(2, put('/host/a/ip_addr_v4', '10.0.1.1', 2), put('/host/b/ip_addr_v4', '10.0.1.2', 2)));
    const gens = { ...s.changes };
    foldBatch(s, PREFIX, batch(9, { type: 'resync', revision: 9, kvs: [kv('/host/a/ip_addr_v4', '10.0.1.1')] }));
    expect([...s.hostIps.v4.keys()]).toEqual(['a']);
    expect(s.changes.v4).toBe(gens.v4 + 1); // only b's removal
    expect(s.revision).toBe(9);
  });

  it('ignores keys it does not use', () => {
    const s = createState();
    foldBatch(s, PREFIX, batch(2, put('/global/node_mesh', '{"enabled":false}', 2)));
    expect(s.raw.size).toBe(0);
    expect(s.changes).toEqual({ v4: 0, v6: 0 });
  });
});
