/**
 * The peering plan of one address family: the BGP rules (core/bgp-rules.ts)
 * applied to the state and this route reflector's own addresses. Everything a
 * template needs is decided there; templates only format it.
 *
 * This file is the incremental machinery. Client sessions are decided per
 * neighbour address (`clientAt`), so a plan can be updated for just the
 * addresses a change touched: pass a PlanMemo and the state's dirty record is
 * taken and only those addresses are re-decided; the sorted order is patched,
 * not rebuilt. With or without a memo, the plan is the same (tested on random
 * walks). The memo is the caller's mutable record of the last plan (one per
 * state and family: familyConfig owns it); the plans returned are immutable.
 */
import type { PasswordFiles } from './password-files.js';
import { byName, byText, candidates, clientAt, DEFAULT_AS, frameOf, nodeNote, sameSession, type FamilyPlan, type Frame, type Self, type Session } from './bgp-rules.js';
import type { Family } from './events.js';
import { takeDirty, type State } from './state.js';

export { DEFAULT_AS, kindOfSessionName, sameSession, SESSION_KINDS, type FamilyPlan, type Self, type Session, type SessionKind } from './bgp-rules.js';

const MAX_NOTES = 20;

type SelfSource = {
  readonly ip: string;
  readonly ip6?: string | undefined;
  readonly nodeName?: string | undefined;
  readonly importLimit?: number | undefined;
  readonly passwords?: PasswordFiles | undefined;
};

/** This RR's identity, from the config or a journal record (absent fields stay absent). */
export const selfOf = (c: SelfSource): Self => ({
  ip: c.ip,
  ...(c.ip6 !== undefined ? { ip6: c.ip6 } : {}),
  ...(c.nodeName !== undefined ? { nodeName: c.nodeName } : {}),
  ...(c.importLimit !== undefined && c.importLimit > 0 ? { importLimit: c.importLimit } : {}),
  ...(c.passwords !== undefined ? { passwords: c.passwords } : {}),
});

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
    // Our own host's peer keys are our own peers, not a client without an address (as in `candidates`).
    const note = node === frame.nodeName ? undefined : nodeNote(state, family, frame.me, node);
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
    const s = memo.clients.get(t.neighbor) ?? frame.mesh.get(t.neighbor) ?? frame.peers.get(t.neighbor);
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

function notesOf(memo: PlanMemo, frame: Frame): string[] {
  const all: string[] = [...frame.peerNotes];
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

  const m = memo ?? createPlanMemo();
  // Nothing the frame is made of changed (RR members, global peers, AS, our own peers are `structural`
  // in the dirty record): the memo's frame holds, without building the mesh again for every change.
  // (Random walks hold this to the plan without a memo: test/unit/plan-memo.test.ts.)
  const held = m.frame !== undefined && dirty !== undefined && !dirty.structural ? m.frame : undefined;
  const frame = held ?? frameOf(state, family, me, self);
  let order: readonly Session[];
  if (held !== undefined && dirty !== undefined) {
    const touched = update(m, state, family, held, dirty.addrs, dirty.nodes);
    order = touched.length > 0 ? reorder(m, held, touched) : m.order;
  } else {
    const previous = new Map<string, Session>([...m.clients, ...(m.frame?.mesh ?? []), ...(m.frame?.peers ?? [])]);
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
    const keepAll = (sessions: ReadonlyMap<string, Session>): Map<string, Session> => new Map([...sessions].map(([ip, s]) => [ip, keep(s)]));
    const kept: Frame = { ...frame, mesh: keepAll(frame.mesh), peers: keepAll(frame.peers) };
    for (const [ip, s] of m.clients) m.clients.set(ip, keep(s));
    m.frame = kept;
    order = [...kept.mesh.values(), ...kept.peers.values(), ...m.clients.values()].sort(byName);
  }
  m.order = order;
  return {
    ...base,
    source: me,
    member: frame.member,
    ...(self.importLimit !== undefined ? { clientImportLimit: self.importLimit } : {}),
    ...(frame.clusterId !== undefined ? { clusterId: frame.clusterId } : {}),
    sessions: order,
    notes: notesOf(m, m.frame ?? frame),
  };
}
