/**
 * The peering plan of one address family (DESIGN §2), a pure function of the
 * state and this route reflector's own addresses. Everything a template needs
 * is decided here; templates only format it.
 */
import { addressSymbol, compareAddresses } from './addresses.js';
import type { Family } from './events.js';
import type { State } from './state.js';

export const DEFAULT_AS = 64511;
const MAX_NOTES = 20;

export type SessionKind = 'mesh' | 'client';

export interface Session {
  readonly name: string;
  readonly kind: SessionKind;
  readonly neighbor: string;
  readonly localAs: number;
  readonly peerAs: number;
  /** Mesh only: the neighbour's address is lower than ours, it connects to us. */
  readonly passive: boolean;
  /** Client only: our `rr cluster id`, when we are a registered RR with one. */
  readonly clusterId?: string;
}

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
  /** Conflicts resolved while planning (logged when they change). */
  readonly notes: readonly string[];
}

export interface Self {
  readonly ip: string;
  readonly ip6?: string;
}

interface Candidate {
  as: number;
  node: string;
  specific: boolean;
}

class Notes {
  readonly list: string[] = [];
  private dropped = 0;
  add(text: string): void {
    if (this.list.length < MAX_NOTES) this.list.push(text);
    else this.dropped++;
  }
  done(): string[] {
    if (this.dropped > 0) this.list.push(`... and ${this.dropped} more`);
    return this.list;
  }
}

function sortedByKey<T>(map: ReadonlyMap<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

/** Node-specific and global client peerings of this RR, one candidate per neighbour address. */
function clientCandidates(state: State, family: Family, me: string, notes: Notes): Map<string, Candidate> {
  const out = new Map<string, Candidate>();
  const hostIps = state.hostIps[family];
  const offer = (ip: string, c: Candidate): void => {
    const prev = out.get(ip);
    if (!prev) {
      out.set(ip, c);
      return;
    }
    if (prev.node !== c.node) {
      const [keep, drop] = prev.node <= c.node ? [prev, c] : [c, prev];
      notes.add(`nodes ${keep.node} and ${drop.node} share address ${ip}: one session, AS from ${keep.node}`);
      out.set(ip, keep);
      return;
    }
    // Same node, global and node-specific: the node-specific peering is the more specific one.
    const keep = c.specific && !prev.specific ? c : prev;
    if (c.as !== prev.as) {
      notes.add(`node ${c.node} (${ip}) is a global and node-specific client with different AS: using ${keep.as}`);
    }
    out.set(ip, keep);
  };
  const specific = state.hostPeersByIp[family].get(me);
  if (specific) {
    for (const p of sortedByKey(specific)) {
      const ip = hostIps.get(p.node);
      if (ip === undefined) notes.add(`node ${p.node} peers with this RR but has no valid ip_addr_${family}`);
      else offer(ip, { as: p.as, node: p.node, specific: true });
    }
  }
  const global = sortedByKey(state.globalPeers[family]).find((p) => p.ip === me);
  if (global) {
    for (const [node, ip] of hostIps) offer(ip, { as: global.as, node, specific: false });
  }
  return out;
}

export function derivePlan(state: State, family: Family, self: Self): FamilyPlan {
  const me = family === 'v4' ? self.ip : self.ip6;
  const meshAs = state.globalAs ?? DEFAULT_AS;
  const base = {
    family,
    routerId: self.ip,
    debug: state.debug,
    meshAs,
    asDefaulted: state.globalAs === undefined,
  };
  if (me === undefined) return { ...base, member: false, sessions: [], notes: [] };

  const notes = new Notes();
  const sessions = new Map<string, Session>();
  const members = sortedByKey(state.rr[family]);
  const own = members.find((r) => r.ip === me);
  if (own) {
    for (const r of members) {
      if (r.ip === me) continue;
      if (sessions.has(r.ip)) continue; // two keys naming one address
      sessions.set(r.ip, {
        name: `Mesh_${addressSymbol(r.ip)}`,
        kind: 'mesh',
        neighbor: r.ip,
        localAs: meshAs,
        peerAs: meshAs,
        passive: compareAddresses(r.ip, me) < 0,
      });
    }
  }
  for (const [ip, c] of clientCandidates(state, family, me, notes)) {
    if (ip === me) {
      notes.add(`node ${c.node} has this RR's own address ${ip}: no session with itself`);
    } else if (sessions.has(ip)) {
      notes.add(`node ${c.node} (${ip}) is also a mesh member: mesh session only`);
    } else {
      sessions.set(ip, {
        name: `Node_${addressSymbol(ip)}`,
        kind: 'client',
        neighbor: ip,
        localAs: c.as,
        peerAs: c.as,
        passive: false,
        ...(own?.clusterId !== undefined ? { clusterId: own.clusterId } : {}),
      });
    }
  }
  const list = [...sessions.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    ...base,
    source: me,
    member: own !== undefined,
    ...(own?.clusterId !== undefined ? { clusterId: own.clusterId } : {}),
    sessions: list,
    notes: notes.done(),
  };
}
