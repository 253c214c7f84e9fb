import { distinctUntilChanged, map, type Observable } from 'rxjs';
import type { Family, HealthEvent, Probe } from '../core/events.js';

/**
 * Periodic probe results to health events: one event per transition (down to
 * up, up to down, or a restart seen as a new instance while up).
 */
export function healthTransitions(family: Family) {
  return (probes$: Observable<Probe>): Observable<HealthEvent> =>
    probes$.pipe(
      distinctUntilChanged((a, b) => a.up === b.up && (!a.up || a.instance === b.instance)),
      map((p) => ({
        type: 'health' as const,
        family,
        up: p.up,
        ...(p.instance !== undefined ? { instance: p.instance } : {}),
        ...(p.reason !== undefined ? { reason: p.reason } : {}),
      })),
    );
}
