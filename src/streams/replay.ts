/**
 * Replay: fold journal records through the same pure core as the agent
 * (foldBatch -> familyConfig, i.e. derivePlan and render, distinct on the
 * text), rendering exactly at the journaled `settled` points, so every
 * generation comes out with the bytes the agent wrote. Pure: no I/O.
 */
import { Subject } from 'rxjs';
import { FAMILIES, type Family } from '../core/events.js';
import { selfOfIdentity, type JournalRecord } from '../core/journal.js';
import type { Self } from '../core/plan.js';
import type { Render } from '../core/render.js';
import { foldBatch, createState, type FoldResult, type State } from '../core/state.js';
import { familyConfig } from './family-config.js';

export interface ReplayedConfig {
  readonly run: string;
  readonly family: Family;
  readonly generation: number;
  readonly revision: number;
  readonly bytes: Buffer;
  readonly sha256: string;
  /** The sha256 the agent journaled for this generation, when the journal has it. */
  readonly journaled?: string;
}

export interface ReplayResult {
  readonly configs: readonly ReplayedConfig[];
  /** Generations whose bytes differ from what the agent journaled, gaps, and records out of place. */
  readonly problems: readonly string[];
  readonly runs: readonly string[];
}

export { sha256 } from './family-config.js';

class RunReplay {
  readonly state: State;
  batches = 0;
  private readonly settled = new Subject<FoldResult>();

  constructor(
    readonly run: string,
    private readonly prefix: string,
    self: Self,
    render: Render,
    base: Partial<Record<Family, number>>,
    out: Array<Omit<ReplayedConfig, 'journaled'>>,
  ) {
    this.state = createState(self.nodeName);
    for (const family of FAMILIES) {
      // After a checkpoint, the first config is the checkpoint's own generation again.
      const offset = (base[family] ?? 0) > 0 ? (base[family] ?? 0) - 1 : 0;
      this.settled.pipe(familyConfig(family, self, render)).subscribe((c) =>
        out.push({ run, family, generation: c.generation + offset, revision: c.revision, bytes: c.bytes, sha256: c.sha256 }),
      );
    }
  }

  fold(revision: number, events: Parameters<typeof foldBatch>[2]['events']): void {
    foldBatch(this.state, this.prefix, { revision, events });
    this.batches++;
  }

  settle(): void {
    this.settled.next({ state: this.state, revision: this.state.revision, eventCount: 0, rejected: [] });
  }

  end(): void {
    this.settled.complete();
  }
}

export function replayJournal(records: Iterable<JournalRecord>, render: Render): ReplayResult {
  const out: Array<Omit<ReplayedConfig, 'journaled'>> = [];
  const expected = new Map<string, string>();
  const problems: string[] = [];
  const runs: string[] = [];
  const id = (run: string, family: Family, generation: number): string => `${run} ${family} ${generation}`;
  let cur: RunReplay | undefined;
  let skipping: string | undefined;

  for (const r of records) {
    switch (r.type) {
      case 'start':
        cur?.end();
        cur = new RunReplay(r.run, r.prefix, selfOfIdentity(r), render, {}, out);
        runs.push(r.run);
        break;
      case 'checkpoint': {
        // Continuous (a rotation within a run): nothing lost. A run's first checkpoint (batches 0) is its base.
        if (cur?.run === r.run && cur.batches === r.batches && r.batches > 0) break;
        cur?.end();
        const base: Partial<Record<Family, number>> = {};
        for (const f of FAMILIES) {
          const c = r.configs[f];
          if (c) {
            base[f] = c.generation;
            expected.set(id(r.run, f, c.generation), c.sha256);
          }
        }
        cur = new RunReplay(r.run, r.prefix, selfOfIdentity(r), render, base, out);
        cur.fold(r.revision, [{ type: 'resync', revision: r.revision, kvs: r.kvs }]);
        cur.batches = r.batches;
        cur.settle();
        if (!runs.includes(r.run)) runs.push(r.run);
        break;
      }
      case 'batch':
        if (!cur || cur.run !== r.run) {
          if (skipping !== r.run) problems.push(`run ${r.run}: batches without a start or checkpoint record (journal truncated?): skipped`);
          skipping = r.run;
          break;
        }
        if (r.n !== cur.batches + 1) problems.push(`run ${r.run}: batch ${r.n} follows batch ${cur.batches}: batches missing`);
        cur.fold(r.revision, r.events);
        break;
      case 'settled':
        if (!cur || cur.run !== r.run) break;
        if (r.batches !== cur.batches) problems.push(`run ${r.run}: settled after ${r.batches} batches, replay has ${cur.batches}`);
        cur.settle();
        break;
      case 'config':
        expected.set(id(r.run, r.family, r.generation), r.sha256);
        break;
      default:
        break; // health, outcomes, etcd status: they decide when effects run, not what is rendered
    }
  }
  cur?.end();

  const configs: ReplayedConfig[] = [];
  const produced = new Set<string>();
  for (const c of out) {
    const key = id(c.run, c.family, c.generation);
    if (produced.has(key)) continue; // a checkpoint re-derives the generation it was taken at
    produced.add(key);
    const journaled = expected.get(key);
    if (journaled !== undefined && journaled !== c.sha256) {
      problems.push(`run ${c.run} ${c.family} generation ${c.generation}: replayed sha256 ${c.sha256.slice(0, 12)} differs from the journal's ${journaled.slice(0, 12)}`);
    }
    configs.push({ ...c, ...(journaled !== undefined ? { journaled } : {}) });
  }
  for (const key of expected.keys()) {
    if (!produced.has(key) && runs.includes(key.split(' ')[0] ?? '')) problems.push(`${key.replace(/ (v[46]) (\d+)$/, ' $1 generation $2')}: in the journal, not reproduced by the replay`);
  }
  return { configs, problems, runs };
}
