/**
 * A start from the journal, in virtual time: the restored state is the
 * fold's first value (planned and rendered before etcd answers, with the
 * generation it had), what etcd sends next is folded into it and only the
 * sessions it touches change; readiness counts the restored plan as read and
 * says it is stale until etcd is reached.
 */
import { map } from 'rxjs';
import { describe, it } from 'vitest';
import { PREFIX } from '../../src/core/config.js';
import type { EtcdBatch, HealthEvent, OutcomeEvent } from '../../src/core/events.js';
import type { FamilyPlan } from '../../src/core/plan.js';
import { familyConfig } from '../../src/streams/family-config.js';
import { foldState } from '../../src/streams/fold-state.js';
import { opsStatus } from '../../src/streams/ops-status.js';
import { kv, stateOf } from '../support/state.js';
import { testScheduler } from '../support/marbles.js';

const scheduler = testScheduler;
const self = { ip: '10.0.0.1' };
const render = (p: FamilyPlan): Buffer[] => [Buffer.from(p.sessions.map((s) => s.name).join(',') || '-')];
const restoredState = () =>
  stateOf([kv('/global/peer_v4/10.0.0.1', { ip: '10.0.0.1', as_num: 1 }), kv('/host/n1/ip_addr_v4', '10.0.1.1'), kv('/host/n2/ip_addr_v4', '10.0.1.2')]);

describe('start from the journal', () => {
  it('emits the restored state first, then folds etcd into it: only touched sessions change', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const batches = cold<EtcdBatch>('---a', { a: { revision: 9, events: [{ type: 'put', key: kv('/host/n3/ip_addr_v4', '').key, value: '10.0.1.3', revision: 9 }] } });
      const out = batches.pipe(
        foldState(PREFIX, { state: restoredState(), stateAt: '2026-12-01T00:00:00.000Z' }),
        familyConfig('v4', self, render, 7),
        map((c) => `${c.generation} ${c.text} +${c.diff.added.join(',')} -${c.diff.removed.join(',')} ~${c.diff.changed.join(',')}`),
      );
      expectObservable(out).toBe('x--y', {
        x: '7 Node_10_0_1_1,Node_10_0_1_2 +Node_10_0_1_1,Node_10_0_1_2 - ~',
        y: '8 Node_10_0_1_1,Node_10_0_1_2,Node_10_0_1_3 +Node_10_0_1_3 - ~',
      });
    });
  });

  it('marks only the first value as restored', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const batches = cold<EtcdBatch>('-a', { a: { revision: 9, events: [] } });
      const out = batches.pipe(foldState(PREFIX, { state: restoredState(), stateAt: 'T' }), map((r) => `${r.revision}${r.restored ? ' restored ' + r.restored.stateAt : ''}`));
      expectObservable(out).toBe('xy', { x: '1 restored T', y: '9' });
    });
  });

  it('readiness: ready on the restored plan once BIRD loaded it, stale until etcd is reached', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const up: HealthEvent = { type: 'health', family: 'v4', up: true, instance: 'a' };
      const reload: OutcomeEvent = { type: 'outcome', family: 'v4', generation: 7, step: 'reload', ok: true, durationMs: 1 };
      const sources = {
        etcd$: cold<{ kind: string; reason?: string }>('--------d--c', { d: { kind: 'disconnected', reason: 'etcd unavailable' }, c: { kind: 'connected' } }),
        folded$: cold('a', { a: { revision: 5, restored: { stateAt: 'T' } } }),
        configs$: cold('----x', { x: { family: 'v4' as const, generation: 7 } }),
        health$: cold<HealthEvent>('-----u', { u: up }),
        outcomes$: cold<OutcomeEvent>('------r', { r: reload }),
        failures$: cold<string>(''),
      };
      const out = opsStatus(['v4'])(sources).pipe(map((s) => `${s.ready ? 'R' : 'r'} ${s.source} ${s.stale ? s.staleReason : '-'}`));
      const stale = "journal BIRD serves the journal's plan of etcd revision 5 (rendered T); etcd not reached since start";
      expectObservable(out).toBe('(ab)cde-f--g', {
        a: 'r none -',
        b: `r ${stale}`,
        c: `r ${stale}`,
        d: `r ${stale}`,
        e: `R ${stale}`,
        f: `R ${stale}`,
        g: 'R etcd -',
      });
    });
  });
});
