/**
 * Address, AS number and cluster id validation (docs/architecture.md, The keyspace). Every value from
 * etcd or the environment goes through here before it can reach a config:
 * what comes out is a canonical token that cannot carry BIRD syntax.
 */
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { boundedMemo } from './memo.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

const MAX_TEXT = 64;

function show(raw: unknown): string {
  const s = typeof raw === 'string' ? raw : JSON.stringify(raw) ?? String(raw);
  return JSON.stringify(s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s);
}

/** Ranges that can never be a BGP neighbour. */
const V4_UNUSABLE = new Set(['unspecified', 'broadcast', 'multicast']);

/** A strict dotted-quad IPv4 neighbour address ("10.0.0.1", no "010", "0x", "10.1"). */
export function parseIPv4(raw: unknown): Parsed<string> {
  if (typeof raw !== 'string') return fail(`expected an IPv4 address string, got ${show(raw)}`);
  // node:net's check is strict dotted decimal (no leading zeros, no hex, four parts) and cheap.
  if (!isIPv4(raw)) return fail(`${show(raw)} is not an IPv4 address`);
  // The unusable ranges are 0.0.0.0/8, 224.0.0.0/4 (multicast) and 255.255.255.255: a first
  // octet of 1..223 is usable without asking ipaddr.js (the common case, 100,000 times at start).
  const first = Number(raw.slice(0, raw.indexOf('.')));
  if (first >= 1 && first <= 223) return ok(raw);
  const range = ipaddr.IPv4.parse(raw).range();
  if (V4_UNUSABLE.has(range)) return fail(`${show(raw)} is ${range}, not usable as a BGP neighbour`);
  return ok(raw);
}

/**
 * The eight 16-bit groups of an address that node:net's isIPv6 accepted
 * (strict syntax, no zone id): at most one `::`, hex groups, perhaps a
 * dotted quad for the last two.
 */
function ipv6Groups(text: string): number[] {
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  const lastColon = text.lastIndexOf(':');
  let quad: number[] | undefined;
  if (text.indexOf('.', lastColon) >= 0) {
    quad = text.slice(lastColon + 1).split('.').map(Number);
    text = text.slice(0, lastColon + 1) + '0:0'; // placeholders for the two groups the quad stands for
  }
  const gap = text.indexOf('::');
  const head = gap < 0 ? text : text.slice(0, gap);
  const tail = gap < 0 ? '' : text.slice(gap + 2);
  if (head !== '') head.split(':').forEach((g, i) => (groups[i] = parseInt(g, 16)));
  if (tail !== '') {
    const t = tail.split(':');
    t.forEach((g, i) => (groups[8 - t.length + i] = parseInt(g, 16)));
  }
  if (quad !== undefined) {
    groups[6] = (quad[0]! << 8) | quad[1]!;
    groups[7] = (quad[2]! << 8) | quad[3]!;
    // `::a.b.c.d` (the deprecated IPv4-compatible form) is read as `::ffff:a.b.c.d`, as ipaddr.js reads it.
    if (lastColon === 1) groups[5] = 0xffff;
  }
  return groups;
}

/** RFC 5952 text: lower-case hex without leading zeros, the longest run of two or more zero groups (the first of equals) as `::`. */
function rfc5952(groups: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** The range that makes an address unusable as a neighbour (ipaddr.js's names), if any. */
function unusableV6(g: readonly number[]): string | undefined {
  const g0 = g[0]!;
  if (g0 >= 0xff00) return 'multicast'; // ff00::/8
  if ((g0 & 0xffc0) === 0xfe80) return 'linkLocal'; // fe80::/10
  if (g0 !== 0 || g[1] !== 0 || g[2] !== 0 || g[3] !== 0 || g[4] !== 0) return undefined;
  if (g[5] === 0xffff) return 'ipv4Mapped'; // ::ffff:0:0/96
  return g[5] === 0 && g[6] === 0 && g[7] === 0 ? 'unspecified' : undefined;
}

/**
 * An IPv6 neighbour address in one canonical form (RFC 5952): fd00:0::1 ->
 * fd00::1. Written here rather than with ipaddr.js (parse, range,
 * toRFC5952String): 100,000 host addresses at start took ~0.25 s that way;
 * a property test holds both to the same answers (test/unit/addresses.test.ts).
 */
export function parseIPv6(raw: unknown): Parsed<string> {
  if (typeof raw !== 'string') return fail(`expected an IPv6 address string, got ${show(raw)}`);
  if (raw.includes('%')) return fail(`${show(raw)} has a zone id, not usable as a BGP neighbour`);
  if (!isIPv6(raw)) return fail(`${show(raw)} is not an IPv6 address`);
  const groups = ipv6Groups(raw);
  const range = unusableV6(groups);
  if (range !== undefined) return fail(`${show(raw)} is ${range}, not usable as a BGP neighbour`);
  return ok(rfc5952(groups));
}

export function parseIP(family: 'v4' | 'v6', raw: unknown): Parsed<string> {
  return family === 'v4' ? parseIPv4(raw) : parseIPv6(raw);
}

const recent = { v4: boundedMemo(4096, (raw) => parseIPv4(raw)), v6: boundedMemo(4096, (raw) => parseIPv6(raw)) };

/**
 * parseIP for addresses that repeat across many keys (the route reflector
 * named in every node's peering): a bounded memo of recent results.
 */
export function parseRepeatedIP(family: 'v4' | 'v6', raw: unknown): Parsed<string> {
  return typeof raw === 'string' ? recent[family](raw) : parseIP(family, raw);
}

/** An AS number 1..4294967295, as a decimal string or a JSON number. */
export function parseAsNumber(raw: unknown): Parsed<number> {
  let text: string;
  if (typeof raw === 'number') text = String(raw);
  else if (typeof raw === 'string') text = raw.trim();
  else return fail(`expected an AS number, got ${show(raw)}`);
  if (!/^[0-9]{1,10}$/.test(text)) return fail(`${show(raw)} is not an AS number`);
  const n = Number(text);
  if (n < 1 || n > 4294967295) return fail(`AS ${text} is out of range 1..4294967295`);
  return ok(n);
}

/** A cluster id: a dotted quad or a uint32, normalised to a dotted quad. */
export function parseClusterId(raw: unknown): Parsed<string> {
  if (typeof raw === 'number' || (typeof raw === 'string' && /^[0-9]{1,10}$/.test(raw.trim()))) {
    const n = Number(typeof raw === 'string' ? raw.trim() : raw);
    if (!Number.isInteger(n) || n < 0 || n > 4294967295) return fail(`cluster id ${show(raw)} is out of range`);
    return ok([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'));
  }
  if (typeof raw === 'string' && ipaddr.IPv4.isValidFourPartDecimal(raw)) {
    if (raw.split('.').some((p) => p.length > 1 && p.startsWith('0'))) {
      return fail(`cluster id ${show(raw)} has leading zeros (ambiguous)`);
    }
    return ok(ipaddr.IPv4.parse(raw).toString());
  }
  return fail(`cluster id ${show(raw)} is neither a dotted quad nor a uint32`);
}

/** Compare two canonical addresses of one family numerically. */
export function compareAddresses(a: string, b: string): number {
  const x = ipaddr.parse(a).toByteArray();
  const y = ipaddr.parse(b).toByteArray();
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** A valid BIRD symbol from a canonical address: 10.0.0.2 -> 10_0_0_2, fd00::5 -> fd00__5. */
export function addressSymbol(addr: string): string {
  return addr.replace(/[.:]/g, '_');
}

export { show as quote };
