/**
 * What the agent promises, as marble specs of the whole pure agent
 * (src/streams/agent.ts) with stand-in drivers (test/support/marbles.ts): a
 * config file per family, a `bird -p` and a daemon. One frame is 1 ms;
 * DEBOUNCE_MS and MAX_WAIT_MS have their defaults (100 ms, 1 s); an apply run
 * takes 1 ms unless said otherwise. Configs read as their session names
 * (`-`: none); requests as `c<generation>` (the config changed) or
 * `u<generation>` (a new daemon instance came up).
 */
import { concatMap, distinctUntilChanged, interval, map, merge, take, timer } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { EtcdBatch, EtcdStatus } from '../../src/core/events.js';
import type { Restored } from '../../src/core/restore.js';
import { kv, stateOf } from '../support/state.js';
import { agentCycle, batchMaker, del, down, marbles, put, resync, up, type EventSpec } from '../support/marbles.js';

const GLOBAL: Array<[string, unknown]> = [
  ['/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 1 }],
  ['/global/peer_v6/fd00::1', { ip: 'fd00::1', as_num: 1 }],
];
const snapshot = (...more: Array<[string, unknown]>): EventSpec => resync(...GLOBAL, ...more);
const ready = (s: { ready: boolean }): string => (s.ready ? 'R' : 'r');

describe('the agent', () => {
  it('applies an isolated change at once', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      const b = batchMaker();
      const batches = cold('s 499ms x', { s: b(snapshot()), x: b(put('/host/n1/ip_addr_v4', '10.0.1.1')) });
      const c = agentCycle({ scheduler, batches });
      expectObservable(c.requests.v4).toBe('a 499ms b', { a: 'c1', b: 'c2' });
      expectObservable(c.loaded.v4).toBe('-a 499ms b', { a: '-', b: 'Node_10_0_1_1' });
    });
  });

  it('turns a burst of 1,000 events into at most three configs, none held over MAX_WAIT_MS', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      const b = batchMaker();
      const host = (i: number) => put(`/host/n${i}/ip_addr_v4`, `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`);
      // The snapshot at 0, then one put a millisecond from 1001 to 2000.
      const batches = merge(cold('s', { s: b(snapshot()) }), timer(1000).pipe(concatMap(() => interval(1).pipe(take(1000), map((i) => b(host(i)))))));
      const c = agentCycle({ scheduler, batches });
      // The first put at once; the rest by 2001, the ceiling (1 s after the first): 999 puts, one config.
      expectObservable(c.requests.v4).toBe('a 1000ms b 999ms c', { a: 'c1', b: 'c2', c: 'c3' });
      expectObservable(c.loaded.v4.pipe(map((text) => text.split(',').length))).toBe('-a 1000ms b 999ms c', { a: 1, b: 1, c: 1000 });
    });
  });

  it('never reloads BIRD for an IPv6-only change', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      const b = batchMaker();
      const batches = cold('s 499ms x', { s: b(snapshot()), x: b(put('/host/n1/ip_addr_v6', 'fd00::1:1')) });
      const c = agentCycle({ scheduler, batches });
      expectObservable(c.requests.v4).toBe('a', { a: 'c1' });
      expectObservable(c.requests.v6).toBe('a 499ms b', { a: 'c1', b: 'c2' });
    });
  });

  describe('reloads nothing for a write that changes nothing', () => {
    it('the same value again, or a key no plan reads', () => {
      marbles(({ cold, expectObservable, scheduler }) => {
        const b = batchMaker();
        const batches = cold('s 199ms x 199ms y 199ms z', {
          s: b(snapshot(['/host/n1/ip_addr_v4', '10.0.1.1'])),
          x: b(put('/host/n1/ip_addr_v4', '10.0.1.1')),
          y: b(put('/host/n1/as_num', '65000')),
          z: b(put('/host/n9/unknown_key', 'x')),
        });
        const c = agentCycle({ scheduler, batches });
        expectObservable(c.requests.v4).toBe('a', { a: 'c1' });
        expectObservable(c.requests.v6).toBe('a', { a: 'c1' });
      });
    });

    it('a change undone before BIRD loaded the one before it', () => {
      marbles(({ cold, expectObservable, scheduler }) => {
        const b = batchMaker();
        // n1 appears (held by the debounce until 110) and goes again at 150 while the first run (300 ms) still runs.
        const batches = cold('s 9ms x 139ms y', {
          s: b(snapshot()),
          x: b(put('/host/n1/ip_addr_v4', '10.0.1.1')),
          y: b(del('/host/n1/ip_addr_v4')),
        });
        const c = agentCycle({ scheduler, batches, runFrames: 300 });
        expectObservable(c.sinks.metrics.configs$.pipe(map((x) => `${x.family}${x.generation}`))).toBe('(ab) 106ms c 39ms d', { a: 'v41', b: 'v61', c: 'v42', d: 'v43' });
        // Generation 3 has the bytes BIRD loaded at 300 (generation 1): not sent; generation 2 was replaced while it waited.
        expectObservable(c.requests.v4).toBe('a', { a: 'c1' });
        expectObservable(c.loaded.v4).toBe('300ms a', { a: '-' });
      });
    });
  });

  it('gives a daemon that comes back as a new instance the latest config', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      const b = batchMaker();
      const batches = cold('-s 198ms x', { s: b(snapshot()), x: b(put('/host/n1/ip_addr_v4', '10.0.1.1')) });
      // BIRD answers as instance a, stops answering at 300, and s6 has started instance b at 400.
      const probes = { v4: cold('u 299ms d 99ms r', { u: up('a'), d: down, r: up('b') }) };
      const c = agentCycle({ scheduler, batches, probes });
      expectObservable(c.requests.v4).toBe('-a 198ms b 199ms c', { a: 'c1', b: 'c2', c: 'u2' });
      expectObservable(c.loaded.v4).toBe('--a 198ms b 199ms c', { a: '-', b: 'Node_10_0_1_1', c: 'Node_10_0_1_1' });
    });
  });

  it('does not reload the same instance after it missed probes', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      const b = batchMaker();
      const batches = cold('-s', { s: b(snapshot()) });
      // Instance a stops answering at 300 (a hung or busy BIRD) and answers again at 400.
      const probes = { v4: cold('u 299ms d 99ms u', { u: up('a'), d: down }) };
      const c = agentCycle({ scheduler, batches, probes });
      expectObservable(c.requests.v4).toBe('-a', { a: 'c1' });
      expectObservable(c.status.pipe(map(ready), distinctUntilChanged())).toBe('r-R 297ms r 99ms R');
    });
  });

  it('never installs a rejected config, and installs the next good one', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      const b = batchMaker();
      const batches = cold('s 499ms x 499ms y', {
        s: b(snapshot()),
        x: b(put('/host/n1/ip_addr_v4', '10.0.6.6')),
        y: b(put('/host/n1/ip_addr_v4', '10.0.1.1')),
      });
      const c = agentCycle({ scheduler, batches, rejects: (text) => text.includes('Node_10_0_6_6') });
      expectObservable(c.requests.v4).toBe('a 499ms b 499ms c', { a: 'c1', b: 'c2', c: 'c3' });
      expectObservable(c.installed.v4).toBe('-a 999ms c', { a: '-', c: 'Node_10_0_1_1' });
      expectObservable(c.loaded.v4).toBe('-a 999ms c', { a: '-', c: 'Node_10_0_1_1' });
      expectObservable(c.status.pipe(map(ready), distinctUntilChanged())).toBe('rR 498ms r 500ms R');
    });
  });

  it('changes nothing in BIRD during an etcd outage, and stays ready', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      const b = batchMaker();
      const S: Record<string, EtcdStatus> = {
        c: { kind: 'connected', revision: 1, resumeFrom: 2 },
        d: { kind: 'disconnected', reason: 'connection refused', retryInMs: 500 },
        r: { kind: 'resynced', revision: 2, keys: 2, cause: 'compacted', after: 1 },
      };
      // etcd goes away at 300; at 600 it is back and the source reads everything again (the same keys).
      const status = cold('c 299ms d 299ms r', S);
      const batches = cold('s 599ms t', { s: b(snapshot()), t: b(snapshot()) });
      const c = agentCycle({ scheduler, batches, status });
      expectObservable(c.requests.v4).toBe('a', { a: 'c1' });
      expectObservable(c.requests.v6).toBe('a', { a: 'c1' });
      expectObservable(c.status.pipe(map(ready), distinctUntilChanged())).toBe('rR');
      expectObservable(c.status.pipe(map((s) => s.etcdConnected), distinctUntilChanged())).toBe('(ft) 296ms f 299ms t', { f: false, t: true });
    });
  });

  describe('follows the rules of /readyz', () => {
    it('ready once the snapshot runs in both daemons; not while a daemon is down, a newer config is not loaded, or BIRD rejected the newest', () => {
      marbles(({ cold, expectObservable, scheduler }) => {
        const b = batchMaker();
        const batches = cold('-s 498ms x 199ms y', {
          s: b(snapshot()),
          x: b(put('/host/n1/ip_addr_v4', '10.0.1.1')),
          y: b(put('/host/n2/ip_addr_v4', '10.0.6.6')),
        });
        const probes = { v6: cold('u 299ms d 99ms u', { u: up('a'), d: down }) };
        const c = agentCycle({ scheduler, batches, probes, rejects: (text) => text.includes('Node_10_0_6_6') });
        expectObservable(c.status.pipe(map(ready), distinctUntilChanged())).toBe('r-R 297ms r 99ms R 99ms rR 198ms r');
      });
    });

    it('notifies s6 once, when both first configs are installed', () => {
      marbles(({ cold, expectObservable, scheduler }) => {
        const b = batchMaker();
        const c = agentCycle({ scheduler, batches: cold('s 199ms x', { s: b(snapshot()), x: b(put('/host/n1/ip_addr_v4', '10.0.1.1')) }) });
        expectObservable(c.requests.v4).toBe('a 199ms b', { a: 'c1', b: 'c2' });
        expectObservable(c.sinks.ready$).toBe('-(x|)', { x: undefined });
      });
    });
  });

  it('started from the journal: ready at once, its configs kept with their generations, etcd folded into it, stale until etcd answers', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      const journal: Restored = {
        kind: 'restored',
        state: stateOf([kv('/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 1 }), kv('/host/n1/ip_addr_v4', '10.0.1.1')]),
        revision: 1,
        clusterId: 'c1',
        from: { run: 'r', revision: 1 },
        configs: { v4: { generation: 5, sha256: '' }, v6: { generation: 3, sha256: '' } },
        stateAt: 'T',
        lastWrittenAt: 'T',
        folded: 1,
      };
      // The watch resumes at 100 (connected), then one change arrives: a second client.
      const status = cold<EtcdStatus>('100ms c', { c: { kind: 'connected', revision: 1, resumeFrom: 2, clusterId: 'c1' } });
      const batches = cold<EtcdBatch>('200ms x', { x: { revision: 2, events: [{ type: 'put', ...kv('/host/n2/ip_addr_v4', '10.0.1.2'), revision: 2 }] } });
      const c = agentCycle({ scheduler, batches, status, journal, files: { v4: 'Node_10_0_1_1', v6: '-' } });
      expectObservable(c.sinks.ready$).toBe('(x|)', { x: undefined });
      expectObservable(c.requests.v4).toBe('a 199ms b', { a: 'c5', b: 'c6' });
      expectObservable(c.requests.v6).toBe('a', { a: 'c3' });
      // Nothing written for the restored configs; the change is.
      expectObservable(c.installed.v4).toBe('201ms b', { b: 'Node_10_0_1_1,Node_10_0_1_2' });
      expectObservable(c.installed.v6).toBe('');
      expectObservable(c.status.pipe(map((s) => `${s.source}${s.stale ? ' stale' : ''}`), distinctUntilChanged())).toBe('(ab) 96ms c', { a: 'none', b: 'journal stale', c: 'etcd' });
    });
  });

  it('reports a failed apply driver once, and is then neither live nor ready', () => {
    const c = marbles(({ cold, expectObservable, scheduler }) => {
      const b = batchMaker();
      const cycle = agentCycle({ scheduler, batches: cold('s 199ms x', { s: b(snapshot()), x: b(put('/host/n1/ip_addr_v4', '10.0.1.1')) }), driverFailsOn: 2 });
      expectObservable(cycle.status.pipe(map((s) => `${s.live ? 'L' : 'l'}${ready(s)}`), distinctUntilChanged())).toBe('ab 198ms cd', { a: 'Lr', b: 'LR', c: 'Lr', d: 'lr' });
      return cycle;
    });
    expect(c.log.filter((l) => l.msg === 'pipeline failed')).toEqual([{ level: 'error', msg: 'pipeline failed', fields: { error: 'Error: EIO: disk gone' } }]);
  });

  it('journals each batch before its fold and each settled point before its configs', () => {
    const c = marbles(({ cold, expectObservable, scheduler }) => {
      const b = batchMaker();
      const cycle = agentCycle({ scheduler, batches: cold('s', { s: b(snapshot()) }) });
      expectObservable(cycle.requests.v4).toBe('a', { a: 'c1' });
      return cycle;
    });
    expect(c.journal.map((e) => (e.type === 'config' ? `config ${e.config.family}` : e.type === 'outcome' ? `${e.outcome.family} ${e.outcome.step}` : e.type))).toEqual([
      'health',
      'health',
      'batch',
      'settled',
      'config v4',
      'config v6',
      'v4 write',
      'v4 check',
      'v4 install',
      'v4 reload',
      'v6 write',
      'v6 check',
      'v6 install',
      'v6 reload',
    ]);
    expect(c.log.map((l) => l.msg)).toContain('agent started');
  });
});
