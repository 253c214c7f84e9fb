/**
 * The agent's state: a fold of etcd events (docs/architecture.md, step 2). Each event costs time
 * proportional to the keys it touches: the state is indexed so that neither a
 * put nor a delete scans the keyspace, an unchanged value is not re-parsed,
 * and a resync only re-parses the keys whose value differs.
 *
 * The state is mutated in place for speed; `createState` gives every fold its
 * own, so replaying the same events always builds the same state.
 */
import { classifyKey, parseEntry, type Entry } from './keyspace.js';
import { FAMILIES, type EtcdBatch, type EtcdEvent, type Family } from './events.js';
import { SmallIndex } from './small-index.js';

type Of<K extends Entry['kind']> = Extract<Entry, { kind: K }>;
type PerFamily<T> = Record<Family, T>;

export interface State {
  revision: number;
  /**
   * Raw value of every key this agent uses, valid or not (to skip unchanged
   * values). The entry behind a valid one is not kept per key: the indexes
   * hold what plans need, and a removed value is parsed again to take it out
   * of them (parsing is pure), which at 100,000 nodes saves a Map of 300,000
   * entries.
   */
  readonly raw: Map<string, string>;
  /** The key of each rejected value, with the reason. */
  readonly invalid: Map<string, string>;
  /** `/global/as_num`, when set and valid. */
  globalAs: number | undefined;
  /** `/global/loglevel` is `debug`. */
  debug: boolean;
  /**
   * NODENAME: this route reflector's own host. Its `/host/<node>/peer_vN/*`
   * keys are the RR's own peers, and its `/host/<node>/as_num` our AS on them.
   */
  readonly ownNode?: string;
  /** `/host/<ownNode>/as_num`, when set and valid. */
  ownAs: number | undefined;
  readonly rr: PerFamily<Map<string, Of<'rr'>>>;
  readonly globalPeers: PerFamily<Map<string, Of<'globalPeer'>>>;
  /** node -> its address, per family. */
  readonly hostIps: PerFamily<Map<string, string>>;
  /** peer (RR) address -> key -> node-specific peering that names it. */
  readonly hostPeersByIp: PerFamily<Map<string, Map<string, Of<'hostPeer'>>>>;
  /** node -> key -> its node-specific peerings, per family. */
  readonly hostPeersByNode: PerFamily<SmallIndex<string, Of<'hostPeer'>>>;
  /** address -> the nodes that have it (node -> node), per family. */
  readonly nodesByIp: PerFamily<SmallIndex<string, string>>;
  /** Counts the changes that can alter each family's plan (not a config generation: a change may render the same text). */
  readonly changes: PerFamily<number>;
  /**
   * What changed since the family's planner last took it (takeDirty). The one
   * mutable hand-over between the fold and the incremental plan: foldBatch
   * adds to it, derivePlan with a memo swaps in an empty record. One planner
   * per state and family (familyConfig), in the same synchronous step as the
   * fold, so nothing else ever sees it half-taken.
   */
  dirty: Record<Family, Dirty>;
}

/**
 * Changes a family's planner has not seen yet: the neighbour addresses and
 * nodes that node-level events touched, or `structural` when something that
 * shapes the whole plan changed (RR membership, global peers, AS, log level).
 */
export interface Dirty {
  structural: boolean;
  readonly addrs: Set<string>;
  readonly nodes: Set<string>;
}

/** A new state's record: everything is to be planned. */
const allDirty = (): Dirty => ({ structural: true, addrs: new Set(), nodes: new Set() });

/** Hand the family's accumulated changes to its (single) incremental planner. */
export function takeDirty(state: State, family: Family): Dirty {
  const d = state.dirty[family];
  state.dirty[family] = { structural: false, addrs: new Set(), nodes: new Set() };
  return d;
}

export interface Rejection {
  readonly key: string;
  readonly reason: string;
}

export interface IgnoredFields {
  readonly key: string;
  readonly fields: readonly string[];
}

/** What one batch did to the state (for logs and metrics). */
export interface FoldResult {
  readonly state: State;
  readonly revision: number;
  /** How many events the batch held. */
  readonly eventCount: number;
  /** Keys whose value was rejected in this batch (each logged once). */
  readonly rejected: readonly Rejection[];
  /** Peer values put in this batch with fields this agent does not use (each logged once, at debug). */
  readonly ignored?: readonly IgnoredFields[];
  /** Set on the first result of a fold that starts from the journal's state (no batch folded yet). */
  readonly restored?: { readonly stateAt: string };
}

const perFamily = <T>(make: () => T): PerFamily<T> => ({ v4: make(), v6: make() });

export function createState(ownNode?: string): State {
  return {
    revision: 0,
    raw: new Map(),
    invalid: new Map(),
    globalAs: undefined,
    debug: false,
    ...(ownNode !== undefined ? { ownNode } : {}),
    ownAs: undefined,
    rr: perFamily(() => new Map()),
    globalPeers: perFamily(() => new Map()),
    hostIps: perFamily(() => new Map()),
    hostPeersByIp: perFamily(() => new Map()),
    hostPeersByNode: perFamily(() => new SmallIndex()),
    nodesByIp: perFamily(() => new SmallIndex()),
    changes: { v4: 0, v6: 0 },
    dirty: perFamily(allDirty),
  };
}

function touch(state: State, entry: Entry): void {
  if ((entry.kind === 'hostAs' || entry.kind === 'hostPeer') && entry.node === state.ownNode && state.ownNode !== undefined) {
    // Our own peers shape the whole plan (one session per neighbour: they win over clients).
    if (entry.kind === 'hostAs') for (const f of FAMILIES) state.dirty[f].structural = true;
    else state.dirty[entry.family].structural = true;
  }
  switch (entry.kind) {
    case 'hostAs':
      if (entry.node !== state.ownNode) return;
      break;
    case 'hostIp': {
      const d = state.dirty[entry.family];
      if (d.structural) break; // the planner re-decides everything anyway (its first plan, or after an RR, global peer or AS change)
      d.addrs.add(entry.ip);
      d.nodes.add(entry.node);
      break;
    }
    case 'hostPeer': {
      const d = state.dirty[entry.family];
      if (d.structural) break;
      const ip = state.hostIps[entry.family].get(entry.node);
      if (ip !== undefined) d.addrs.add(ip);
      d.nodes.add(entry.node);
      break;
    }
    case 'rr':
    case 'globalPeer':
      state.dirty[entry.family].structural = true;
      break;
    case 'globalAs':
    case 'loglevel':
      for (const f of FAMILIES) state.dirty[f].structural = true;
      break;
  }
  if ('family' in entry) state.changes[entry.family]++;
  else for (const f of FAMILIES) state.changes[f]++;
}

function keyed<K, V>(map: Map<K, Map<string, V>>, k: K, key: string, v: V, add: boolean): void {
  let inner = map.get(k);
  if (add) {
    if (!inner) map.set(k, (inner = new Map()));
    inner.set(key, v);
  } else if (inner) {
    inner.delete(key);
    if (inner.size === 0) map.delete(k);
  }
}

function index(state: State, key: string, entry: Entry, add: boolean): void {
  switch (entry.kind) {
    case 'rr':
      if (add) state.rr[entry.family].set(key, entry);
      else state.rr[entry.family].delete(key);
      break;
    case 'globalPeer':
      if (add) state.globalPeers[entry.family].set(key, entry);
      else state.globalPeers[entry.family].delete(key);
      break;
    case 'hostIp':
      if (add) state.hostIps[entry.family].set(entry.node, entry.ip);
      else state.hostIps[entry.family].delete(entry.node);
      if (add) state.nodesByIp[entry.family].set(entry.ip, entry.node, entry.node);
      else state.nodesByIp[entry.family].delete(entry.ip, entry.node);
      break;
    case 'hostPeer':
      keyed(state.hostPeersByIp[entry.family], entry.ip, key, entry, add);
      if (add) state.hostPeersByNode[entry.family].set(entry.node, key, entry);
      else state.hostPeersByNode[entry.family].delete(entry.node, key);
      break;
    case 'globalAs':
      state.globalAs = add ? entry.as : undefined;
      break;
    case 'loglevel':
      state.debug = add && entry.debug;
      break;
    case 'hostAs':
      if (entry.node === state.ownNode) state.ownAs = add ? entry.as : undefined;
      break;
  }
  touch(state, entry);
}

/** The entry a stored value stands for: the same key and value always parse to the same entry. */
function entryOf(prefix: string, key: string, value: string): Entry | undefined {
  const cls = classifyKey(prefix, key);
  if (!cls) return undefined;
  const parsed = parseEntry(cls, value);
  return parsed.ok ? parsed.value : undefined;
}

function remove(state: State, prefix: string, key: string): void {
  const prev = state.raw.get(key);
  if (prev === undefined) return;
  state.raw.delete(key);
  if (state.invalid.delete(key)) return; // it was never indexed
  const old = entryOf(prefix, key, prev);
  if (old) index(state, key, old, false);
}

function put(state: State, prefix: string, key: string, value: string, rejected: Rejection[], ignored: IgnoredFields[]): void {
  const prev = state.raw.get(key);
  if (prev === value) return;
  const cls = classifyKey(prefix, key);
  if (!cls) return;
  if (prev !== undefined) remove(state, prefix, key);
  state.raw.set(key, value);
  const parsed = parseEntry(cls, value);
  if (!parsed.ok) {
    state.invalid.set(key, parsed.reason);
    rejected.push({ key, reason: parsed.reason });
    return;
  }
  if ('ignored' in parsed.value && parsed.value.ignored !== undefined) ignored.push({ key, fields: parsed.value.ignored });
  index(state, key, parsed.value, true);
}

function apply(state: State, prefix: string, ev: EtcdEvent, rejected: Rejection[], ignored: IgnoredFields[]): void {
  switch (ev.type) {
    case 'put':
      put(state, prefix, ev.key, ev.value, rejected, ignored);
      break;
    case 'delete':
      remove(state, prefix, ev.key);
      break;
    case 'resync': {
      if (state.raw.size > 0) {
        const present = new Set<string>();
        for (const kv of ev.kvs) present.add(kv.key);
        for (const key of [...state.raw.keys()]) if (!present.has(key)) remove(state, prefix, key);
      }
      for (const kv of ev.kvs) put(state, prefix, kv.key, kv.value, rejected, ignored);
      break;
    }
  }
  if (ev.revision > state.revision) state.revision = ev.revision;
}

/** Fold one batch into the state. */
export function foldBatch(state: State, prefix: string, batch: EtcdBatch): FoldResult {
  const rejected: Rejection[] = [];
  const ignored: IgnoredFields[] = [];
  for (const ev of batch.events) apply(state, prefix, ev, rejected, ignored);
  if (batch.revision > state.revision) state.revision = batch.revision;
  return { state, revision: state.revision, eventCount: batch.events.length, rejected, ...(ignored.length > 0 ? { ignored } : {}) };
}

