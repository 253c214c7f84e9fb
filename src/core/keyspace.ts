/**
 * The Calico keyspace (docs/architecture.md, The keyspace): which keys matter, and what their values
 * mean once validated. `parseEntry` is the single gate between etcd text and
 * the state; an entry it rejects carries the reason, naming nothing but data.
 */
import { parseAsNumber, parseClusterId, parseIP, parseRepeatedIP, quote, type Parsed } from './addresses.js';
import type { Family } from './events.js';
import { boundedMemo } from './memo.js';

export type Entry =
  | { readonly kind: 'globalAs'; readonly as: number }
  | { readonly kind: 'loglevel'; readonly debug: boolean }
  | { readonly kind: 'globalPeer'; readonly family: Family; readonly ip: string; readonly as: number }
  | { readonly kind: 'hostIp'; readonly family: Family; readonly node: string; readonly ip: string }
  | { readonly kind: 'hostAs'; readonly node: string; readonly as: number }
  | { readonly kind: 'hostPeer'; readonly family: Family; readonly node: string; readonly ip: string; readonly as: number }
  | { readonly kind: 'rr'; readonly family: Family; readonly ip: string; readonly clusterId?: string };


/** What a key is, before its value is read. */
export type KeyClass =
  | { readonly kind: 'globalAs' | 'loglevel' }
  | { readonly kind: 'globalPeer' | 'rr'; readonly family: Family; readonly keyIp: string }
  | { readonly kind: 'hostIp'; readonly family: Family; readonly node: string }
  | { readonly kind: 'hostAs'; readonly node: string }
  | { readonly kind: 'hostPeer'; readonly family: Family; readonly node: string; readonly keyIp: string };

/** Key segments that name a family: peer_v4, ip_addr_v6, rr_v4, ... (a Map: no prototype keys). */
const segment = (name: string): Map<string, Family> => new Map([[`${name}_v4`, 'v4'], [`${name}_v6`, 'v6']]);
const PEER = segment('peer');
const IP_ADDR = segment('ip_addr');
const RR = segment('rr');

/** Classify a key relative to the prefix, or undefined for keys this agent does not use. */
export function classifyKey(prefix: string, key: string): KeyClass | undefined {
  if (key.charCodeAt(prefix.length) !== 47 /* '/' */ || !key.startsWith(prefix)) return undefined;
  const parts = key.slice(prefix.length + 1).split('/');
  const [a, b, c, d] = parts;
  if (a === 'global') {
    if (parts.length === 2 && b === 'as_num') return { kind: 'globalAs' };
    if (parts.length === 2 && b === 'loglevel') return { kind: 'loglevel' };
    const family = parts.length === 3 && c ? PEER.get(b!) : undefined;
    if (family && c) return { kind: 'globalPeer', family, keyIp: c };
    return undefined;
  }
  if (a === 'host' && b) {
    if (parts.length === 3 && c === 'as_num') return { kind: 'hostAs', node: b };
    const ipFamily = parts.length === 3 ? IP_ADDR.get(c!) : undefined;
    if (ipFamily) return { kind: 'hostIp', family: ipFamily, node: b };
    const peerFamily = parts.length === 4 && d ? PEER.get(c!) : undefined;
    if (peerFamily && d) return { kind: 'hostPeer', family: peerFamily, node: b, keyIp: d };
    return undefined;
  }
  const rrFamily = parts.length === 2 && b ? RR.get(a!) : undefined;
  if (rrFamily && b) return { kind: 'rr', family: rrFamily, keyIp: b };
  return undefined;
}

const LOGLEVELS_OFF = new Set(['info', 'none', 'warning', 'error', 'critical', '']);

function json(raw: string): Parsed<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { ok: false, reason: `value ${quote(raw)} is not JSON` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return { ok: false, reason: `value ${quote(raw)} is not a JSON object` };
  }
  return { ok: true, value: v as Record<string, unknown> };
}

/** The peer address in a value must be the one its key names (after normalisation). */
function peerIp(family: Family, keyIp: string, value: Record<string, unknown>): Parsed<string> {
  const fromKey = parseRepeatedIP(family, keyIp);
  if (!fromKey.ok) return { ok: false, reason: `key address: ${fromKey.reason}` };
  const fromValue = parseRepeatedIP(family, value['ip']);
  if (!fromValue.ok) return { ok: false, reason: `"ip": ${fromValue.reason}` };
  if (fromValue.value !== fromKey.value) {
    return { ok: false, reason: `"ip" ${fromValue.value} differs from the key's address ${fromKey.value}` };
  }
  return fromValue;
}

/**
 * A peering value `{"ip","as_num"}` under a key naming `keyIp`. Every node
 * that peers with one RR carries the same value: a bounded memo parses it once.
 */
const peerValue = (family: Family, keyIp: string, raw: string): Parsed<{ ip: string; as: number }> => peerValues(`${family}\0${keyIp}\0${raw}`);

const peerValues = boundedMemo(4096, (memoKey): Parsed<{ ip: string; as: number }> => {
  const a = memoKey.indexOf('\0');
  const b = memoKey.indexOf('\0', a + 1);
  const family = memoKey.slice(0, a) as Family;
  const keyIp = memoKey.slice(a + 1, b);
  const v = json(memoKey.slice(b + 1));
  if (!v.ok) return v;
  const ip = peerIp(family, keyIp, v.value);
  const as = withReason(parseAsNumber(v.value['as_num']), '"as_num"');
  return !ip.ok ? ip : !as.ok ? as : { ok: true, value: { ip: ip.value, as: as.value } };
});

function withReason<T>(p: Parsed<T>, what: string): Parsed<T> {
  return p.ok ? p : { ok: false, reason: `${what}: ${p.reason}` };
}

/** Validate a value for a classified key. */
export function parseEntry(cls: KeyClass, raw: string): Parsed<Entry> {
  switch (cls.kind) {
    case 'globalAs': {
      const as = parseAsNumber(raw);
      return as.ok ? { ok: true, value: { kind: 'globalAs', as: as.value } } : as;
    }
    case 'hostAs': {
      const as = parseAsNumber(raw);
      return as.ok ? { ok: true, value: { kind: 'hostAs', node: cls.node, as: as.value } } : as;
    }
    case 'loglevel': {
      const level = raw.trim().toLowerCase();
      if (level === 'debug') return { ok: true, value: { kind: 'loglevel', debug: true } };
      if (LOGLEVELS_OFF.has(level)) return { ok: true, value: { kind: 'loglevel', debug: false } };
      return { ok: false, reason: `log level ${quote(raw)} is not one of debug, info, warning, error, critical, none` };
    }
    case 'hostIp': {
      const ip = parseIP(cls.family, raw.trim());
      return ip.ok
        ? { ok: true, value: { kind: 'hostIp', family: cls.family, node: cls.node, ip: ip.value } }
        : ip;
    }
    case 'globalPeer':
    case 'hostPeer': {
      const p = peerValue(cls.family, cls.keyIp, raw);
      if (!p.ok) return p;
      const { ip, as } = p.value;
      if (cls.kind === 'hostPeer') {
        return { ok: true, value: { kind: 'hostPeer', family: cls.family, node: cls.node, ip, as } };
      }
      return { ok: true, value: { kind: 'globalPeer', family: cls.family, ip, as } };
    }
    case 'rr': {
      const v = json(raw);
      if (!v.ok) return v;
      const ip = peerIp(cls.family, cls.keyIp, v.value);
      if (!ip.ok) return ip;
      const rawCluster = v.value['cluster_id'];
      if (rawCluster === undefined || rawCluster === null || rawCluster === '') {
        return { ok: true, value: { kind: 'rr', family: cls.family, ip: ip.value } };
      }
      const cluster = withReason(parseClusterId(rawCluster), '"cluster_id"');
      if (!cluster.ok) return cluster;
      return { ok: true, value: { kind: 'rr', family: cls.family, ip: ip.value, clusterId: cluster.value } };
    }
  }
}
