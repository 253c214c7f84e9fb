import { describe, expect, it } from 'vitest';
import { diffPlans, diffSummary } from '../../src/core/plan-diff.js';
import { derivePlan } from '../../src/core/plan.js';
import { kv, stateOf } from '../support/state.js';

const self = { ip: '10.0.0.1' };
const base = [
  kv('/rr_v4/10.0.0.1', { ip: '10.0.0.1', cluster_id: '1.0.0.1' }),
  kv('/rr_v4/10.0.0.2', { ip: '10.0.0.2' }),
  kv('/host/a/ip_addr_v4', '10.0.1.1'),
  kv('/host/a/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 64512 }),
  kv('/host/b/ip_addr_v4', '10.0.1.2'),
  kv('/host/b/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 64512 }),
];

describe('diffPlans', () => {
  it('reports the first plan as all added', () => {
    const d = diffPlans(undefined, derivePlan(stateOf(base), 'v4', self));
    expect(diffSummary(d)).toBe('+3 -0 ~0');
  });

  it('reports an added peer as +1 and an altered session as ~1', () => {
    const before = derivePlan(stateOf(base), 'v4', self);
    const after = derivePlan(
      stateOf([
        ...base.filter((x) => !x.key.endsWith('/host/b/peer_v4/10.0.0.1')),
        kv('/host/b/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 65000 }), // altered
        kv('/host/c/ip_addr_v4', '10.0.0.9'),
        kv('/host/c/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 64512 }), // added (sorts before Node_10_0_1_*)
      ]),
      'v4',
      self,
    );
    const d = diffPlans(before, after);
    expect(d).toEqual({ added: ['Node_10_0_0_9'], removed: [], changed: ['Node_10_0_1_2'], templateChanged: false });
    expect(diffSummary(d)).toBe('+1 -0 ~1');
  });

  it('reports removals, and a cluster id change as a change of every client', () => {
    const before = derivePlan(stateOf(base), 'v4', self);
    const after = derivePlan(
      stateOf([...base.slice(2, 4), kv('/rr_v4/10.0.0.1', { ip: '10.0.0.1', cluster_id: '1.0.0.9' })]),
      'v4',
      self,
    );
    expect(diffPlans(before, after)).toEqual({
      added: [],
      removed: ['Mesh_10_0_0_2', 'Node_10_0_1_2'],
      changed: ['Node_10_0_1_1'],
      templateChanged: false,
    });
  });
});
