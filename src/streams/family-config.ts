import { defer, filter, map, type Observable } from 'rxjs';
import type { Family, FamilyConfig } from '../core/events.js';
import type { FamilyPlan, Self } from '../core/plan.js';
import { createPlanMemo, derivePlan } from '../core/plan.js';
import { diffPlans, type PlanDiff } from '../core/plan-diff.js';
import type { Render } from '../core/render.js';
import { joinBytes, sameBytes, sha256Of, type ConfigBytes } from '../core/config-bytes.js';
import type { FoldResult } from '../core/state.js';

/** sha256 of a rendered config (its bytes, or its ASCII text), as `sha256sum` prints it. */
export const sha256 = (config: Buffer | string): string => sha256Of([typeof config === 'string' ? Buffer.from(config, 'latin1') : config]);

/** A config whose `bytes` and `text` are joined from its parts once, when asked for. */
function joinedOnDemand<T extends { parts: ConfigBytes }>(config: T): T & { readonly bytes: Buffer; readonly text: string } {
  let bytes: Buffer | undefined;
  let text: string | undefined;
  Object.defineProperty(config, 'bytes', { enumerable: false, get: () => (bytes ??= joinBytes(config.parts)) });
  Object.defineProperty(config, 'text', { enumerable: false, get: () => (text ??= (bytes ??= joinBytes(config.parts)).toString('latin1')) });
  return config as T & { readonly bytes: Buffer; readonly text: string };
}

/** Everything but the sessions that a template formats. */
const sameHeader = (a: FamilyPlan, b: FamilyPlan): boolean =>
  a.routerId === b.routerId && a.source === b.source && a.debug === b.debug;

/**
 * Plan and render one family, only when something that family depends on
 * changed (its state generation), and emit only when the text changed
 * (distinct on the rendered text): a change that touches only IPv6 never
 * reaches BIRD (IPv4), and vice versa. A run that started from the journal
 * numbers its first config with the generation it restored.
 */
export function familyConfig(family: Family, self: Self, render: Render, firstGeneration = 1) {
  return (settled$: Observable<FoldResult>): Observable<FamilyConfig> =>
    defer(() => {
      let generation = firstGeneration - 1;
      let lastParts: ConfigBytes | undefined;
      let lastGen = -1;
      let lastPlan: FamilyPlan | undefined;
      let previous: FamilyPlan | undefined;
      const memo = createPlanMemo();
      return settled$.pipe(
        filter((r) => {
          const changed = r.state.changes[family] !== lastGen;
          lastGen = r.state.changes[family];
          return changed;
        }),
        map((r) => ({ revision: r.revision, plan: derivePlan(r.state, family, self, memo) })),
        // The memo hands back the same sessions array when no session changed: then only the
        // header can differ, and an unchanged header means unchanged text (no render needed).
        filter(({ plan }) => {
          const same = lastPlan !== undefined && plan.sessions === lastPlan.sessions && sameHeader(plan, lastPlan);
          if (!same) lastPlan = plan;
          return !same;
        }),
        map(({ revision, plan }) => ({ revision, plan, parts: render(plan) })),
        filter((c) => lastParts === undefined || !sameBytes(lastParts, c.parts)),
        map((c) => {
          lastParts = c.parts;
          const config: FamilyConfig = joinedOnDemand({
            family,
            generation: ++generation,
            ...c,
            sha256: sha256Of(c.parts),
            ...(previous !== undefined ? { previous } : {}),
            diff: diffPlans(previous, c.plan),
          });
          previous = c.plan;
          return config;
        }),
      );
    });
}
