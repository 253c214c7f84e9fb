import { map } from 'rxjs';
import { describe, it } from 'vitest';
import type { HealthEvent, OutcomeEvent } from '../../src/core/events.js';
import { opsStatus } from '../../src/streams/ops-status.js';
import { testScheduler } from '../support/marbles.js';

const scheduler = testScheduler;
const up = (family: 'v4' | 'v6', instance = 'a'): HealthEvent => ({ type: 'health', family, up: true, instance });
const down = (family: 'v4' | 'v6'): HealthEvent => ({ type: 'health', family, up: false, reason: 'ENOENT' });
const reload = (family: 'v4' | 'v6', generation: number, ok = true): OutcomeEvent => ({ type: 'outcome', family, generation, step: 'reload', ok, durationMs: 1 });
const check = (family: 'v4' | 'v6', generation: number): OutcomeEvent => ({ type: 'outcome', family, generation, step: 'check', ok: false, durationMs: 1, message: 'syntax error' });
const flags = (s: { live: boolean; ready: boolean }): string => `${s.live ? 'L' : 'l'}${s.ready ? 'R' : 'r'}`;

describe('opsStatus: liveness and readiness folded from the agent streams', () => {
  it('is ready once the snapshot is applied to both daemons, not before', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const sources = {
        etcd$: cold<{ kind: string }>('-c', { c: { kind: 'connected' } }),
        folded$: cold('--b', { b: { revision: 5 } }),
        configs$: cold('---xy', { x: { family: 'v4' as const, generation: 1 }, y: { family: 'v6' as const, generation: 1 } }),
        health$: cold<HealthEvent>('-----ab', { a: up('v4'), b: up('v6') }),
        outcomes$: cold<OutcomeEvent>('-------pq', { p: reload('v4', 1), q: reload('v6', 1) }),
        failures$: cold<string>(''),
      };
      expectObservable(opsStatus(['v4', 'v6'])(sources).pipe(map(flags))).toBe('abcdefghi', {
        a: 'lr', b: 'lr', c: 'lr', d: 'lr', e: 'lr', f: 'lr', g: 'Lr', h: 'Lr', i: 'LR',
      });
    });
  });

  it('names the daemon that stopped answering, and the generation a daemon does not run', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const sources = {
        etcd$: cold<{ kind: string }>(''),
        folded$: cold('-b', { b: { revision: 5 } }),
        configs$: cold('--x----y', { x: { family: 'v4' as const, generation: 1 }, y: { family: 'v4' as const, generation: 2 } }),
        health$: cold<HealthEvent>('---a-d', { a: up('v4'), d: down('v4') }),
        outcomes$: cold<OutcomeEvent>('----p---c', { p: reload('v4', 1), c: check('v4', 2) }),
        failures$: cold<string>(''),
      };
      const out = opsStatus(['v4'])(sources).pipe(map((s) => `${flags(s)} ${s.live ? '' : s.liveReason} | ${s.ready ? '' : s.readyReason}`));
      const downed = 'lr bird: control socket not answering (ENOENT) | bird: runs no config of this agent, current is';
      expectObservable(out).toBe('abcdef-gh', {
        a: 'lr bird: not probed yet | initial etcd snapshot not read yet (etcd not connected)',
        b: 'lr bird: not probed yet | bird: no config rendered yet',
        c: 'lr bird: not probed yet | bird: runs no config of this agent, current is 1',
        d: 'Lr  | bird: runs no config of this agent, current is 1',
        e: 'LR  | ',
        f: `${downed} 1`,
        g: `${downed} 2`,
        h: `${downed} 2 (check of generation 2 failed: syntax error)`,
      });
    });
  });

  it('a restarted daemon is not ready until reloaded; a pipeline failure is neither live nor ready', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const sources = {
        etcd$: cold<{ kind: string }>(''),
        folded$: cold('-b', { b: { revision: 1 } }),
        configs$: cold('--x', { x: { family: 'v4' as const, generation: 1 } }),
        health$: cold<HealthEvent>('---a-r', { a: up('v4', 'one'), r: up('v4', 'two') }),
        outcomes$: cold<OutcomeEvent>('----p-q', { p: reload('v4', 1), q: reload('v4', 1) }),
        failures$: cold<string>('-------f', { f: 'boom' }),
      };
      expectObservable(opsStatus(['v4'])(sources).pipe(map(flags))).toBe('abcdefgh', {
        a: 'lr', b: 'lr', c: 'lr', d: 'Lr', e: 'LR', f: 'Lr', g: 'LR', h: 'lr',
      });
    });
  });

  it('the same instance answering again after missed probes is ready at once; a new one only once reloaded', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const sources = {
        etcd$: cold<{ kind: string }>(''),
        folded$: cold('-b', { b: { revision: 1 } }),
        configs$: cold('--x', { x: { family: 'v4' as const, generation: 1 } }),
        // up, reloaded; two missed probes, the same instance again; missed, a new instance; reloaded
        health$: cold<HealthEvent>('---a-ddA-dB', { a: up('v4', 'one'), d: down('v4'), A: up('v4', 'one'), B: up('v4', 'two') }),
        outcomes$: cold<OutcomeEvent>('----p------q', { p: reload('v4', 1), q: reload('v4', 1) }),
        failures$: cold<string>(''),
      };
      expectObservable(opsStatus(['v4'])(sources).pipe(map(flags))).toBe('abcdefgh-ijk', {
        a: 'lr', b: 'lr', c: 'lr', d: 'Lr', e: 'LR', f: 'lr', g: 'lr', h: 'LR', i: 'lr', j: 'Lr', k: 'LR',
      });
    });
  });
});
