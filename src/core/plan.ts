/**
 * The peering plan of one address family (DESIGN §2), a pure function of the
 * state and this route reflector's own addresses. Everything a template needs
 * is decided here; templates only format it.
 *
 * Client sessions are decided per neighbour address (`clientAt`), so a plan
 * can be updated for just the addresses a change touched: pass a PlanMemo and
 * the state's dirty record is taken and only those addresses are re-decided.
 * With or without a memo, the plan is the same (tested on random walks).
 */
import { addressSymbol, compareAddresses } from './addresses.js';
import type { Family } from './events.js';
import { takeDirty, type State } from './state.js';

export const DEFAULT_AS = 64511;
const MAX_NOTES = 20;

export type SessionKind = 'mesh' | 'client';

/** A session's kind from its name: mesh sessions are `Mesh_<addr>`, clients `Node_<addr>`. */
export const kindOfSessionName = (name: string): SessionKind => (name.startsWith('Mesh_') ? 'mesh' : 'client');

export interface Session {
  readonly name: string;
  readonly kind: SessionKind;
  readonly neighbor: string;
  readonly localAs: number;
  readonly peerAs: number;
  /** Mesh only: the neighbour's address is lower than ours, it connects to us. */
  readonly passive: boolean;
  /** Client only: the neighbour is a route reflector client (`rr client`). */
  readonly rrClient: boolean;
  /** Client only: our `rr cluster id`, when we are a registered RR with one. */
  readonly clusterId?: string;
  /** Mesh only: seconds before connecting (`connect delay time`). */
  readonly connectDelayTime?: number;
  /** Mesh only: `error wait time` min, max in seconds (the back-off after a session error). */
  readonly errorWaitTime?: readonly [number, number];
}

/** Timers of mesh sessions: route reflectors reconnect to each other quickly, backing off on repeated errors. */
const MESH_TIMERS = { connectDelayTime: 2, errorWaitTime: [5, 60] as const };

export interface FamilyPlan {
  readonly family: Family;
  readonly routerId: string;
  /** Our address in this family; undefined means no BGP in this family. */
  readonly source?: string;
  readonly debug: boolean;
  /** AS of the mesh, and whether it is the default because `/global/as_num` is absent. */
  readonly meshAs: number;
  readonly asDefaulted: boolean;
  /** Whether we are registered under `rr_vN` (mesh member). */
  readonly member: boolean;
  readonly clusterId?: string;
  /** Sorted by name. */
  readonly sessions: readonly Session[];
  /** Conflicts resolved while planning (logged when they change), sorted. */
  readonly notes: readonly string[];
}

export interface Self {
  readonly ip: string;
  readonly ip6?: string;
}

/** This RR's addresses, from the config or a journal record (an absent ip6 stays absent). */
export const selfOf = (c: { readonly ip: string; readonly ip6?: string | undefined }): Self => ({ ip: c.ip, ...(c.ip6 !== undefined ? { ip6: c.ip6 } : {}) });

interface Candidate {
  readonly as: number;
  readonly node: string;
  readonly specific: boolean;
  /** The etcd key of a node-specific peering (ties between two such keys of one node). */
  readonly key: string;
}

/** What shapes the whole plan; anything else is decided per address. */
interface Frame {
  readonly me: string;
  /** We are registered under `rr_vN`. */
  readonly member: boolean;
  readonly meshAs: number;
  readonly clusterId?: string;
  /** The AS of the global peering naming us, if any. */
  readonly globalAs?: number;
  readonly mesh: ReadonlyMap<string, Session>;
}

/**
 * What the previous plan of a family was built from, owned by one caller
 * (one memo per state and family): lets the next plan re-decide only the
 * addresses that changed, keep unchanged sessions' object identity
 * (renderers cache by it) and keep the sorted order.
 */
export interface PlanMemo {
  frame?: Frame;
  /** Client sessions by neighbour address. */
  clients: Map<string, Session>;
  notesByAddr: Map<string, readonly string[]>;
  notesByNode: Map<string, string>;
  order: readonly Session[];
}

export const createPlanMemo = (): PlanMemo => ({ clients: new Map(), notesByAddr: new Map(), notesByNode: new Map(), order: [] });

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const byName = (a: Session, b: Session): number => byText(a.name, b.name);

function sortedByKey<T>(map: ReadonlyMap<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => byText(a, b)).map(([, v]) => v);
}

/** Of two candidates for one address, the one that wins, whatever the order they come in. */
function preferred(a: Candidate, b: Candidate): Candidate {
  if (a.node !== b.node) return a.node < b.node ? a : b;
  if (a.specific !== b.specific) return a.specific ? a : b; // node-specific is more specific than global
  return a.key <= b.key ? a : b;
}

/** Same protocol with the same options (BIRD keeps it up across a reconfigure). */
export const sameSession = (a: Session, b: Session): boolean =>
  a.name === b.name &&
  a.kind === b.kind &&
  a.localAs === b.localAs &&
  a.peerAs === b.peerAs &&
  a.passive === b.passive &&
  a.rrClient === b.rrClient &&
  a.clusterId === b.clusterId &&
  a.connectDelayTime === b.connectDelayTime &&
  a.errorWaitTime?.[0] === b.errorWaitTime?.[0] &&
  a.errorWaitTime?.[1] === b.errorWaitTime?.[1];

function frameOf(state: State, family: Family, me: string): Frame {
  const meshAs = state.globalAs ?? DEFAULT_AS;
  const members = sortedByKey(state.rr[family]);
  const own = members.find((r) => r.ip === me);
  const mesh = new Map<string, Session>();
  if (own) {
    for (const r of members) {
      if (r.ip === me || mesh.has(r.ip)) continue; // ourselves; two keys naming one address
      mesh.set(r.ip, {
        name: `Mesh_${addressSymbol(r.ip)}`,
        kind: 'mesh',
        neighbor: r.ip,
        localAs: meshAs,
        peerAs: meshAs,
        passive: compareAddresses(r.ip, me) < 0,
        rrClient: false,
        ...MESH_TIMERS,
      });
    }
  }
  const global = sortedByKey(state.globalPeers[family]).find((p) => p.ip === me);
  return {
    me,
    member: own !== undefined,
    meshAs,
    mesh,
    ...(own?.clusterId !== undefined ? { clusterId: own.clusterId } : {}),
    ...(global !== undefined ? { globalAs: global.as } : {}),
  };
}

const sameFrame = (a: Frame, b: Frame): boolean =>
  a.me === b.me &&
  a.member === b.member &&
  a.meshAs === b.meshAs &&
  a.clusterId === b.clusterId &&
  a.globalAs === b.globalAs &&
  a.mesh.size === b.mesh.size &&
  [...a.mesh].every(([ip, s]) => {
    const o = b.mesh.get(ip);
    return o !== undefined && sameSession(o, s);
  });

const NO_NOTES: readonly string[] = Object.freeze([]);

/** The client session (if any) for one neighbour address, and the conflicts resolved to get it. */
function clientAt(state: State, family: Family, frame: Frame, addr: string): { session?: Session; notes: readonly string[] } {
  const offers: Candidate[] = [];
  for (const [node] of state.nodesByIp[family].get(addr)) {
    for (const [key, p] of state.hostPeersByNode[family].get(node)) {
      if (p.ip === frame.me) offers.push({ as: p.as, node, specific: true, key });
    }
    if (frame.globalAs !== undefined) offers.push({ as: frame.globalAs, node, specific: false, key: '' });
  }
  const c = offers.reduce<Candidate | undefined>((a, b) => (a === undefined ? b : preferred(a, b)), undefined);
  if (c === undefined) return { notes: NO_NOTES };
  const notes: string[] = [];
  // A lone offer (one node, one peering: the usual case) has no conflict to note.
  if (offers.length > 1) {
    const others = [...new Set(offers.filter((o) => o.node !== c.node).map((o) => o.node))].sort(byText);
    for (const other of others) notes.push(`nodes ${c.node} and ${other} share address ${addr}: one session, AS from ${c.node}`);
    if (offers.some((o) => o.node === c.node && o.as !== c.as)) {
      notes.push(`node ${c.node} (${addr}) has two client peerings with different AS: using ${c.as}`);
    }
  }
  if (addr === frame.me) {
    notes.push(`node ${c.node} has this RR's own address ${addr}: no session with itself`);
    return { notes };
  }
  if (frame.mesh.has(addr)) {
    notes.push(`node ${c.node} (${addr}) is also a mesh member: mesh session only`);
    return { notes };
  }
  return {
    notes,
    session: {
      name: `Node_${addressSymbol(addr)}`,
      kind: 'client',
      neighbor: addr,
      localAs: c.as,
      peerAs: c.as,
      passive: false,
      rrClient: true,
      ...(frame.clusterId !== undefined ? { clusterId: frame.clusterId } : {}),
    },
  };
}

/** The note for a node that names us as its peer but has no usable address. */
function nodeNote(state: State, family: Family, me: string, node: string): string | undefined {
  if (state.hostIps[family].has(node)) return undefined;
  for (const [, p] of state.hostPeersByNode[family].get(node)) {
    if (p.ip === me) return `node ${node} peers with this RR but has no valid ip_addr_${family}`;
  }
  return undefined;
}

/** Every address that may hold a client session, and every node that may need a note. */
function candidates(state: State, family: Family, frame: Frame): { addrs: Iterable<string>; nodes: Iterable<string> } {
  const specific = state.hostPeersByIp[family].get(frame.me);
  const nodes = new Set<string>();
  for (const p of specific?.values() ?? []) nodes.add(p.node);
  if (frame.globalAs !== undefined) return { addrs: state.nodesByIp[family].keys(), nodes };
  const addrs = new Set<string>();
  for (const node of nodes) {
    const ip = state.hostIps[family].get(node);
    if (ip !== undefined) addrs.add(ip);
  }
  return { addrs, nodes };
}

/** Re-decide `addrs` and `nodes` into the memo; returns the sessions that went, came or changed. */
function update(memo: PlanMemo, state: State, family: Family, frame: Frame, addrs: Iterable<string>, nodes: Iterable<string>): Session[] {
  const replaced: Session[] = [];
  for (const addr of addrs) {
    const { session, notes } = clientAt(state, family, frame, addr);
    if (notes.length > 0) memo.notesByAddr.set(addr, notes);
    else memo.notesByAddr.delete(addr);
    const old = memo.clients.get(addr);
    if (session === undefined) {
      if (old !== undefined) {
        memo.clients.delete(addr);
        replaced.push(old);
      }
    } else if (old === undefined || !sameSession(old, session)) {
      memo.clients.set(addr, session);
      if (old !== undefined) replaced.push(old);
      replaced.push(session);
    }
  }
  for (const node of nodes) {
    const note = nodeNote(state, family, frame.me, node);
    if (note !== undefined) memo.notesByNode.set(node, note);
    else memo.notesByNode.delete(node);
  }
  return replaced;
}

/** The first index at or after `lo` whose session's name is not below `name` (order is sorted by name). */
function findByName(order: readonly Session[], name: string, lo = 0): number {
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (order[mid]!.name < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Up to this many touched names are placed one by one (binary search, splice); more are merged in one pass. */
const SPLICE_MAX = 16;

/**
 * The memo's order with the touched sessions' names re-looked-up (a copy:
 * plans are immutable): a few by splicing, a burst (e.g. 1,000 nodes moved
 * at once) by one merge, O(sessions + touched log touched) instead of a
 * splice of the whole array per name.
 */
function reorder(memo: PlanMemo, frame: Frame, touched: readonly Session[]): readonly Session[] {
  // The session each touched name has now (undefined: gone). A name stands for one neighbour address.
  const now = new Map<string, Session | undefined>();
  for (const t of touched) {
    if (now.has(t.name)) continue;
    const s = memo.clients.get(t.neighbor) ?? frame.mesh.get(t.neighbor);
    now.set(t.name, s !== undefined && s.name === t.name ? s : undefined);
  }
  if (now.size > SPLICE_MAX) {
    // Where each touched name stands in the old order (binary searches, ascending), then the
    // untouched runs between them moved into place in one pass over a copy (kept packed: no holes).
    const old = memo.order;
    const names = [...now.keys()].sort(byText);
    const at: number[] = [];
    for (let k = 0, from = 0; k < names.length; k++) at.push((from = findByName(old, names[k]!, from)));
    const order = old.slice();
    let i = 0;
    let o = 0;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      for (const end = at[k]!; i < end; ) order[o++] = old[i++]!;
      if (old[i]?.name === name) i++;
      const current = now.get(name);
      if (current !== undefined) order[o++] = current;
    }
    while (i < old.length) order[o++] = old[i++]!;
    order.length = o;
    return order;
  }
  const order = memo.order.slice();
  for (const [name, current] of now) {
    const i = findByName(order, name);
    const present = order[i]?.name === name;
    if (present && current) order[i] = current;
    else if (present) order.splice(i, 1);
    else if (current) order.splice(i, 0, current);
  }
  return order;
}

function notesOf(memo: PlanMemo): string[] {
  const all: string[] = [];
  for (const list of memo.notesByAddr.values()) all.push(...list);
  for (const note of memo.notesByNode.values()) all.push(note);
  all.sort(byText);
  return all.length > MAX_NOTES ? [...all.slice(0, MAX_NOTES), `... and ${all.length - MAX_NOTES} more`] : all;
}

/**
 * The plan of one family. With a `memo` (one per state and family, passed on
 * every call), only what changed since the last call is re-decided.
 */
export function derivePlan(state: State, family: Family, self: Self, memo?: PlanMemo): FamilyPlan {
  const me = family === 'v4' ? self.ip : self.ip6;
  const meshAs = state.globalAs ?? DEFAULT_AS;
  const base = { family, routerId: self.ip, debug: state.debug, meshAs, asDefaulted: state.globalAs === undefined };
  const dirty = memo ? takeDirty(state, family) : undefined;
  if (me === undefined) return { ...base, member: false, sessions: [], notes: [] };

  const frame = frameOf(state, family, me);
  const m = memo ?? createPlanMemo();
  let order: readonly Session[];
  if (m.frame !== undefined && dirty !== undefined && !dirty.structural && sameFrame(m.frame, frame)) {
    const touched = update(m, state, family, m.frame, dirty.addrs, dirty.nodes);
    order = touched.length > 0 ? reorder(m, m.frame, touched) : m.order;
  } else {
    const previous = new Map<string, Session>([...m.clients, ...(m.frame?.mesh ?? [])]);
    m.clients = new Map();
    m.notesByAddr = new Map();
    m.notesByNode = new Map();
    const { addrs, nodes } = candidates(state, family, frame);
    update(m, state, family, frame, addrs, nodes);
    // Keep the identity of sessions that did not change (renderers cache by it).
    const keep = (s: Session): Session => {
      const old = previous.get(s.neighbor);
      return old !== undefined && sameSession(old, s) ? old : s;
    };
    for (const [ip, s] of frame.mesh) (frame.mesh as Map<string, Session>).set(ip, keep(s));
    for (const [ip, s] of m.clients) m.clients.set(ip, keep(s));
    m.frame = frame;
    order = [...frame.mesh.values(), ...m.clients.values()].sort(byName);
  }
  m.order = order;
  return {
    ...base,
    source: me,
    member: frame.member,
    ...(frame.clusterId !== undefined ? { clusterId: frame.clusterId } : {}),
    sessions: order,
    notes: notesOf(m),
  };
}
