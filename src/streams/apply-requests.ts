import { filter, map, merge, share, withLatestFrom, type Observable } from 'rxjs';
import type { HealthEvent } from '../core/events.js';
import type { FamilyConfig } from './family-config.js';

export type ApplyReason = 'changed' | 'daemon-up';

export interface ApplyRequest {
  readonly config: FamilyConfig;
  readonly reason: ApplyReason;
}

/**
 * When to apply a family's config: each time it changes, and again each time
 * its daemon comes up (or restarts), so a BIRD started or restarted by s6
 * runs the latest config at once.
 */
export function applyRequests(health$: Observable<HealthEvent>) {
  return (config$: Observable<FamilyConfig>): Observable<ApplyRequest> => {
    const configs = config$.pipe(share());
    return merge(
      configs.pipe(map((config) => ({ config, reason: 'changed' as const }))),
      health$.pipe(
        filter((h) => h.up),
        withLatestFrom(configs),
        map(([, config]) => ({ config, reason: 'daemon-up' as const })),
      ),
    );
  };
}
