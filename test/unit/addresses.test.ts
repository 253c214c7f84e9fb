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
