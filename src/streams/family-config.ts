import { createHash } from 'node:crypto';
import { defer, filter, map, type Observable } from 'rxjs';
import type { Family } from '../core/events.js';
import type { FamilyPlan, Self } from '../core/plan.js';
import { createPlanMemo, derivePlan } from '../core/plan.js';
import { diffPlans, type PlanDiff } from '../core/plan-diff.js';
import type { Render } from '../core/render.js';
import type { FoldResult } from '../core/state.js';

/** One family's rendered config, with the plan and revision it came from. */
export interface FamilyConfig {
  readonly family: Family;
  readonly revision: number;
  /** Counts distinct texts of this family: 1 for the first config. */
  readonly generation: number;
  readonly plan: FamilyPlan;
  /** The file's bytes (ASCII): hashed, compared and written as they are. */
  readonly bytes: Buffer;
  /** The same as text, decoded on first use (CLI, tests; the agent's own path never needs it). */
  readonly text: string;
  /** sha256 of the bytes (hex), computed once: logs, journal and replay compare generations by it. */
  readonly sha256: string;
  /** The plan of the previous config of this family (undefined for the first). */
  readonly previous?: FamilyPlan;
  /** What this config does to BIRD's protocols, against the previous one (computed once for logs and metrics). */
  readonly diff: PlanDiff;
}

/** sha256 of a rendered config (its bytes, or its ASCII text), as `sha256sum` prints it. */
export const sha256 = (config: Buffer | string): string =>
  createHash('sha256').update(typeof config === 'string' ? Buffer.from(config, 'latin1') : config).digest('hex');

/** A FamilyConfig whose `text` is decoded from its bytes once, when asked for. */
function withText<T extends { bytes: Buffer }>(config: T): T & { readonly text: string } {
  let text: string | undefined;
  return Object.defineProperty(config, 'text', {
    enumerable: false,
    get: () => (text ??= config.bytes.toString('latin1')),
  }) as T & { readonly text: string };
}

/** Everything but the sessions that a template formats. */
const sameHeader = (a: FamilyPlan, b: FamilyPlan): boolean =>
  a.routerId === b.routerId && a.source === b.source && a.debug === b.debug;

/**
 * Plan and render one family, only when something that family depends on
 * changed (its state generation), and emit only when the text changed
 * (distinct on the rendered text): a change that touches only IPv6 never
 * reaches BIRD (IPv4), and vice versa.
 */
export function familyConfig(family: Family, self: Self, render: Render) {
  return (settled$: Observable<FoldResult>): Observable<FamilyConfig> =>
    defer(() => {
      let generation = 0;
      let lastBytes: Buffer | undefined;
      let lastGen = -1;
      let lastPlan: FamilyPlan | undefined;
      let previous: FamilyPlan | undefined;
      const memo = createPlanMemo();
      return settled$.pipe(
        filter((r) => {
          const changed = r.state.gens[family] !== lastGen;
          lastGen = r.state.gens[family];
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
        map(({ revision, plan }) => ({ revision, plan, bytes: render(plan) })),
        filter((c) => lastBytes === undefined || !c.bytes.equals(lastBytes)),
        map((c) => {
          lastBytes = c.bytes;
          const config: FamilyConfig = withText({
            family,
            generation: ++generation,
            ...c,
            sha256: sha256(c.bytes),
            ...(previous !== undefined ? { previous } : {}),
            diff: diffPlans(previous, c.plan),
          });
          previous = c.plan;
          return config;
        }),
      );
    });
}
