import { describe, expect, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import type { EtcdEvent } from '../../src/core/events.js';
import { createPlanMemo, derivePlan } from '../../src/core/plan.js';
import { createRenderer } from '../support/render.js';
import { foldBatch, createState } from '../../src/core/state.js';

/** A small deterministic PRNG, so a failure replays. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
}

describe('derivePlan with a memo', () => {
  // With NODENAME (node `a` is this RR's own host: its peer_v4 keys are its own peers, its as_num its AS) and without.
  it.each([
    { name: 'without NODENAME', nodeName: undefined },
    { name: 'with NODENAME a', nodeName: 'a' },
  ])('gives the same plan and the same bytes as without, over a random walk of 1,500 changes ($name)', ({ nodeName }) => {
    const rand = rng(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const state = createState(nodeName);
    const self = { ip: '10.0.0.1', ip6: 'fd00::1', ...(nodeName !== undefined ? { nodeName } : {}) };
    const memo = { v4: createPlanMemo(), v6: createPlanMemo() };
    const render = createRenderer();
    const renderFresh = createRenderer(); // its own block cache: fresh plans share no sessions with memoised ones
    const rrs = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
    const nodes = ['a', 'b', 'c', 'd', 'e'];
    const addrs = ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.0.2'];
    const changes: Array<() => Omit<EtcdEvent, 'revision'>> = [
      () => ({ type: 'put', key: `${PREFIX}/host/${pick(nodes)}/ip_addr_v4`, value: pick(addrs) }),
      () => ({ type: 'delete', key: `${PREFIX}/host/${pick(nodes)}/ip_addr_v4` }),
      () => {
        const rr = pick(rrs);
        return { type: 'put', key: `${PREFIX}/host/${pick(nodes)}/peer_v4/${rr}`, value: JSON.stringify({ ip: rr, as_num: pick([64512, 65000]) }) };
      },
      () => ({ type: 'delete', key: `${PREFIX}/host/${pick(nodes)}/peer_v4/${pick(rrs)}` }),
      () => {
        const rr = pick(rrs);
        return { type: 'put', key: `${PREFIX}/rr_v4/${rr}`, value: JSON.stringify({ ip: rr, cluster_id: pick(['', '1.0.0.1', '1.0.0.2']) }) };
      },
      () => ({ type: 'delete', key: `${PREFIX}/rr_v4/${pick(rrs)}` }),
      () => ({ type: 'put', key: `${PREFIX}/global/peer_v4/10.0.0.1`, value: JSON.stringify({ ip: '10.0.0.1', as_num: 64512 }) }),
      () => ({ type: 'delete', key: `${PREFIX}/global/peer_v4/10.0.0.1` }),
      () => ({ type: 'put', key: `${PREFIX}/global/as_num`, value: pick(['64512', '65001']) }),
      () => ({ type: 'put', key: `${PREFIX}/host/${pick(nodes)}/ip_addr_v6`, value: pick(['fd00::1:1', 'fd00::1:2']) }),
      () => ({ type: 'put', key: `${PREFIX}/host/${pick(nodes)}/peer_v6/fd00::1`, value: '{"ip":"fd00::1","as_num":1}' }),
      () => ({ type: 'put', key: `${PREFIX}/host/${pick(nodes)}/as_num`, value: pick(['64512', '65002']) }),
      () => ({ type: 'delete', key: `${PREFIX}/host/${pick(nodes)}/as_num` }),
      () => ({ type: 'put', key: `${PREFIX}/host/${pick(nodes)}/peer_v4/10.0.2.1`, value: JSON.stringify({ ip: '10.0.2.1', as_num: pick([64512, 65003]) }) }),
      () => ({ type: 'put', key: `${PREFIX}/global/loglevel`, value: pick(['debug', 'info']) }),
    ];
    let sessionsSeen = 0;
    for (let rev = 1; rev <= 1500; rev++) {
      const ev = { ...pick(changes)(), revision: rev } as EtcdEvent;
      foldBatch(state, PREFIX, { revision: rev, events: [ev] });
      for (const family of ['v4', 'v6'] as const) {
        const fresh = derivePlan(state, family, self);
        const memoised = derivePlan(state, family, self, memo[family]);
        expect(memoised).toEqual(fresh);
        expect(Buffer.concat(render(memoised)).toString('latin1')).toBe(Buffer.concat(renderFresh(fresh)).toString('latin1'));
        sessionsSeen += fresh.sessions.length;
      }
    }
    expect(sessionsSeen).toBeGreaterThan(1000); // the walk really exercised sessions
  });

  it('renders the same bytes from its chunk cache as a fresh renderer, over a walk of 250 changes at 2,000 clients', () => {
    const rand = rng(7);
    const state = createState();
    const self = { ip: '10.0.0.1' };
    const memo = createPlanMemo();
    const render = createRenderer();
    const addr = (i: number): string => `10.1.${i >> 8}.${i & 255}`;
    const peer = (node: number, as: number) => ({
      type: 'put' as const,
      key: `${PREFIX}/host/n${node}/peer_v4/10.0.0.1`,
      value: JSON.stringify({ ip: '10.0.0.1', as_num: as }),
    });
    const seed: EtcdEvent[] = [];
    for (let n = 0; n < 2000; n++) {
      seed.push({ type: 'put', key: `${PREFIX}/host/n${n}/ip_addr_v4`, value: addr(n), revision: 1 }, { ...peer(n, 64512), revision: 1 });
    }
    foldBatch(state, PREFIX, { revision: 1, events: seed });
    render(derivePlan(state, 'v4', self, memo));
    for (let rev = 2; rev <= 250; rev++) {
      const node = Math.floor(rand() * 2200); // some of them new nodes
      const r = rand();
      const ev: EtcdEvent =
        r < 0.5
          ? { type: 'put', key: `${PREFIX}/host/n${node}/ip_addr_v4`, value: addr(Math.floor(rand() * 3000)), revision: rev }
          : r < 0.7
            ? { type: 'delete', key: `${PREFIX}/host/n${node}/ip_addr_v4`, revision: rev }
            : { ...peer(node, rand() < 0.5 ? 64512 : 65000), revision: rev };
      foldBatch(state, PREFIX, { revision: rev, events: [ev] });
      const bytes = render(derivePlan(state, 'v4', self, memo));
      expect(Buffer.concat(bytes).toString('latin1')).toBe(Buffer.concat(createRenderer()(derivePlan(state, 'v4', self))).toString('latin1'));
    }
  });

  it('gives the same plan as without a memo when a batch moves hundreds of nodes at once (merged, not spliced)', () => {
    const rand = rng(11);
    const state = createState();
    const self = { ip: '10.0.0.1' };
    const memo = createPlanMemo();
    const addr = (i: number): string => `10.2.${i >> 8}.${i & 255}`;
    const put = (node: number, value: string, revision: number): EtcdEvent => ({ type: 'put', key: `${PREFIX}/host/n${node}/ip_addr_v4`, value, revision });
    const seed: EtcdEvent[] = [];
    for (let n = 0; n < 1500; n++) {
      seed.push(put(n, addr(n), 1), { type: 'put', key: `${PREFIX}/host/n${n}/peer_v4/10.0.0.1`, value: '{"ip":"10.0.0.1","as_num":64512}', revision: 1 });
    }
    foldBatch(state, PREFIX, { revision: 1, events: seed });
    derivePlan(state, 'v4', self, memo);
    for (let rev = 2; rev <= 12; rev++) {
      const size = [3, 17, 200, 900][rev % 4]!; // below and above the splice limit
      const events: EtcdEvent[] = [];
      for (let k = 0; k < size; k++) {
        const node = Math.floor(rand() * 1700);
        events.push(rand() < 0.8 ? put(node, addr(Math.floor(rand() * 4000)), rev) : { type: 'delete', key: `${PREFIX}/host/n${node}/ip_addr_v4`, revision: rev });
      }
      foldBatch(state, PREFIX, { revision: rev, events });
      expect(derivePlan(state, 'v4', self, memo)).toEqual(derivePlan(state, 'v4', self));
    }
  });
});
