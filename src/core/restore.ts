/**
 * Start from the journal (a pure function of its records and of the configs
 * on disk): find the newest point where the agent rendered exactly the
 * configs that are installed now, fold the journal up to that point with the
 * same pure fold (from the newest full state before it: a checkpoint or a
 * full read of etcd), plan and render, and check that the result is, byte
 * for byte (sha256), what is on disk. Only then is the state trusted: BIRD
 * may start with the installed configs, and the etcd watch resumes from the
 * state's revision + 1.
 *
 * Why "the newest point that reproduces the disk" and not simply "the end
 * of the journal": the agent journals a config before it installs it, so an
 * agent killed between the two leaves a journal one step ahead of the disk.
 * The state one step back is a state the agent really had, and etcd's watch
 * delivers whatever came after it.
 */
import { sha256Of } from './config-bytes.js';
import type { EtcdBatch, Family } from './events.js';
import { JOURNAL_VERSION, type JournalRecord, type RestoredFrom } from './journal.js';
import { derivePlan, type Self } from './plan.js';
import type { Render } from './render.js';
import { foldBatch, createState, type State } from './state.js';

export interface RestoreInput {
  /** Journal records, oldest first (older files before newer); `undefined` marks a bad line (a gap). */
  readonly records: ReadonlyArray<JournalRecord | undefined>;
  /** The records start at the beginning of the oldest journal file there is (nothing older to read). */
  readonly complete: boolean;
  /** sha256 of each family's installed config file; absent when the file is missing. */
  readonly installed: Partial<Record<Family, string>>;
  readonly families: readonly Family[];
  readonly self: Self;
  readonly prefix: string;
  readonly render: Render;
}

export interface RestoredConfig {
  readonly generation: number;
  readonly sha256: string;
}

export interface Restored {
  readonly kind: 'restored';
  readonly state: State;
  readonly revision: number;
  /** The etcd cluster the state was read from, when the journal recorded it. */
  readonly clusterId?: string;
  /** The run that had this state, and each family's generation then. */
  readonly from: RestoredFrom;
  readonly configs: Readonly<Record<Family, RestoredConfig>>;
  /** When the agent rendered this state, and when the journal was last written. */
  readonly stateAt: string;
  readonly lastWrittenAt: string;
  /** Records folded (a checkpoint or full read, then batches). */
  readonly folded: number;
}

export type RestoreResult =
  | Restored
  /** The journal cannot be used: `reason` is one line for the log. */
  | { readonly kind: 'refused'; readonly reason: string }
  /** The state needs records older than those given (read the next older file and try again). */
  | { readonly kind: 'older'; readonly reason: string };

/** A point where the agent let a state through to render: a settled record or a checkpoint. */
interface Point {
  readonly index: number;
  readonly run: string;
  readonly t: string;
  /** Each family's config as rendered from the state at this point. */
  readonly renders: Partial<Record<Family, RestoredConfig>>;
}

const isBase = (r: JournalRecord): boolean =>
  r.type === 'checkpoint' || (r.type === 'batch' && r.events.length > 0 && r.events[0]?.type === 'resync');

const short = (sha: string): string => sha.slice(0, 12);

export function restoreFromJournal(input: RestoreInput): RestoreResult {
  const { records, families } = input;
  const points: Point[] = [];
  /** For each index: the newest base and the newest gap at or before it (-1: none). */
  const lastBase: number[] = [];
  const lastGap: number[] = [];
  let base = -1;
  let gap = -1;
  let cur: Partial<Record<Family, RestoredConfig>> = {};
  let point: { renders: Partial<Record<Family, RestoredConfig>> } | undefined;

  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r === undefined) gap = i;
    else if (r.type === 'start' && r.restored !== undefined) {
      // A run that restored writes its checkpoint right after its start: without it, what follows has no base.
      const next = records[i + 1];
      if (next === undefined || next.type !== 'checkpoint' || next.run !== r.run) gap = i;
    } else if (isBase(r)) base = i;
    lastBase.push(base);
    lastGap.push(gap);
    if (r === undefined) continue;
    if (r.type === 'checkpoint') {
      cur = {};
      for (const f of families) {
        const c = r.configs[f];
        if (c !== undefined) cur[f] = { generation: c.generation, sha256: c.sha256 };
      }
      point = { renders: { ...cur } };
      points.push({ index: i, run: r.run, t: r.t, renders: point.renders });
    } else if (r.type === 'settled') {
      point = { renders: { ...cur } };
      points.push({ index: i, run: r.run, t: r.t, renders: point.renders });
    } else if (r.type === 'config' && point !== undefined) {
      const c = { generation: r.generation, sha256: r.sha256 };
      cur[r.family] = c;
      point.renders[r.family] = c;
    } else if (r.type === 'start') {
      // A new run renders everything again at its first point; nothing is inherited from the last run.
      cur = {};
      point = undefined;
    }
  }

  const lastRecord = [...records].reverse().find((r) => r !== undefined);
  if (lastRecord === undefined) return { kind: input.complete ? 'refused' : 'older', reason: 'the journal holds no intact record' };

  for (const f of families) {
    if (input.installed[f] === undefined) return { kind: 'refused', reason: `no installed ${f === 'v4' ? 'bird.cfg' : 'bird6.cfg'} to start with` };
  }
  const matches = (p: Point): boolean => families.every((f) => p.renders[f]?.sha256 === input.installed[f]);

  let found: Point | undefined;
  let noBase: Point | undefined;
  for (let k = points.length - 1; k >= 0; k--) {
    const p = points[k]!;
    if (!matches(p)) continue;
    const b = lastBase[p.index] ?? -1;
    if (b >= 0 && b > (lastGap[p.index] ?? -1)) {
      found = p;
      break;
    }
    noBase ??= p;
  }
  if (found === undefined) {
    const disk = families.map((f) => `${f} ${short(input.installed[f] ?? '')}`).join(', ');
    if (!input.complete) return { kind: 'older', reason: noBase ? 'the matching state starts in an older file' : `no state in this file renders the installed configs (${disk})` };
    if (noBase !== undefined) return { kind: 'refused', reason: `the state that rendered the installed configs cannot be rebuilt: a corrupt journal line lies between it and the full state before it` };
    return { kind: 'refused', reason: `the installed configs (${disk}) are not a config this journal rendered` };
  }

  // Identity and version of the run that had the state.
  const from = lastBase[found.index] ?? 0;
  for (let i = found.index; i >= 0; i--) {
    const r = records[i];
    if (r === undefined || (r.type !== 'start' && r.type !== 'checkpoint') || r.run !== found.run) continue;
    if (r.version !== JOURNAL_VERSION) return { kind: 'refused', reason: `journal format version ${r.version}, this agent writes version ${JOURNAL_VERSION}` };
    if (r.prefix !== input.prefix || r.ip !== input.self.ip || (r.ip6 ?? null) !== (input.self.ip6 ?? null)) {
      return { kind: 'refused', reason: `the journal was written for IP=${r.ip} IP6=${r.ip6 ?? '(unset)'} prefix ${r.prefix}, this agent runs IP=${input.self.ip} IP6=${input.self.ip6 ?? '(unset)'} prefix ${input.prefix}` };
    }
    break;
  }

  const state = createState(input.self.nodeName);
  let clusterId: string | undefined;
  let folded = 0;
  for (let i = from; i < found.index; i++) {
    const r = records[i];
    if (r === undefined) continue; // cannot happen: no gap after the base
    if (r.type === 'checkpoint') {
      foldBatch(state, input.prefix, { revision: r.revision, events: [{ type: 'resync', revision: r.revision, kvs: r.kvs }] });
      if (r.clusterId !== undefined) clusterId = r.clusterId;
      folded++;
    } else if (r.type === 'batch') {
      foldBatch(state, input.prefix, r as EtcdBatch);
      if (typeof r.clusterId === 'string') clusterId = r.clusterId;
      folded++;
    } else if (r.type === 'etcd' && typeof r.clusterId === 'string') clusterId = r.clusterId;
  }
  const at = records[found.index];
  if (at?.type === 'checkpoint') {
    foldBatch(state, input.prefix, { revision: at.revision, events: [{ type: 'resync', revision: at.revision, kvs: at.kvs }] });
    if (at.clusterId !== undefined) clusterId = at.clusterId;
    folded++;
  }

  const configs = {} as Record<Family, RestoredConfig>;
  for (const f of families) {
    // Without a memo: the state's change tracking stays as it is for the agent's own planner.
    const sha = sha256Of(input.render(derivePlan(state, f, input.self)));
    const want = found.renders[f]!;
    if (sha !== want.sha256) {
      return {
        kind: 'refused',
        reason: `the journal's state at revision ${state.revision} renders ${f === 'v4' ? 'bird.cfg' : 'bird6.cfg'} as sha256 ${short(sha)}, the journal and the disk say ${short(want.sha256)} (templates changed by an upgrade?)`,
      };
    }
    configs[f] = want;
  }
  return {
    kind: 'restored',
    state,
    revision: state.revision,
    ...(clusterId !== undefined ? { clusterId } : {}),
    from: { run: found.run, revision: state.revision },
    configs,
    stateAt: found.t,
    lastWrittenAt: lastRecord.t,
    folded,
  };
}
