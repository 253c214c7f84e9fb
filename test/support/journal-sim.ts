/**
 * An agent run in miniature for journal tests: the agent's own pure streams
 * (fold, familyConfig) write a real journal through the journal effect, and
 * "installing" a config writes it to a real config directory (as the apply
 * effect does, after flushing the journal). No etcd, no BIRD: the subject is
 * what the journal holds and what a restart rebuilds from it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Subject } from 'rxjs';
import { PREFIX } from '../../src/core/config.js';
import { FAMILIES, type EtcdBatch, type EtcdEvent, type Family, type FamilyConfig } from '../../src/core/events.js';
import { CONFIG_FILE } from '../../src/core/render.js';
import { createRenderer } from './render.js';
import type { Restored } from '../../src/core/restore.js';
import { foldBatch, createState, type FoldResult, type State } from '../../src/core/state.js';
import { openJournal, type Journal } from '../../src/effects/journal.js';
import { createLog, type Log } from '../../src/effects/logger.js';
import { familyConfig } from '../../src/streams/family-config.js';
import { kv } from './state.js';

export const SELF = { ip: '10.0.0.1', ip6: 'fd00::1' };
export const render = createRenderer();

export interface LogSink {
  readonly log: Log;
  readonly lines: Array<Record<string, unknown>>;
}

export function captureLog(): LogSink {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLog({ level: 'debug', format: 'json', write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { log, lines };
}

export interface SimRun {
  readonly journal: Journal;
  /** Fold one batch (journaled first). */
  batch(events: ReadonlyArray<Omit<EtcdEvent, 'revision'>>, clusterId?: string): void;
  /** Let the state through to render (journaled), returning the configs that changed. */
  settle(): FamilyConfig[];
  /** Write a config to the config dir as the apply effect does (journal flushed first). */
  install(c: FamilyConfig): void;
  readonly latest: Partial<Record<Family, FamilyConfig>>;
  readonly state: State;
  revision(): number;
  close(): void;
}

let rev = 1;

/** One agent run writing `file`; with `restored`, it starts from that state as the agent does. */
export function simRun(file: string, configDir: string, o: { restored?: Restored; maxBytes?: number; keep?: number; log?: Log } = {}): SimRun {
  const log = o.log ?? captureLog().log;
  const journal = openJournal({ file, maxBytes: o.maxBytes ?? 1 << 30, keep: o.keep ?? 3, ...SELF, prefix: PREFIX, debounceMs: 100, maxWaitMs: 1000, log, ...(o.restored ? { restored: o.restored } : {}) });
  const state = o.restored?.state ?? createState();
  if (o.restored) rev = Math.max(rev, o.restored.revision);
  const settled = new Subject<FoldResult>();
  const latest: Partial<Record<Family, FamilyConfig>> = {};
  let out: FamilyConfig[] = [];
  for (const f of FAMILIES) {
    settled.pipe(familyConfig(f, SELF, render, o.restored ? o.restored.configs[f].generation : 1)).subscribe((c) => {
      journal.config(c);
      latest[f] = c;
      out.push(c);
    });
  }
  mkdirSync(configDir, { recursive: true });
  return {
    journal,
    latest,
    state,
    revision: () => state.revision,
    batch(events, clusterId) {
      rev++;
      const b: EtcdBatch = { revision: rev, events: events.map((e) => ({ ...e, revision: rev }) as EtcdEvent), ...(clusterId !== undefined ? { clusterId } : {}) };
      journal.batch(b);
      foldBatch(state, PREFIX, b);
    },
    settle() {
      out = [];
      const r: FoldResult = { state, revision: state.revision, eventCount: 0, rejected: [] };
      journal.settled(r);
      settled.next(r);
      return out;
    },
    install(c) {
      journal.flush();
      writeFileSync(join(configDir, CONFIG_FILE[c.family]), c.bytes);
    },
    close() {
      settled.complete();
      journal.close();
    },
  };
}

export { del, put } from './marbles.js';

/** The keyspace of a small fabric: this RR in a mesh with one other, `nodes` clients. */
export function fabric(nodes: number): Array<{ key: string; value: string }> {
  const kvs = [kv('/global/as_num', '64512'), kv('/rr_v4/10.0.0.1', { ip: '10.0.0.1', cluster_id: '1.0.0.1' }), kv('/rr_v4/10.0.0.2', { ip: '10.0.0.2', cluster_id: '1.0.0.1' }), kv('/rr_v6/fd00::1', { ip: 'fd00::1', cluster_id: '' })];
  for (let i = 1; i <= nodes; i++) {
    kvs.push(kv(`/host/n${i}/ip_addr_v4`, `10.0.1.${i}`), kv(`/host/n${i}/peer_v4/10.0.0.1`, { ip: '10.0.0.1', as_num: 64512 }));
    if (i % 2 === 0) kvs.push(kv(`/host/n${i}/ip_addr_v6`, `fd00::1:${i}`), kv(`/host/n${i}/peer_v6/fd00::1`, { ip: 'fd00::1', as_num: 64512 }));
  }
  return kvs;
}

/** A first run: a full read, settled and installed. */
export function firstRun(file: string, configDir: string, nodes = 5, o: { log?: Log; maxBytes?: number; keep?: number } = {}): SimRun {
  const run = simRun(file, configDir, o);
  run.batch([{ type: 'resync', kvs: fabric(nodes) } as never], 'cluster-a');
  for (const c of run.settle()) run.install(c);
  return run;
}
