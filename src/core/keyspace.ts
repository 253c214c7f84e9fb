/**
 * The Calico keyspace (docs/architecture.md, The keyspace): which keys matter, and what their values
 * mean once validated. `parseEntry` is the single gate between etcd text and
 * the state; an entry it rejects carries the reason, naming nothing but data.
 */
import { parseAsNumber, parseClusterId, parseIP, parseRepeatedIP, quote, type Parsed } from './addresses.js';
import type { Family } from './events.js';
import { boundedMemo } from './memo.js';
import { parsePassword, REDACTED, type Secret } from './secret.js';

export type Entry =
  | { readonly kind: 'globalAs'; readonly as: number }
  | { readonly kind: 'loglevel'; readonly debug: boolean }
  | { readonly kind: 'globalPeer'; readonly family: Family; readonly ip: string; readonly as: number; readonly opts?: PeerOptions; readonly ignored?: readonly string[] }
  | { readonly kind: 'hostIp'; readonly family: Family; readonly node: string; readonly ip: string }
  | { readonly kind: 'hostAs'; readonly node: string; readonly as: number }
  | { readonly kind: 'hostPeer'; readonly family: Family; readonly node: string; readonly ip: string; readonly as: number; readonly opts?: PeerOptions; readonly ignored?: readonly string[] }
  | { readonly kind: 'rr'; readonly family: Family; readonly ip: string; readonly clusterId?: string };


/**
 * The fields of Calico's peer value beyond `ip` and `as_num` that this route
 * reflector honours (README "The keyspace"), validated; absent when the value
 * has none (the usual `{"ip","as_num"}` costs nothing more at 100,000 nodes).
 * Which session kinds use which field is the plan's decision (core/plan.ts).
 */
export interface PeerOptions {
  /** `password`: TCP MD5. */
  readonly password?: Secret;
  /** `keepalive_time` in seconds (hold time is three times it). */
  readonly keepaliveTime?: number;
  /** `restart_time` in seconds: graceful restart time. */
  readonly restartTime?: number;
  /** `ttl_security` hops: GTSM (`ttl security on; multihop N`). */
  readonly ttlSecurity?: number;
  /** `passive_mode`: wait for the peer to connect. */
  readonly passive?: boolean;
  /** `local_as_num`: our AS on this session. */
  readonly localAs?: number;
  /** `num_allow_local_as`: accept routes with our AS this many times in the path. */
  readonly allowLocalAs?: number;
  /** `next_hop_mode` "Self": our address as next hop (Keep/Auto and `keep_next_hop` keep it: the default). */
  readonly nextHopSelf?: boolean;
  /** The key's `<ip>-<port>` or the value's `port`, when not 179. */
  readonly port?: number;
}

/** Calico peer-value fields read here; any other field is ignored (one debug line). */
const HONOURED = new Set(['ip', 'as_num', 'password', 'keepalive_time', 'restart_time', 'ttl_security', 'passive_mode', 'local_as_num', 'num_allow_local_as', 'next_hop_mode', 'keep_next_hop', 'port']);

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

/**
 * Classify a key relative to the prefix, or undefined for keys this agent
 * does not use. Its segments are found with indexOf, not split: this runs
 * for every key of a full read (300,000 at 100,000 nodes).
 */
export function classifyKey(prefix: string, key: string): KeyClass | undefined {
  if (key.charCodeAt(prefix.length) !== 47 /* '/' */ || !key.startsWith(prefix)) return undefined;
  const start = prefix.length + 1;
  const i1 = key.indexOf('/', start);
  if (i1 < 0) return undefined; // one segment: nothing this agent uses
  const a = key.slice(start, i1);
  const i2 = key.indexOf('/', i1 + 1);
  const b = key.slice(i1 + 1, i2 < 0 ? key.length : i2);
  if (i2 < 0) {
    // <a>/<b>: /global/as_num, /global/loglevel, /rr_vN/<ip>
    if (a === 'global') return b === 'as_num' ? { kind: 'globalAs' } : b === 'loglevel' ? { kind: 'loglevel' } : undefined;
    const rrFamily = b ? RR.get(a) : undefined;
    return rrFamily ? { kind: 'rr', family: rrFamily, keyIp: b } : undefined;
  }
  const i3 = key.indexOf('/', i2 + 1);
  const c = key.slice(i2 + 1, i3 < 0 ? key.length : i3);
  if (i3 < 0) {
    // <a>/<b>/<c>: /global/peer_vN/<ip>, /host/<node>/as_num, /host/<node>/ip_addr_vN
    if (a === 'global') {
      const family = c ? PEER.get(b) : undefined;
      return family ? { kind: 'globalPeer', family, keyIp: c } : undefined;
    }
    if (a !== 'host' || !b) return undefined;
    if (c === 'as_num') return { kind: 'hostAs', node: b };
    const ipFamily = IP_ADDR.get(c);
    return ipFamily ? { kind: 'hostIp', family: ipFamily, node: b } : undefined;
  }
  // /host/<node>/peer_vN/<ip>: exactly four segments
  if (a !== 'host' || !b || key.indexOf('/', i3 + 1) >= 0) return undefined;
  const d = key.slice(i3 + 1);
  const peerFamily = d ? PEER.get(c) : undefined;
  return peerFamily ? { kind: 'hostPeer', family: peerFamily, node: b, keyIp: d } : undefined;
}

const LOGLEVELS_OFF = new Set(['info', 'none', 'warning', 'error', 'critical', '']);

function json(raw: string, withhold = false): Parsed<Record<string, unknown>> {
  const shown = withhold ? `(${raw.length} characters, not shown: it may hold a password)` : quote(raw);
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { ok: false, reason: `value ${shown} is not JSON` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return { ok: false, reason: `value ${shown} is not a JSON object` };
  }
  return { ok: true, value: v as Record<string, unknown> };
}

/** A peer key's last segment: `<ip>` or `<ip>-<port>` (Calico, when the port is not 179). */
function splitKeyPort(keyIp: string): { ip: string; port?: string } {
  const dash = keyIp.lastIndexOf('-');
  return dash < 0 ? { ip: keyIp } : { ip: keyIp.slice(0, dash), port: keyIp.slice(dash + 1) };
}

/** The peer address in a value must be the one its key names (after normalisation). */
function peerIp(family: Family, keyIp: string, value: Record<string, unknown>): Parsed<string> {
  const fromKey = parseRepeatedIP(family, splitKeyPort(keyIp).ip);
  if (!fromKey.ok) return { ok: false, reason: `key address: ${fromKey.reason}` };
  const fromValue = parseRepeatedIP(family, value['ip']);
  if (!fromValue.ok) return { ok: false, reason: `"ip": ${fromValue.reason}` };
  if (fromValue.value !== fromKey.value) {
    return { ok: false, reason: `"ip" ${fromValue.value} differs from the key's address ${fromKey.value}` };
  }
  return fromValue;
}

interface PeerValue {
  readonly ip: string;
  readonly as: number;
  readonly opts?: PeerOptions;
  readonly ignored?: readonly string[];
}

/** A whole number in `lo..hi`, as a JSON number or a decimal string. */
function whole(raw: unknown, what: string, lo: number, hi: number): Parsed<number> {
  const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : undefined;
  if (text === undefined || !/^[0-9]{1,10}$/.test(text)) return { ok: false, reason: `${what}: ${quote(raw)} is not a whole number` };
  const n = Number(text);
  if (n < lo || n > hi) return { ok: false, reason: `${what}: ${n} is out of range ${lo}..${hi}` };
  return { ok: true, value: n };
}

/** Seconds as Calico writes them: a number, a decimal string, or a Go duration of whole seconds ("90s", "2m", "1h30m"). */
function seconds(raw: unknown, what: string, lo: number, hi: number): Parsed<number> {
  if (typeof raw === 'string') {
    const m = /^(?:(\d{1,5})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/.exec(raw.trim());
    if (m && raw.trim() !== '' && !/^\d+$/.test(raw.trim())) {
      const n = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
      return n < lo || n > hi ? { ok: false, reason: `${what}: ${n} s is out of range ${lo}..${hi}` } : { ok: true, value: n };
    }
  }
  return whole(raw, what, lo, hi);
}

const unset = (v: unknown): boolean => v === undefined || v === null || v === '' || v === 0 || v === '0';

function flagField(raw: unknown, what: string): Parsed<boolean> {
  if (raw === true || raw === 'true') return { ok: true, value: true };
  if (raw === false || raw === 'false' || raw === undefined || raw === null || raw === '') return { ok: true, value: false };
  return { ok: false, reason: `${what}: ${quote(raw)} is not true or false` };
}

/**
 * Every honoured field beyond ip/as_num, validated (the first bad one rejects
 * the entry). A reason names the field and its value, never the password.
 */
function peerOptions(keyIp: string, v: Record<string, unknown>): Parsed<PeerOptions | undefined> {
  const opts: { -readonly [K in keyof PeerOptions]: PeerOptions[K] } = {};
  const pw = parsePassword(v['password']);
  if (!pw.ok) return pw;
  if (pw.value !== undefined) opts.password = pw.value;
  const checks: Array<[string, (raw: unknown) => Parsed<unknown>, (x: never) => void]> = [
    ['keepalive_time', (r) => seconds(r, '"keepalive_time"', 1, 21845), (x: number) => (opts.keepaliveTime = x)],
    ['restart_time', (r) => seconds(r, '"restart_time"', 1, 4095), (x: number) => (opts.restartTime = x)],
    ['ttl_security', (r) => whole(r, '"ttl_security"', 1, 254), (x: number) => (opts.ttlSecurity = x)],
    ['local_as_num', (r) => withReason(parseAsNumber(r), '"local_as_num"'), (x: number) => (opts.localAs = x)],
    ['num_allow_local_as', (r) => whole(r, '"num_allow_local_as"', 1, 255), (x: number) => (opts.allowLocalAs = x)],
  ];
  for (const [field, parse, set] of checks) {
    if (unset(v[field])) continue;
    const p = parse(v[field]);
    if (!p.ok) return p;
    set(p.value as never);
  }
  const passive = flagField(v['passive_mode'], '"passive_mode"');
  if (!passive.ok) return passive;
  if (passive.value) opts.passive = true;
  const keep = flagField(v['keep_next_hop'], '"keep_next_hop"');
  if (!keep.ok) return keep;
  const mode = v['next_hop_mode'];
  if (!unset(mode)) {
    const m = typeof mode === 'string' ? mode.trim().toLowerCase() : undefined;
    if (m !== 'auto' && m !== 'self' && m !== 'keep') return { ok: false, reason: `"next_hop_mode": ${quote(mode)} is not one of Auto, Self, Keep` };
    if (m === 'self' && keep.value) return { ok: false, reason: '"next_hop_mode" Self contradicts "keep_next_hop": true' };
    if (m === 'self') opts.nextHopSelf = true;
  }
  const keyPort = splitKeyPort(keyIp).port;
  const fromKey = keyPort === undefined ? undefined : whole(keyPort, 'key port', 1, 65535);
  if (fromKey !== undefined && !fromKey.ok) return fromKey;
  const fromValue = unset(v['port']) ? undefined : whole(v['port'], '"port"', 1, 65535);
  if (fromValue !== undefined && !fromValue.ok) return fromValue;
  if (fromKey?.ok && fromValue?.ok && fromKey.value !== fromValue.value) {
    return { ok: false, reason: `"port" ${fromValue.value} differs from the key's port ${fromKey.value}` };
  }
  const port = fromKey?.ok ? fromKey.value : fromValue?.ok ? fromValue.value : 179;
  if (port !== 179) opts.port = port;
  return { ok: true, value: Object.keys(opts).length > 0 ? opts : undefined };
}

/**
 * A peering value `{"ip","as_num",...}` under a key naming `keyIp`. Every node
 * that peers with one RR carries the same value: a bounded memo parses it once
 * (and the entries of those nodes share one options object).
 */
const peerValue = (family: Family, keyIp: string, raw: string): Parsed<PeerValue> => peerValues(`${family}\0${keyIp}\0${raw}`);

const peerValues = boundedMemo(4096, (memoKey): Parsed<PeerValue> => {
  const a = memoKey.indexOf('\0');
  const b = memoKey.indexOf('\0', a + 1);
  const family = memoKey.slice(0, a) as Family;
  const keyIp = memoKey.slice(a + 1, b);
  const raw = memoKey.slice(b + 1);
  // A value that may hold a password is never repeated in a reason.
  const v = json(raw, /password/i.test(raw));
  if (!v.ok) return v;
  const ip = peerIp(family, keyIp, v.value);
  if (!ip.ok) return ip;
  const as = withReason(parseAsNumber(v.value['as_num']), '"as_num"');
  if (!as.ok) return as;
  const opts = peerOptions(keyIp, v.value);
  if (!opts.ok) return opts;
  const ignored = Object.keys(v.value).filter((f) => !HONOURED.has(f)).sort();
  return {
    ok: true,
    value: { ip: ip.value, as: as.value, ...(opts.value !== undefined ? { opts: opts.value } : {}), ...(ignored.length > 0 ? { ignored } : {}) },
  };
});

/**
 * A raw value as `explain` and other outputs may show it: a peer value's
 * password replaced by `(redacted)`; a value that mentions a password but is
 * not a JSON object is not shown at all.
 */
export function redactValue(raw: string): string {
  if (!/password/i.test(raw)) return raw;
  try {
    const v: unknown = JSON.parse(raw);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(o)) out[k] = /password/i.test(k) ? REDACTED : o[k];
      const text = JSON.stringify(out);
      if (!/password/i.test(text.replace(/"[^"]*password[^"]*":"\(redacted\)"/gi, ''))) return text;
    }
  } catch {
    // not JSON: shown as withheld below
  }
  return `(${raw.length} characters, not shown: it may hold a password)`;
}

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
      const { ip, as, opts, ignored } = p.value;
      const extra = { ...(opts !== undefined ? { opts } : {}), ...(ignored !== undefined ? { ignored } : {}) };
      if (cls.kind === 'hostPeer') {
        return { ok: true, value: { kind: 'hostPeer', family: cls.family, node: cls.node, ip, as, ...extra } };
      }
      return { ok: true, value: { kind: 'globalPeer', family: cls.family, ip, as, ...extra } };
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
