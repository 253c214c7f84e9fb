/**
 * A route reflector's registration (`rr_v4/<ip>`, `rr_v6/<ip>`): the key and
 * value `routereflector rr add` writes and, with RR_CLUSTER_ID, the agent for
 * itself at start (self-registration), each checked by the agent's own gate
 * (classifyKey + parseEntry) before anything is written.
 */
import type { Parsed } from './addresses.js';
import { PREFIX } from './config.js';
import type { Family } from './events.js';
import { parseAnyAddress } from './explain.js';
import { classifyKey, parseEntry } from './keyspace.js';

export interface Registration {
  readonly family: Family;
  /** Canonical address. */
  readonly address: string;
  /** Canonical cluster id, '' for none. */
  readonly clusterId: string;
  readonly key: string;
  readonly value: string;
}

export const rrPrefix = (family: Family): string => `${PREFIX}/rr_${family}/`;

/** The registration of a canonical address with a canonical cluster id ('' = none), checked by the agent's gate. */
export function registration(family: Family, address: string, clusterId: string): Parsed<Registration> {
  const key = `${rrPrefix(family)}${address}`;
  const value = JSON.stringify({ ip: address, cluster_id: clusterId });
  const cls = classifyKey(PREFIX, key);
  const checked = cls && parseEntry(cls, value);
  if (!checked || !checked.ok) return { ok: false, reason: `refusing to write ${key}: ${checked ? checked.reason : 'not a route reflector key'}` };
  return { ok: true, value: { family, address, clusterId, key, value } };
}

/** What self-registration writes for this RR: one entry per family it speaks (IP, and IP6 when set); none without RR_CLUSTER_ID. */
export function selfRegistrations(cfg: { readonly ip: string; readonly ip6?: string; readonly rrClusterId?: string }): Registration[] {
  if (cfg.rrClusterId === undefined) return [];
  const out: Registration[] = [];
  for (const [family, address] of [['v4', cfg.ip], ['v6', cfg.ip6]] as const) {
    if (address === undefined) continue;
    const r = registration(family, address, cfg.rrClusterId);
    // IP, IP6 and RR_CLUSTER_ID were validated at start-up: a refusal here is a bug, not input.
    if (!r.ok) throw new Error(r.reason);
    out.push(r.value);
  }
  return out;
}

/** The keys under rr_<family>/ that name `address` (also spelt otherwise: fd00:0::1 for fd00::1). */
export function keysFor(family: Family, address: string, keys: readonly string[]): string[] {
  const prefix = rrPrefix(family);
  return keys.filter((k) => k.startsWith(prefix) && parseAnyAddress(k.slice(prefix.length))?.address === address);
}

export type RegistrationDecision =
  | { readonly action: 'create' }
  /** Registered already: left as it is (a restart never rewrites, an operator's `rr add` wins). */
  | { readonly action: 'keep'; readonly key: string; readonly clusterId: string; readonly matches: boolean }
  /** A key for this address holds a value the agent rejects: left for the operator, logged. */
  | { readonly action: 'invalid'; readonly key: string; readonly reason: string };

/** Given what etcd holds for this RR's address (key -> value, from keysFor), whether to create the entry. */
export function decideRegistration(want: Registration, existing: Readonly<Record<string, string>>): RegistrationDecision {
  const keys = Object.keys(existing).sort();
  if (keys.length === 0) return { action: 'create' };
  for (const key of keys) {
    const cls = classifyKey(PREFIX, key);
    const p = cls && parseEntry(cls, existing[key] ?? '');
    if (p && p.ok && p.value.kind === 'rr') {
      const clusterId = p.value.clusterId ?? '';
      return { action: 'keep', key, clusterId, matches: clusterId === want.clusterId };
    }
  }
  const key = keys[0] ?? '';
  const cls = classifyKey(PREFIX, key);
  const p = cls && parseEntry(cls, existing[key] ?? '');
  return { action: 'invalid', key, reason: p && !p.ok ? p.reason : 'not a route reflector entry' };
}
