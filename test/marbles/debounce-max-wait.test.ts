import { describe, it } from 'vitest';
import { debounceMaxWait } from '../../src/streams/debounce-max-wait.js';
import { testScheduler } from '../support/marbles.js';

const scheduler = testScheduler;

describe('debounceMaxWait', () => {
  it('emits an isolated value at once, then the latest of a burst after a quiet period', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold(' a-b-c---------|');
      const out = '      a--------c----|';
      expectObservable(src.pipe(debounceMaxWait(5, 100))).toBe(out);
    });
  });

  it('emits again at once after the source has been quiet', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold(' a-b------c-d-----|');
      const out = '      a----b---c----d--|';
      expectObservable(src.pipe(debounceMaxWait(3, 100))).toBe(out);
    });
  });

  it('never holds a burst longer than the ceiling', () => {
    scheduler().run(({ cold, expectObservable }) => {
      // a value every 2 frames, quiet period 3 frames, ceiling 7 frames
      const src = cold(' a-b-c-d-e-f-g-h-----|');
      const out = '      a------d------h-----|';
      expectObservable(src.pipe(debounceMaxWait(3, 7))).toBe(out);
    });
  });

  it('flushes a pending value on completion', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a-b|').pipe(debounceMaxWait(10, 100))).toBe('a--(b|)');
    });
  });

  it('passes errors through', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a-#').pipe(debounceMaxWait(10, 100))).toBe('a-#');
    });
  });
});
