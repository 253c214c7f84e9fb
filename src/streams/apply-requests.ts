import { defer, filter, map, merge, share, withLatestFrom, type Observable } from 'rxjs';
import type { ApplyRequest, FamilyConfig, HealthEvent } from '../core/events.js';

/**
 * When to apply a family's config: each time it changes, and again each time
 * a new instance of its daemon comes up (started or restarted, e.g. by s6),
 * so it runs the latest config at once. A daemon that only missed probes
 * (same instance, e.g. a slow answer under load) is not reloaded again.
 */
export function applyRequests(health$: Observable<HealthEvent>) {
  return (config$: Observable<FamilyConfig>): Observable<ApplyRequest> =>
    defer(() => {
      const configs = config$.pipe(share());
      let lastUp: { instance: string | undefined } | undefined;
      const newInstance = (h: HealthEvent): boolean => {
        if (!h.up) return false;
        const fresh = lastUp === undefined || h.instance === undefined || h.instance !== lastUp.instance;
        lastUp = { instance: h.instance };
        return fresh;
      };
      return merge(
        configs.pipe(map((config) => ({ config, reason: 'changed' as const }))),
        health$.pipe(
          filter(newInstance),
          withLatestFrom(configs),
          map(([, config]) => ({ config, reason: 'daemon-up' as const })),
        ),
      );
    });
}
