/**
 * What a new plan does to BIRD, per protocol: added, removed, or changed (a
 * changed protocol is restarted by BIRD on reconfigure: its session resets).
 */
import type { FamilyPlan, Session } from './plan.js';

export interface PlanDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Template-level settings changed (router id, source address, debug). */
  readonly templateChanged: boolean;
}

const sameSession = (a: Session, b: Session): boolean =>
  a.neighbor === b.neighbor &&
  a.kind === b.kind &&
  a.localAs === b.localAs &&
  a.peerAs === b.peerAs &&
  a.passive === b.passive &&
  a.clusterId === b.clusterId;

export function diffPlans(prev: FamilyPlan | undefined, next: FamilyPlan): PlanDiff {
  const before = new Map((prev?.sessions ?? []).map((s) => [s.name, s]));
  const added: string[] = [];
  const changed: string[] = [];
  for (const s of next.sessions) {
    const old = before.get(s.name);
    if (!old) added.push(s.name);
    else if (!sameSession(old, s)) changed.push(s.name);
    before.delete(s.name);
  }
  const templateChanged =
    prev !== undefined &&
    (prev.routerId !== next.routerId || prev.source !== next.source || prev.debug !== next.debug);
  return { added, removed: [...before.keys()], changed, templateChanged };
}

/** `+2 -1 ~0`, the one-glance summary of a diff. */
export const diffSummary = (d: PlanDiff): string => `+${d.added.length} -${d.removed.length} ~${d.changed.length}`;
