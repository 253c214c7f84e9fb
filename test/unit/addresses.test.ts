import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { addressSymbol, compareAddresses, parseAsNumber, parseClusterId, parseIPv4, parseIPv6 } from '../../src/core/addresses.js';

const value = <T>(p: { ok: true; value: T } | { ok: false; reason: string }): T | string => (p.ok ? p.value : `!${p.reason}`);

describe('parseIPv4', () => {
  it('accepts dotted quads', () => {
    expect(value(parseIPv4('10.0.0.1'))).toBe('10.0.0.1');
    expect(value(parseIPv4('127.0.0.2'))).toBe('127.0.0.2');
  });
  it.each(['', '10.0.0', '10.0.0.256', '010.0.0.1', '0x0a.0.0.1', '10.0.0.1 ', '10.0.0.1;', 'fd00::1', '1.2.3.4/32'])(
    'rejects %j',
    (raw) => expect(parseIPv4(raw).ok).toBe(false),
  );
  it.each(['0.0.0.0', '255.255.255.255', '224.0.0.5'])('rejects unusable %s', (raw) => {
    const p = parseIPv4(raw);
    expect(p.ok).toBe(false);
    expect(p.ok ? '' : p.reason).toMatch(/not usable/);
  });
  it('rejects non-strings', () => {
    expect(parseIPv4(167772161).ok).toBe(false);
    expect(parseIPv4(null).ok).toBe(false);
  });
});

describe('parseIPv6', () => {
  it('normalises to one canonical form', () => {
    expect(value(parseIPv6('fd00:0::1'))).toBe('fd00::1');
    expect(value(parseIPv6('FD00:0000:0000:0000:0000:0000:0000:0005'))).toBe('fd00::5');
    expect(value(parseIPv6('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
  });
  it.each(['::', 'fe80::1', 'ff02::1', '::ffff:10.0.0.1', 'fd00::1%eth0', 'fd00::1::2', '10.0.0.1', 'fd00::1;'])(
    'rejects %j',
    (raw) => expect(parseIPv6(raw).ok).toBe(false),
  );
  it('compresses the first of two equal zero runs, and a run at either end', () => {
    expect(value(parseIPv6('fd00:0:0:1:0:0:1:2'))).toBe('fd00::1:0:0:1:2');
    expect(value(parseIPv6('0:0:1:0:0:1:2:3'))).toBe('::1:0:0:1:2:3');
    expect(value(parseIPv6('1:2:3:4:5:6:0:0'))).toBe('1:2:3:4:5:6::');
    expect(value(parseIPv6('1:0:2:0:3:0:4:5'))).toBe('1:0:2:0:3:0:4:5');
    expect(value(parseIPv6('::0:1.2.3.4'))).toBe('::102:304');
    expect(parseIPv6('::1.2.3.4')).toEqual({ ok: false, reason: '"::1.2.3.4" is ipv4Mapped, not usable as a BGP neighbour' });
    expect(value(parseIPv6('64:ff9b::10.0.0.1'))).toBe('64:ff9b::a00:1');
  });

  // The answer ipaddr.js gives (parseIPv6 was written with it): same text, same rejections.
  const reference = (raw: string): string | undefined => {
    if (raw.includes('%') || !isIPv6(raw)) return undefined;
    const addr = ipaddr.IPv6.parse(raw);
    return ['unspecified', 'multicast', 'linkLocal', 'ipv4Mapped'].includes(addr.range()) ? undefined : addr.toRFC5952String();
  };
  const mine = (raw: string): string | undefined => {
    const p = parseIPv6(raw);
    return p.ok ? p.value : undefined;
  };
  /** Eight groups, often zero and often at the edges of the unusable ranges, written in the many ways IPv6 allows. */
  const group = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
  const first = fc.oneof(group, fc.integer({ min: 0xfe70, max: 0xffff }));
  const spelled = fc
    .tuple(first, fc.array(group, { minLength: 7, maxLength: 7 }), fc.boolean(), fc.boolean(), fc.boolean(), fc.nat(8), fc.nat(8))
    .map(([g0, rest, upper, pad, quad, from, len]) => {
      const g = [g0, ...rest];
      let parts = g.map((x) => (pad ? x.toString(16).padStart(4, '0') : x.toString(16)));
      if (quad) parts = [...parts.slice(0, 6), `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`];
      // Leave out a run of zero groups as `::` (any run, not only the longest: every spelling is valid input).
      let text = parts.join(':');
      const n = quad ? 7 : 8;
      const a = Math.min(from, n - 1);
      let b = a;
      while (b < n && b - a < len && g[b] === 0) b++;
      if (b > a) text = `${parts.slice(0, a).join(':')}::${parts.slice(b, n).join(':')}`;
      return upper ? text.toUpperCase() : text;
    });

  it('gives what ipaddr.js gives, for every spelling of every address (property)', () => {
    fc.assert(
      fc.property(fc.oneof(spelled, fc.ipV6()), (raw) => {
        expect(mine(raw)).toBe(reference(raw));
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('parseAsNumber', () => {
  it('accepts 1..4294967295 as string or number', () => {
    expect(value(parseAsNumber('64512'))).toBe(64512);
    expect(value(parseAsNumber(65000))).toBe(65000);
    expect(value(parseAsNumber('4294967295'))).toBe(4294967295);
    expect(value(parseAsNumber(' 1 '))).toBe(1);
  });
  it.each(['0', '4294967296', '-1', '1.5', 'abc', '', '64512; protocol kernel {}', 1.5, true, null])('rejects %j', (raw) =>
    expect(parseAsNumber(raw).ok).toBe(false),
  );
});

describe('parseClusterId', () => {
  it('accepts a dotted quad or a uint32, as a dotted quad', () => {
    expect(value(parseClusterId('1.0.0.1'))).toBe('1.0.0.1');
    expect(value(parseClusterId('16777217'))).toBe('1.0.0.1');
    expect(value(parseClusterId(16777217))).toBe('1.0.0.1');
    expect(value(parseClusterId('0'))).toBe('0.0.0.0');
  });
  it.each(['1.0.0', '1.0.0.256', '4294967296', 'x', '1.0.0.1 }', -1])('rejects %j', (raw) =>
    expect(parseClusterId(raw).ok).toBe(false),
  );
});

describe('symbols and order', () => {
  it('derives BIRD symbols from canonical addresses', () => {
    expect(addressSymbol('10.0.0.2')).toBe('10_0_0_2');
    expect(addressSymbol('fd00::5')).toBe('fd00__5');
  });
  it('compares numerically, not as text', () => {
    expect(compareAddresses('10.0.0.9', '10.0.0.10')).toBeLessThan(0);
    expect(compareAddresses('fd00::a', 'fd00::9')).toBeGreaterThan(0);
    expect(compareAddresses('10.0.0.1', '10.0.0.1')).toBe(0);
  });
});
