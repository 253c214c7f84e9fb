/**
 * `routereflector explain ADDR`: why a neighbour is or is not in this route
 * reflector's plan, from the folded state and the plan: which keys mention
 * the address, which rule made (or did not make) a session, which values
 * failed validation. Pure.
 */
import { parseIP } from './addresses.js';
import type { Family } from './events.js';
import { classifyKey, redactValue, type KeyClass } from './keyspace.js';
import { derivePlan, type Self, type Session } from './plan.js';
import type { State } from './state.js';

export interface KeyMention {
  readonly key: string;
  readonly value: string;
  /** What the key is, in words ("node n1's IPv4 address"). */
  readonly role: string;
  readonly valid: boolean;
  /** Why validation failed. */
  readonly reason?: string;
}

export interface Explanation {
  readonly address: string;
  readonly family: Family;
  readonly inPlan: boolean;
  readonly session?: Session;
  /** The rule that applied, or the main reason there is no session. */
  readonly rule: string;
  /** Further facts: other reasons, validation failures, conflicts. */
  readonly details: readonly string[];
  readonly keys: readonly KeyMention[];
}

/** The family and canonical form of an address, or undefined when it is neither. */
export function parseAnyAddress(raw: string): { family: Family; address: string } | undefined {
  const v4 = parseIP('v4', raw.trim());
  if (v4.ok) return { family: 'v4', address: v4.value };
  const v6 = parseIP('v6', raw.trim());
  if (v6.ok) return { family: 'v6', address: v6.value };
  return undefined;
}

const FAMILY_WORD: Record<Family, string> = { v4: 'IPv4', v6: 'IPv6' };

function role(cls: KeyClass, family: Family, nodeName: string | undefined): string {
  switch (cls.kind) {
    case 'globalAs':
      return 'AS number of the route reflector mesh';
    case 'loglevel':
      return 'BIRD debug switch';
    case 'globalPeer':
      return `global peer ${cls.keyIp}: it peers with every node`;
    case 'rr':
      return `route reflector registration of ${cls.keyIp}`;
    case 'hostIp':
      return `node ${cls.node}'s ${FAMILY_WORD[cls.family]} address`;
    case 'hostAs':
      return cls.node === nodeName ? `this RR's AS on its own peers (NODENAME ${cls.node})` : `node ${cls.node}'s AS number (not used for RR sessions)`;
    case 'hostPeer':
      if (cls.node === nodeName) return `this RR's own peer ${cls.keyIp} (NODENAME ${cls.node})${cls.family === family ? '' : ` (${FAMILY_WORD[cls.family]})`}`;
      return `node ${cls.node} peers with route reflector ${cls.keyIp}${cls.family === family ? '' : ` (${FAMILY_WORD[cls.family]})`}`;
  }
}

const sameAddress = (family: Family, raw: unknown, address: string): boolean => {
  const p = parseIP(family, typeof raw === 'string' ? raw.trim() : raw);
  return p.ok && p.value === address;
};

function valueNames(family: Family, raw: string, address: string): boolean {
  if (raw.includes(address) || sameAddress(family, raw, address)) return true;
  try {
    const v: unknown = JSON.parse(raw);
    return v !== null && typeof v === 'object' && sameAddress(family, (v as Record<string, unknown>)['ip'], address);
  } catch {
    return false;
  }
}

export function explainAddress(state: State, prefix: string, self: Self, family: Family, address: string): Explanation {
  const me = family === 'v4' ? self.ip : self.ip6;
  const v = family;
  const nodes = [...state.hostIps[family]].filter(([, ip]) => ip === address).map(([node]) => node).sort();
  const nodeSet = new Set(nodes);

  const keys: KeyMention[] = [];
  for (const [key, value] of [...state.raw.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const cls = classifyKey(prefix, key);
    if (!cls) continue;
    const byKey = 'keyIp' in cls && sameAddress(cls.family, cls.keyIp, address);
    const ofNode = 'node' in cls && nodeSet.has(cls.node);
    if (!byKey && !ofNode && !valueNames(family, value, address)) continue;
    const reason = state.invalid.get(key);
    keys.push({ key, value: redactValue(value), role: role(cls, family, self.nodeName), valid: reason === undefined, ...(reason !== undefined ? { reason } : {}) });
  }

  const plan = derivePlan(state, family, self);
  const session = plan.sessions.find((s) => s.neighbor === address);
  const details: string[] = [];
  const rrKey = (ip: string): string => `${prefix}/rr_${v}/${ip}`;
  const globalKey = (ip: string): string => `${prefix}/global/peer_${v}/${ip}`;
  const hostPeerKey = (node: string, ip: string): string => `${prefix}/host/${node}/peer_${v}/${ip}`;
  const specific = me !== undefined ? state.hostPeersByIp[family].get(me) : undefined;
  const specificNodes = new Set([...(specific?.values() ?? [])].map((p) => p.node));
  const global = me !== undefined ? [...state.globalPeers[family].values()].find((p) => p.ip === me) : undefined;
  const registered = [...state.rr[family].values()].some((r) => r.ip === address);
  const member = me !== undefined && [...state.rr[family].values()].some((r) => r.ip === me);

  for (const k of keys) if (!k.valid) details.push(`validation failed: ${k.key}: ${k.reason ?? ''} (skipped)`);
  for (const n of plan.notes) if (n.includes(address)) details.push(`conflict: ${n}`);

  if (session?.password !== undefined) {
    const files = self.passwords;
    const from =
      files?.byAddress.get(address) === session.password ? `the file for ${address} in BGP_PASSWORD_DIR ${files.dir}`
      : files?.fallback === session.password ? `BGP_PASSWORD_DIR's default file (${files.dir}/default)`
      : 'the peer value (its "password")';
    details.push(`password: from ${from}`);
  }

  let rule: string;
  if (me === undefined) {
    rule = `IP6 is not set: this route reflector has no ${FAMILY_WORD[family]} sessions`;
  } else if (address === me) {
    rule = `${address} is this route reflector's own address: no session with itself`;
  } else if (session?.kind === 'mesh') {
    rule =
      `mesh: ${rrKey(address)} registers ${address} as a route reflector and this one is registered too (${rrKey(me)}): ` +
      `${session.name}, AS ${session.localAs}${session.passive ? ', passive (the lower address connects)' : ''}`;
    if (nodes.length > 0) details.push(`also node address of ${nodes.join(', ')}: a mesh member is never also a client`);
  } else if (session?.kind === 'peer') {
    const key = hostPeerKey(self.nodeName ?? '', address);
    const keyed = keys.find((k) => k.valid && (k.key === key || k.key.startsWith(`${key}-`)));
    rule =
      `own peer: ${keyed?.key ?? key} (NODENAME ${self.nodeName ?? ''}) names ${address}: ${session.name}, ` +
      `${session.ebgp === true ? 'eBGP' : 'iBGP, not a client'}, AS ${session.localAs} to ${session.peerAs}` +
      `${session.password !== undefined ? ', password set' : ''}${session.port !== undefined ? `, port ${session.port}` : ''}`;
    if (nodes.length > 0) details.push(`also node address of ${nodes.join(', ')}: an own peer is never also a client`);
  } else if (session?.kind === 'client') {
    const via = nodes.map((n) =>
      specificNodes.has(n)
        ? `node ${n} has ${address} and peers with this RR through ${hostPeerKey(n, me)}`
        : `node ${n} has ${address} and ${globalKey(me)} makes this RR peer with every node`,
    );
    rule = `client: ${via[0] ?? `node address ${address}`}: ${session.name}, AS ${session.peerAs}${session.clusterId !== undefined ? `, rr cluster id ${session.clusterId}` : ''}${session.password !== undefined ? ', password set' : ''}${session.importLimit !== undefined ? `, import limit ${session.importLimit}` : ''}`;
    details.push(...via.slice(1));
  } else {
    const reasons: string[] = [];
    if (registered && !member) {
      reasons.push(`${address} is a registered route reflector (${rrKey(address)}), but this one is not registered (${rrKey(me)} absent or invalid): standalone, no mesh`);
    }
    for (const n of nodes) {
      if (!specificNodes.has(n) && global === undefined) {
        const others = [...state.hostPeersByIp[family].entries()].filter(([, ks]) => [...ks.values()].some((p) => p.node === n)).map(([ip]) => ip);
        reasons.push(
          `node ${n} has ${address} but is not a client of this RR: neither ${hostPeerKey(n, me)} nor ${globalKey(me)} exists` +
            (others.length > 0 ? ` (node ${n} peers with ${others.join(', ')})` : ''),
        );
      }
    }
    for (const k of keys) {
      const cls = classifyKey(prefix, k.key);
      if (!k.valid && cls?.kind === 'hostIp') reasons.push(`node ${cls.node}'s address is invalid (${k.reason ?? ''}): it gets no session`);
    }
    if (reasons.length === 0 && keys.length === 0) reasons.push(`no key under ${prefix} mentions ${address}`);
    if (reasons.length === 0) {
      const bad = keys.find((k) => !k.valid);
      reasons.push(bad ? `the key naming it was rejected: ${bad.key}: ${bad.reason ?? ''}` : `no rule makes ${address} a neighbour of this RR (${me})`);
    }
    rule = reasons[0] ?? '';
    details.unshift(...reasons.slice(1));
  }
  return { address, family, inPlan: session !== undefined, ...(session ? { session } : {}), rule, details, keys };
}
