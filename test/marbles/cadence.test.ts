/**
 * The timing the drivers rely on, on the injected scheduler: the probe and
 * session-poll cadence, the wait for a daemon s6 has started, the etcd read
 * retries.
 */
import { describe, expect, it } from 'vitest';
import { defer, map } from 'rxjs';
import type { Probe } from '../../src/core/events.js';
import { every } from '../../src/streams/poll.js';
import { retryBackoff } from '../../src/streams/retry-backoff.js';
import { resubscribeEvery, s6EventProbes } from '../../src/streams/s6-events.js';
import { marbles } from '../support/marbles.js';

const flag = (p: Probe): string => (p.up ? 'U' : 'D');

describe('every: the probe and session-poll cadence', () => {
  it('asks now and every interval, and skips ticks while an answer is late', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      let n = 0;
      // The second answer takes 25 ms: the ticks at 20 and 30 find it still running.
      const answer = () => (++n === 2 ? cold('25ms (b|)', { b: 2 }) : cold('(a|)', { a: n }));
      expectObservable(every(10, answer, scheduler), '^ 50ms !').toBe('a 34ms b 4ms c 9ms d', { a: 1, b: 2, c: 3, d: 4 });
    });
  });
});

describe('s6 events: a daemon s6 has started is seen as soon as it answers', () => {
  const up: Probe = { up: true, instance: 'a' };
  const not: Probe = { up: false, reason: 'ECONNREFUSED' };

  it('after a u, probes every pollMs until the socket answers', () => {
    marbles(({ cold, hot, expectObservable, scheduler }) => {
      let n = 0;
      const probe = () => cold('(x|)', { x: ++n < 4 ? not : up });
      const events = hot('u');
      expectObservable(events.pipe(s6EventProbes('bird', probe, { pollMs: 50, maxWaitMs: 1000 }, scheduler), map(flag))).toBe('150ms U');
    });
  });

  it('gives up after maxWaitMs, and a d reports the daemon down at once', () => {
    marbles(({ cold, hot, expectObservable, scheduler }) => {
      const probe = () => cold('(x|)', { x: not });
      const events = hot('u 499ms d');
      expectObservable(events.pipe(s6EventProbes('bird', probe, { pollMs: 50, maxWaitMs: 200 }, scheduler), map(flag))).toBe('500ms D');
    });
  });

  it('a d or a new u ends the wait of the u before', () => {
    marbles(({ cold, hot, expectObservable, scheduler }) => {
      let n = 0;
      const probe = () => cold('(x|)', { x: ++n === 4 ? up : not });
      // Probes at 0, 50 (down at 60 ends that wait), then u at 100: probes at 100, 150 (the 4th: up).
      const events = hot('u 59ms d 39ms u');
      expectObservable(events.pipe(s6EventProbes('bird', probe, { pollMs: 50, maxWaitMs: 1000 }, scheduler), map(flag))).toBe('60ms D 89ms U');
    });
  });
});

describe('s6 events: subscribing to the fifodir is tried again until it works', () => {
  it('subscribes again every retryMs while it cannot (no fifodir yet), never completing', () => {
    marbles(({ cold, expectObservable, expectSubscriptions, scheduler }) => {
      // No fifodir at 0 and at 1000; at 2000 the subscription is made.
      const attempts = [cold<string>('#'), cold<string>('#'), cold('u 9ms d')];
      let n = 0;
      const events = defer(() => attempts[n++]!);
      expectObservable(events.pipe(resubscribeEvery(1000, scheduler)), '^ 2999ms !').toBe('2000ms u 9ms d');
      expectSubscriptions(attempts[0]!.subscriptions).toBe('(^!)');
      expectSubscriptions(attempts[1]!.subscriptions).toBe('1000ms (^!)');
      // Unsubscribing ends the one that worked (the driver removes its FIFO then).
      expectSubscriptions(attempts[2]!.subscriptions).toBe('2000ms ^ 999ms !');
    });
  });

  it('a lost FIFO is made again retryMs later, starting with a u again', () => {
    marbles(({ cold, expectObservable, scheduler }) => {
      const attempts = [cold<string>('u 4ms #'), cold<string>('u')];
      let n = 0;
      const events = defer(() => attempts[n++]!);
      expectObservable(events.pipe(resubscribeEvery(1000, scheduler)), '^ 2000ms !').toBe('u 1004ms u');
    });
  });
});

describe('retryBackoff: a failed etcd read is read again, later each time', () => {
  it('retries after initialMs, doubling up to maxMs, each failure heard first', () => {
    const heard: number[] = [];
    marbles(({ cold, expectObservable, scheduler }) => {
      let attempt = 0;
      const read = defer(() => (++attempt <= 3 ? cold<string>('-#') : cold('-(r|)', { r: 'snapshot' })));
      // Fails at 1, 102 and 303 (waits of 100, 200, then 250: the ceiling); read at 554.
      expectObservable(read.pipe(retryBackoff({ initialMs: 100, maxMs: 250 }, (_e, ms) => heard.push(ms), scheduler))).toBe('554ms (r|)', { r: 'snapshot' });
    });
    expect(heard).toEqual([100, 200, 250]);
  });
});
