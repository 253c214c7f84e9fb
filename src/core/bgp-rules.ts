/**
 * The BGP rules of this route reflector, for one address family: who peers
 * with whom and with which options. A BGP engineer reviews this file; the
 * README's "BGP behaviour" says the same in prose. core/plan.ts applies these
 * rules to a whole state (or, with a memo, to what changed).
 *
 * - Mesh: when our own `rr_vN/<IP>` entry exists, one `Mesh_<addr>` session
 *   to every other member, `local as` = `neighbor as` = `/global/as_num`
 *   (DEFAULT_AS when absent), passive towards members with a lower address
 *   (in each pair exactly one end connects), quick reconnect timers.
 * - Clients: one `Node_<addr>` session per neighbour address of a node that
 *   names us (node-specific peering), or of every node when a global peering
 *   names us; `rr client`, the peering's AS, our `rr cluster id` if we have one.
 * - Own peers (issue 15): with NODENAME set, one `Peer_<addr>` session to
 *   every `/host/<NODENAME>/peer_vN/<addr>`: not a client; eBGP when its AS
 *   differs from ours (`local_as_num`, else `/host/<NODENAME>/as_num`, else
 *   the mesh AS), then exported only the routes that carry no AS path (the
 *   fabric's own) with their own next hops; iBGP non-client when equal.
 * - Peer value options (password, timers, graceful restart time, GTSM) on
 *   every session the value makes; CLIENT_IMPORT_LIMIT on client sessions.
 * - Passwords: the peer value's, else BGP_PASSWORD_DIR's file of the
 *   neighbour's address, else (clients and mesh only) its `default` file.
 * - Conflicts (two nodes on one address, a node with our own address or a
 *   mesh member's, an own peer that is a mesh member or a node) are resolved
 *   the same way whatever the order (mesh over own peer over client), and noted.
 */
import { addressSymbol, compareAddresses } from './addresses.js';
import type { Family } from './events.js';
import type { Entry, PeerOptions } from './keyspace.js';
import type { PasswordFiles } from './password-files.js';
import { sameSecret, type Secret } from './secret.js';
import type { State } from './state.js';

export const DEFAULT_AS = 64511;

/** mesh: another registered RR; client: a Calico node (`rr client`); peer: this RR's own peer (NODENAME's peer keys). */
export type SessionKind = 'mesh' | 'client' | 'peer';
export const SESSION_KINDS: readonly SessionKind[] = ['mesh', 'client', 'peer'];

/** A session's kind from its name: mesh sessions are `Mesh_<addr>`, clients `Node_<addr>`, own peers `Peer_<addr>`. */
export const kindOfSessionName = (name: string): SessionKind => (name.startsWith('Mesh_') ? 'mesh' : name.startsWith('Peer_') ? 'peer' : 'client');


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
  /** TCP MD5 password (`password "..."`): the config that holds it is mode 0600. */
  readonly password?: Secret;
  /** `keepalive time`, and `hold time` (three times it), in seconds. */
  readonly keepaliveTime?: number;
  readonly holdTime?: number;
  /** `graceful restart time`, in seconds. */
  readonly restartTime?: number;
  /** GTSM: `ttl security on; multihop N`. */
  readonly ttlSecurity?: number;
  /** Client only: `import limit N action disable`: a client that announces more is shut down (its routes withdrawn) until `birdc enable`. */
  readonly importLimit?: number;
  /** Peer only: the neighbour's port, when not 179. */
  readonly port?: number;
  /** Peer only: `allow local as N`. */
  readonly allowLocalAs?: number;
  /**
   * Peer only: eBGP (the AS differ). Exported to it: only routes that carry no
   * AS path (the fabric's own routes, from clients and the mesh), with their
   * own next hops (`next hop keep`): this RR is not in the forwarding path and
   * not a transit between upstreams.
   */
  readonly ebgp?: boolean;
  /** Peer only: next hop handling towards it: `keep` (the default) or `self` (next_hop_mode Self). */
  readonly nextHop?: 'keep' | 'self';
  /**
   * Set when any option from password to nextHop above is: the template
   * formats those only then (one test per session instead of one per option:
   * the 100,000 plain clients render as fast as before).
   */
  readonly extra?: true;
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
  /**
   * CLIENT_IMPORT_LIMIT, the `importLimit` of every client session: the
   * templates state it once (a `client_template`), not once per client.
   */
  readonly clientImportLimit?: number;
}

/** This route reflector: its addresses and what the environment says about its sessions. */
export interface Self {
  readonly ip: string;
  readonly ip6?: string;
  /** NODENAME: this RR's host in the keyspace, whose peer keys are its own peers (unset: no own peers). */
  readonly nodeName?: string;
  /** CLIENT_IMPORT_LIMIT: routes a client session may announce (0 or unset: no limit). */
  readonly importLimit?: number;
  /** BGP_PASSWORD_DIR's passwords (core/password-files.ts), read once at start. */
  readonly passwords?: PasswordFiles;
}

interface Candidate {
  readonly as: number;
  readonly node: string;
  readonly specific: boolean;
  /** The etcd key of a node-specific peering (ties between two such keys of one node). */
  readonly key: string;
  readonly opts?: PeerOptions;
}

/** What shapes the whole plan; anything else is decided per address. */
export interface Frame {
  readonly me: string;
  /** We are registered under `rr_vN`. */
  readonly member: boolean;
  readonly meshAs: number;
  readonly clusterId?: string;
  /** The AS of the global peering naming us, if any, and its options. */
  readonly globalAs?: number;
  readonly globalOpts?: PeerOptions;
  readonly mesh: ReadonlyMap<string, Session>;
  /** Own peers (NODENAME's peer keys) by address, and the conflicts resolved to get them. */
  readonly nodeName?: string;
  readonly peers: ReadonlyMap<string, Session>;
  readonly peerNotes: readonly string[];
  readonly importLimit?: number;
  readonly passwords?: PasswordFiles;
}



export const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
export const byName = (a: Session, b: Session): number => byText(a.name, b.name);

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
  a.errorWaitTime?.[1] === b.errorWaitTime?.[1] &&
  sameSecret(a.password, b.password) &&
  a.keepaliveTime === b.keepaliveTime &&
  a.holdTime === b.holdTime &&
  a.restartTime === b.restartTime &&
  a.ttlSecurity === b.ttlSecurity &&
  a.importLimit === b.importLimit &&
  a.port === b.port &&
  a.allowLocalAs === b.allowLocalAs &&
  a.ebgp === b.ebgp &&
  a.nextHop === b.nextHop;

/** The options of Calico's peer value that every session kind takes (README "The keyspace"). */
function commonOptions(o: PeerOptions | undefined): Partial<Session> {
  if (o === undefined) return {};
  const options: Partial<Session> = {
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.keepaliveTime !== undefined ? { keepaliveTime: o.keepaliveTime, holdTime: 3 * o.keepaliveTime } : {}),
    ...(o.restartTime !== undefined ? { restartTime: o.restartTime } : {}),
    ...(o.ttlSecurity !== undefined ? { ttlSecurity: o.ttlSecurity } : {}),
  };
  return Object.keys(options).length > 0 ? { ...options, extra: true } : options;
}

/**
 * A session's password from BGP_PASSWORD_DIR when its peer value gave none:
 * the file of its address, else (`orDefault`: clients and mesh) `default`.
 */
function withFilePassword(s: Session, files: PasswordFiles | undefined, orDefault: boolean): Session {
  if (files === undefined || s.password !== undefined) return s;
  const password = files.byAddress.get(s.neighbor) ?? (orDefault ? files.fallback : undefined);
  return password !== undefined ? { ...s, password, extra: true } : s;
}

/**
 * This RR's own peers in one family: every `/host/<NODENAME>/peer_vN/<ip>`.
 * Our AS: `local_as_num`, else `/host/<NODENAME>/as_num`, else the mesh AS.
 * A mesh member is never also an own peer (the mesh session wins); two keys
 * naming one address give one session (the first key).
 */
function ownPeers(state: State, family: Family, me: string, meshAs: number, mesh: ReadonlyMap<string, Session>, nodeName: string | undefined, files: PasswordFiles | undefined) {
  const peers = new Map<string, Session>();
  const notes: string[] = [];
  if (nodeName === undefined) return { peers, notes };
  if (state.ownNode !== nodeName) throw new Error(`the state was folded for NODENAME ${String(state.ownNode)}, the plan is for ${nodeName}`);
  const ownAs = state.ownAs ?? meshAs;
  const own = new Map<string, Extract<Entry, { kind: 'hostPeer' }>>();
  state.hostPeersByNode[family].forEach(nodeName, (p, key) => own.set(key, p));
  for (const p of sortedByKey(own)) {
    if (p.ip === me) {
      notes.push(`own peer ${p.ip} is this RR's own address: no session with itself`);
      continue;
    }
    if (mesh.has(p.ip)) {
      notes.push(`own peer ${p.ip} is also a mesh member: mesh session only`);
      continue;
    }
    if (peers.has(p.ip)) {
      notes.push(`own peer ${p.ip} is named by two keys: one session, from the first key`);
      continue;
    }
    const o = p.opts;
    const localAs = o?.localAs ?? ownAs;
    peers.set(p.ip, withFilePassword({
      name: `Peer_${addressSymbol(p.ip)}`,
      kind: 'peer',
      neighbor: p.ip,
      localAs,
      peerAs: p.as,
      passive: o?.passive === true,
      rrClient: false,
      ...commonOptions(o),
      ...(o?.port !== undefined ? { port: o.port } : {}),
      ...(o?.allowLocalAs !== undefined ? { allowLocalAs: o.allowLocalAs } : {}),
      ...(localAs !== p.as ? { ebgp: true } : {}),
      nextHop: o?.nextHopSelf === true ? 'self' : 'keep',
      extra: true,
    }, files, false));
  }
  return { peers, notes };
}


export function frameOf(state: State, family: Family, me: string, self: Self): Frame {
  const meshAs = state.globalAs ?? DEFAULT_AS;
  const members = sortedByKey(state.rr[family]);
  const own = members.find((r) => r.ip === me);
  const mesh = new Map<string, Session>();
  if (own) {
    for (const r of members) {
      if (r.ip === me || mesh.has(r.ip)) continue; // ourselves; two keys naming one address
      mesh.set(r.ip, withFilePassword({
        name: `Mesh_${addressSymbol(r.ip)}`,
        kind: 'mesh',
        neighbor: r.ip,
        localAs: meshAs,
        peerAs: meshAs,
        passive: compareAddresses(r.ip, me) < 0,
        rrClient: false,
        ...MESH_TIMERS,
      }, self.passwords, true));
    }
  }
  const global = sortedByKey(state.globalPeers[family]).find((p) => p.ip === me);
  const { peers, notes } = ownPeers(state, family, me, meshAs, mesh, self.nodeName, self.passwords);
  return {
    me,
    member: own !== undefined,
    meshAs,
    mesh,
    peers,
    peerNotes: notes,
    ...(self.nodeName !== undefined ? { nodeName: self.nodeName } : {}),
    ...(self.importLimit !== undefined ? { importLimit: self.importLimit } : {}),
    ...(self.passwords !== undefined ? { passwords: self.passwords } : {}),
    ...(own?.clusterId !== undefined ? { clusterId: own.clusterId } : {}),
    ...(global !== undefined ? { globalAs: global.as } : {}),
    ...(global?.opts !== undefined ? { globalOpts: global.opts } : {}),
  };
}

const NO_NOTES: readonly string[] = Object.freeze([]);

/** The client session (if any) for one neighbour address, and the conflicts resolved to get it. */
export function clientAt(state: State, family: Family, frame: Frame, addr: string): { session?: Session; notes: readonly string[] } {
  const offers: Candidate[] = [];
  state.nodesByIp[family].forEach(addr, (node) => {
    if (node === frame.nodeName) return; // our own host: its peer keys are our own peers
    state.hostPeersByNode[family].forEach(node, (p, key) => {
      if (p.ip === frame.me) offers.push({ as: p.as, node, specific: true, key, ...(p.opts !== undefined ? { opts: p.opts } : {}) });
    });
    if (frame.globalAs !== undefined) offers.push({ as: frame.globalAs, node, specific: false, key: '', ...(frame.globalOpts !== undefined ? { opts: frame.globalOpts } : {}) });
  });
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
  if (frame.peers.has(addr)) {
    notes.push(`node ${c.node} (${addr}) is also an own peer of this RR: peer session only`);
    return { notes };
  }
  if (c.opts?.port !== undefined) {
    notes.push(`node ${c.node} (${addr}) peers with this RR on port ${c.opts.port}: this RR listens on 179 only, no session`);
    return { notes };
  }
  return {
    notes,
    session: withFilePassword({
      name: `Node_${addressSymbol(addr)}`,
      kind: 'client',
      neighbor: addr,
      localAs: c.as,
      peerAs: c.as,
      passive: false,
      rrClient: true,
      ...(frame.clusterId !== undefined ? { clusterId: frame.clusterId } : {}),
      ...commonOptions(c.opts),
      ...(frame.importLimit !== undefined ? { importLimit: frame.importLimit } : {}),
    }, frame.passwords, true),
  };
}

/** The note for a node that names us as its peer but has no usable address. */
export function nodeNote(state: State, family: Family, me: string, node: string): string | undefined {
  if (state.hostIps[family].has(node)) return undefined;
  let named = false;
  state.hostPeersByNode[family].forEach(node, (p) => (named ||= p.ip === me));
  return named ? `node ${node} peers with this RR but has no valid ip_addr_${family}` : undefined;
}

/** Every address that may hold a client session, and every node that may need a note. */
export function candidates(state: State, family: Family, frame: Frame): { addrs: Iterable<string>; nodes: Iterable<string> } {
  const specific = state.hostPeersByIp[family].get(frame.me);
  const nodes = new Set<string>();
  for (const p of specific?.values() ?? []) if (p.node !== frame.nodeName) nodes.add(p.node);
  if (frame.globalAs !== undefined) return { addrs: state.nodesByIp[family].keys(), nodes };
  const addrs = new Set<string>();
  for (const node of nodes) {
    const ip = state.hostIps[family].get(node);
    if (ip !== undefined) addrs.add(ip);
  }
  return { addrs, nodes };
}
