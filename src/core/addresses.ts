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
const V6_UNUSABLE = new Set(['unspecified', 'multicast', 'linkLocal', 'ipv4Mapped']);

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

/** An IPv6 neighbour address in one canonical form (RFC 5952): fd00:0::1 -> fd00::1. */
export function parseIPv6(raw: unknown): Parsed<string> {
  if (typeof raw !== 'string') return fail(`expected an IPv6 address string, got ${show(raw)}`);
  if (raw.includes('%')) return fail(`${show(raw)} has a zone id, not usable as a BGP neighbour`);
  if (!isIPv6(raw)) return fail(`${show(raw)} is not an IPv6 address`);
  const addr = ipaddr.IPv6.parse(raw);
  const range = addr.range();
  if (V6_UNUSABLE.has(range)) return fail(`${show(raw)} is ${range}, not usable as a BGP neighbour`);
  return ok(addr.toRFC5952String());
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
