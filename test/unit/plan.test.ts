import { describe, expect, it } from 'vitest';
import { DEFAULT_AS, derivePlan, type FamilyPlan } from '../../src/core/plan.js';
import { seedCluster, seedNode, seedNode6, seedRr, seedRr6, seedRrsOfNode, seedTopology } from '../support/seed.js';
import { kv, stateOf } from '../support/state.js';

const brief = (p: FamilyPlan): string[] =>
  p.sessions.map(
    (s) => `${s.name} ${s.kind} ${s.neighbor} as ${s.localAs}/${s.peerAs}${s.passive ? ' passive' : ''}${s.clusterId ? ` cluster ${s.clusterId}` : ''}`,
  );

describe('the seed topology', () => {
  const state = stateOf(seedTopology({ rr6Ip: seedRr6, node6Ip: seedNode6 }));

  it.each([1, 2, 3, 4, 5, 6])('RR%i meshes with the five others and serves its rack', (i) => {
    const plan = derivePlan(state, 'v4', { ip: seedRr(i) });
    const mesh = plan.sessions.filter((s) => s.kind === 'mesh');
    expect(mesh.map((s) => s.neighbor).sort()).toEqual([1, 2, 3, 4, 5, 6].filter((j) => j !== i).map(seedRr).sort());
    for (const s of mesh) {
      expect(s.localAs).toBe(64512);
      expect(s.clusterId).toBeUndefined();
      expect(s.passive).toBe(Number(s.neighbor.split('.')[3]) < i);
    }
    const clients = plan.sessions.filter((s) => s.kind === 'client');
    const expected = [1, 2, 3, 4, 5, 6, 7, 8, 9].filter((n) => seedRrsOfNode(n).includes(i)).map(seedNode);
    expect(clients.map((s) => s.neighbor)).toEqual(expected);
    for (const s of clients) expect(s.clusterId).toBe(seedCluster(i));
    expect(plan.clusterId).toBe(seedCluster(i));
    expect(plan.notes).toEqual([]);
  });

  it('gives RR1 exactly the sessions the issue names', () => {
    expect(brief(derivePlan(state, 'v4', { ip: seedRr(1) }))).toEqual([
      'Mesh_10_0_0_2 mesh 10.0.0.2 as 64512/64512',
      'Mesh_10_0_0_3 mesh 10.0.0.3 as 64512/64512',
      'Mesh_10_0_0_4 mesh 10.0.0.4 as 64512/64512',
      'Mesh_10_0_0_5 mesh 10.0.0.5 as 64512/64512',
      'Mesh_10_0_0_6 mesh 10.0.0.6 as 64512/64512',
      'Node_10_0_1_1 client 10.0.1.1 as 64512/64512 cluster 1.0.0.1',
      'Node_10_0_1_2 client 10.0.1.2 as 64512/64512 cluster 1.0.0.1',
      'Node_10_0_1_3 client 10.0.1.3 as 64512/64512 cluster 1.0.0.1',
    ]);
  });

  it('plans IPv6 from rr_v6 / peer_v6 / ip_addr_v6 and compares peer_v6 with IP6', () => {
    const plan = derivePlan(state, 'v6', { ip: seedRr(4), ip6: seedRr6(4) });
    expect(plan.source).toBe('fd00::4');
    expect(plan.routerId).toBe('10.0.0.4');
    expect(plan.sessions.filter((s) => s.kind === 'mesh')).toHaveLength(5);
    expect(plan.sessions.filter((s) => s.kind === 'client').map((s) => s.name)).toEqual([
      'Node_fd00__1_4',
      'Node_fd00__1_5',
      'Node_fd00__1_6',
    ]);
  });

  it('plans no IPv6 BGP without IP6', () => {
    const plan = derivePlan(state, 'v6', { ip: seedRr(1) });
    expect(plan.source).toBeUndefined();
    expect(plan.sessions).toEqual([]);
  });
});

describe('membership and defaults', () => {
  it('is a standalone RR without its own rr entry: no mesh, no cluster id', () => {
    const state = stateOf([
      kv('/rr_v4/10.0.0.2', { ip: '10.0.0.2', cluster_id: '1.0.0.1' }),
      kv('/host/a/ip_addr_v4', '10.0.1.1'),
      kv('/host/a/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 64512 }),
    ]);
    const plan = derivePlan(state, 'v4', { ip: '10.0.0.1' });
    expect(brief(plan)).toEqual(['Node_10_0_1_1 client 10.0.1.1 as 64512/64512']);
    expect(plan.member).toBe(false);
  });

  it('uses AS 64511 for the mesh when /global/as_num is absent', () => {
    const state = stateOf([
      kv('/rr_v4/10.0.0.1', { ip: '10.0.0.1' }),
      kv('/rr_v4/10.0.0.2', { ip: '10.0.0.2' }),
    ]);
    const plan = derivePlan(state, 'v4', { ip: '10.0.0.1' });
    expect(plan.asDefaulted).toBe(true);
    expect(brief(plan)).toEqual([`Mesh_10_0_0_2 mesh 10.0.0.2 as ${DEFAULT_AS}/${DEFAULT_AS}`]);
  });

  it('peers a global peer with every node that has an address', () => {
    const state = stateOf([
      kv('/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: '65000' }),
      kv('/host/a/ip_addr_v4', '10.0.1.1'),
      kv('/host/b/ip_addr_v4', '10.0.1.2'),
      kv('/host/c/as_num', '65000'),
    ]);
    expect(brief(derivePlan(state, 'v4', { ip: '10.0.0.1' }))).toEqual([
      'Node_10_0_1_1 client 10.0.1.1 as 65000/65000',
      'Node_10_0_1_2 client 10.0.1.2 as 65000/65000',
    ]);
    expect(derivePlan(state, 'v4', { ip: '10.0.0.9' }).sessions).toEqual([]);
  });
});

describe('one session per neighbour', () => {
  it('merges a global and a node-specific peering of one node, node-specific AS wins', () => {
    const state = stateOf([
      kv('/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 65000 }),
      kv('/host/a/ip_addr_v4', '10.0.1.1'),
      kv('/host/a/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 65001 }),
    ]);
    const plan = derivePlan(state, 'v4', { ip: '10.0.0.1' });
    expect(brief(plan)).toEqual(['Node_10_0_1_1 client 10.0.1.1 as 65001/65001']);
    expect(plan.notes.join()).toMatch(/node a \(10.0.1.1\) has two client peerings with different AS: using 65001/);
  });

  it('gives two hosts with the same address one session, and says so', () => {
    const state = stateOf([
      kv('/host/b/ip_addr_v4', '10.0.1.1'),
      kv('/host/b/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 65002 }),
      kv('/host/a/ip_addr_v4', '10.0.1.1'),
      kv('/host/a/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 65001 }),
    ]);
    const plan = derivePlan(state, 'v4', { ip: '10.0.0.1' });
    expect(brief(plan)).toEqual(['Node_10_0_1_1 client 10.0.1.1 as 65001/65001']);
    expect(plan.notes.join()).toMatch(/nodes a and b share address 10.0.1.1/);
  });

  it('never peers with itself and lets the mesh win over a client', () => {
    const state = stateOf([
      kv('/rr_v4/10.0.0.1', { ip: '10.0.0.1', cluster_id: '1.0.0.1' }),
      kv('/rr_v4/10.0.0.2', { ip: '10.0.0.2', cluster_id: '1.0.0.1' }),
      kv('/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 64512 }),
      kv('/host/rr1/ip_addr_v4', '10.0.0.1'),
      kv('/host/rr2/ip_addr_v4', '10.0.0.2'),
      kv('/host/n/ip_addr_v4', '10.0.1.1'),
    ]);
    const plan = derivePlan(state, 'v4', { ip: '10.0.0.1' });
    expect(brief(plan)).toEqual([
      'Mesh_10_0_0_2 mesh 10.0.0.2 as 64511/64511',
      'Node_10_0_1_1 client 10.0.1.1 as 64512/64512 cluster 1.0.0.1',
    ]);
    expect(plan.notes.join('\n')).toMatch(/own address 10.0.0.1/);
    expect(plan.notes.join('\n')).toMatch(/10.0.0.2\) is also a mesh member/);
  });

  it('treats differently written IPv6 keys for one address as one member', () => {
    const state = stateOf([
      kv('/rr_v6/fd00::1', { ip: 'fd00::1' }),
      kv('/rr_v6/fd00::2', { ip: 'fd00::2' }),
      kv('/rr_v6/fd00:0::2', { ip: 'fd00:0:0::2' }),
    ]);
    const plan = derivePlan(state, 'v6', { ip: '10.0.0.1', ip6: 'fd00::1' });
    expect(plan.sessions.map((s) => s.name)).toEqual(['Mesh_fd00__2']);
  });

  it('notes a node that peers with us without an address', () => {
    const state = stateOf([kv('/host/a/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 64512 })]);
    const plan = derivePlan(state, 'v4', { ip: '10.0.0.1' });
    expect(plan.sessions).toEqual([]);
    expect(plan.notes).toEqual(['node a peers with this RR but has no valid ip_addr_v4']);
  });
});
