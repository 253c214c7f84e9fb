import { map } from 'rxjs';
import { describe, it } from 'vitest';
import type { FamilyConfig, HealthEvent, OutcomeEvent, Probe } from '../../src/core/events.js';
import { applyRequests } from '../../src/streams/apply-requests.js';
import { firstReady } from '../../src/streams/first-ready.js';
import { healthTransitions } from '../../src/streams/health-transitions.js';
import { applyLoop } from '../../src/streams/apply-loop.js';
import { testScheduler } from '../support/marbles.js';

const scheduler = testScheduler;
const cfg = (generation: number): FamilyConfig =>
  ({ family: 'v4', generation, revision: generation, parts: [Buffer.from(`t${generation}`)], plan: {} as never }) as unknown as FamilyConfig;

describe('applyLoop', () => {
  const never = () => false;
  it('runs one at a time and skips stale values that queued meanwhile', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('a-bc-----d|');
      // each job takes 4 frames and emits its value at the end
      const work = (v: string) => cold('----(x|)', { x: v.toUpperCase() });
      expectObservable(src.pipe(applyLoop(work, never, { initialMs: 1, maxMs: 1 }))).toBe('----A---C----(D|)');
    });
  });

  it('retries a failed run with doubling backoff until it succeeds', () => {
    scheduler().run(({ cold, expectObservable }) => {
      let attempt = 0;
      // fails (f) three times, then succeeds (s); each run takes 1 frame
      const work = () => cold('-(x|)', { x: ++attempt <= 3 ? 'f' : 's' });
      const out = cold('a').pipe(applyLoop(work, (r) => r === 'f', { initialMs: 2, maxMs: 3 }));
      // runs at 0, 1+2, 4+3, 8+3: delays 2, 3 (capped), 3
      expectObservable(out).toBe('-f--f---f---s');
    });
  });

  it('lets a newer value cancel the backoff wait and run at once', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const work = (v: string) => cold('-(x|)', { x: v });
      const src = cold('a---b');
      const out = src.pipe(applyLoop(work, (r) => r === 'a', { initialMs: 10, maxMs: 10 }));
      expectObservable(out).toBe('-a---b');
    });
  });

  it('completes when the source completes and nothing is pending', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const work = (v: string) => cold('--(x|)', { x: v });
      expectObservable(cold('a|').pipe(applyLoop(work, never, { initialMs: 1, maxMs: 1 }))).toBe('--(a|)');
    });
  });
});

describe('healthTransitions', () => {
  it('emits each transition once and a restart as a new up', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const P: Record<string, Probe> = {
        d: { up: false, reason: 'ENOENT' },
        u: { up: true, instance: '1' },
        r: { up: true, instance: '2' },
      };
      const out = cold('ddduuudrrr|', P).pipe(
        healthTransitions('v4'),
        map((h) => `${h.up ? 'up' : 'down'}${h.instance ?? ''}`),
      );
      expectObservable(out).toBe('d--u--dr--|', { d: 'down', u: 'up1', r: 'up2' });
    });
  });
});

describe('applyRequests', () => {
  it('applies each new config, and the latest again when the daemon comes up', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const H: Record<string, HealthEvent> = {
        u: { type: 'health', family: 'v4', up: true, instance: 'one' },
        d: { type: 'health', family: 'v4', up: false },
        r: { type: 'health', family: 'v4', up: true, instance: 'two' },
      };
      // up before any config: nothing to re-apply; down then up as the same instance
      // (missed probes): nothing to re-apply; a new instance: re-apply the latest.
      const health = hot('u----d-u---r', H);
      const configs = hot('--a--b------', { a: cfg(1), b: cfg(2) });
      const out = configs.pipe(
        applyRequests(health),
        map((r) => `${r.config.generation}${r.reason === 'changed' ? 'c' : 'u'}`),
      );
      expectObservable(out).toBe('--a--b-----y', { a: '1c', b: '2c', y: '2u' });
    });
  });
});

describe('firstReady', () => {
  const o = (family: 'v4' | 'v6', step: OutcomeEvent['step'], ok: boolean): OutcomeEvent => ({
    type: 'outcome',
    family,
    generation: 1,
    step,
    ok,
    durationMs: 1,
  });
  it('fires once both families have a config in place', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('abcde|', {
        a: o('v4', 'write', true),
        b: o('v4', 'install', true),
        c: o('v6', 'check', false),
        d: o('v6', 'reload', false), // already installed, daemon down: still ready
        e: o('v4', 'install', true),
      });
      expectObservable(src.pipe(firstReady(['v4', 'v6']))).toBe('---(x|)', { x: undefined });
    });
  });
});
