import { filter, first, map, scan, type Observable } from 'rxjs';
import type { Family, OutcomeEvent } from '../core/events.js';

/**
 * Emits once, when every given family has its first config installed (or
 * found already installed and reloaded): the moment s6 may start BIRD.
 */
export function firstReady(families: readonly Family[]) {
  return (outcomes$: Observable<OutcomeEvent>): Observable<void> =>
    outcomes$.pipe(
      filter((o) => (o.step === 'install' && o.ok) || o.step === 'reload'),
      scan((done, o) => new Set([...done, o.family]), new Set<Family>()),
      first((done) => families.every((f) => done.has(f))),
      map(() => undefined),
    );
}
