import { map, type Observable } from 'rxjs';
import { describe, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import type { EtcdBatch } from '../../src/core/events.js';
import { debounceMaxWait } from '../../src/streams/debounce-max-wait.js';
import { familyConfig } from '../../src/streams/family-config.js';
import { foldState } from '../../src/streams/fold-state.js';
import { kv } from '../support/state.js';
import { batchMaker, del, namesRender, put, testScheduler } from '../support/marbles.js';

const scheduler = testScheduler;
const self = { ip: '10.0.0.1', ip6: 'fd00::1' };
const render = namesRender;
const batch = batchMaker();
const B = {
  a: batch({ type: 'resync', kvs: [kv('/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 1 }), kv('/global/peer_v6/fd00::1', { ip: 'fd00::1', as_num: 1 })] } as never),
  b: batch(put('/host/n1/ip_addr_v4', '10.0.1.1')),
  c: batch(put('/host/n1/ip_addr_v6', 'fd00::1:1')),
  d: batch(put('/host/n1/ip_addr_v4', '10.0.1.1')), // same value again
  e: batch(put('/host/n1/as_num', '65000')), // used by no plan
  f: batch(del('/host/n1/ip_addr_v4')),
  g: batch({ type: 'resync', kvs: [kv('/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 1 }), kv('/host/n2/ip_addr_v4', '10.0.1.2')] } as never),
};

describe('etcd batches -> per-family configs', () => {
  const configs = (family: 'v4' | 'v6') => (src: Observable<EtcdBatch>) =>
    src.pipe(
      foldState(PREFIX),
      familyConfig(family, self, render),
      map((c) => `${c.generation}:${c.text}`),
    );

  it('emits IPv4 only when the IPv4 text changes', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold<EtcdBatch>('abcdefg|', B);
      expectObservable(src.pipe(configs('v4'))).toBe('ab---fg|', {
        a: '1:-',
        b: '2:Node_10_0_1_1',
        f: '3:-',
        g: '4:Node_10_0_1_2',
      });
    });
  });

  it('emits IPv6 only when the IPv6 text changes', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold<EtcdBatch>('abcdefg|', B);
      // g: the resync drops n1 and the IPv6 global peer
      expectObservable(src.pipe(configs('v6'))).toBe('a-c---g|', { a: '1:-', c: '2:Node_fd00__1_1', g: '3:-' });
    });
  });

  it('renders an isolated change at once and a burst once after the debounce', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold<EtcdBatch>('abc 10ms g|', B);
      const settled = (s: Observable<EtcdBatch>) => s.pipe(foldState(PREFIX), debounceMaxWait(3, 5));
      expectObservable(
        settled(src).pipe(
          familyConfig('v4', self, render),
          map((c) => c.text),
        ),
      ).toBe('x----y-------z|', { x: '-', y: 'Node_10_0_1_1', z: 'Node_10_0_1_2' });
    });
  });
});
