/**
 * What a new plan does to BIRD, per protocol: added, removed, or changed (a
 * changed protocol is restarted by BIRD on reconfigure: its session resets).
 */
import { sameSession, type FamilyPlan } from './plan.js';

export interface PlanDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Template-level settings changed (router id, source address, debug). */
  readonly templateChanged: boolean;
}

/** A merge walk over both name-sorted session lists: O(n), no allocation per session. */
export function diffPlans(prev: FamilyPlan | undefined, next: FamilyPlan): PlanDiff {
  const a = prev?.sessions ?? [];
  const b = next.sessions;
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x !== undefined && y !== undefined && x.name === y.name) {
      if (x !== y && !sameSession(x, y)) changed.push(y.name);
      i++;
      j++;
    } else if (y === undefined || (x !== undefined && x.name < y.name)) {
      removed.push(x!.name);
      i++;
    } else {
      added.push(y.name);
      j++;
    }
  }
  const templateChanged =
    prev !== undefined &&
    (prev.routerId !== next.routerId || prev.source !== next.source || prev.debug !== next.debug);
  return { added, removed, changed, templateChanged };
}

/** `+2 -1 ~0`, the one-glance summary of a diff. */
export const diffSummary = (d: PlanDiff): string => `+${d.added.length} -${d.removed.length} ~${d.changed.length}`;
