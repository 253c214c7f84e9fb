import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { byteLength, joinBytes, sameBytes, sha256Of } from '../../src/core/config-bytes.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('config bytes in parts', () => {
  const parts = [b('router id 1.2.3.4;\n'), b('protocol bgp A {}\n'), b(''), b('protocol bgp B {}\n')];
  const whole = Buffer.concat(parts);

  it('hashes the parts as sha256sum hashes the joined file', () => {
    expect(sha256Of(parts)).toBe(createHash('sha256').update(whole).digest('hex'));
    expect(byteLength(parts)).toBe(whole.length);
    expect(joinBytes(parts).equals(whole)).toBe(true);
  });

  it('compares parts with a whole file and with other parts, whatever the split', () => {
    expect(sameBytes(whole, parts)).toBe(true);
    expect(sameBytes(parts, parts)).toBe(true);
    expect(sameBytes([whole.subarray(0, 7), whole.subarray(7)], parts)).toBe(true);
    expect(sameBytes(Buffer.concat([whole, b('\n')]), parts)).toBe(false); // longer
    const flipped = Buffer.from(whole);
    flipped[flipped.length - 3] = 0x41;
    expect(sameBytes(flipped, parts)).toBe(false); // same length, one byte differs
    expect(sameBytes([b('router id 1.2.3.5;\n'), ...parts.slice(1)], parts)).toBe(false);
    expect(sameBytes([whole.subarray(0, 3), b(''), whole.subarray(3, 40), whole.subarray(40)], [whole.subarray(0, 30), whole.subarray(30)])).toBe(true);
    const other = Buffer.from(whole);
    other[35] = 0x5a;
    expect(sameBytes([whole.subarray(0, 3), whole.subarray(3, 40), whole.subarray(40)], [other.subarray(0, 30), other.subarray(30)])).toBe(false);
  });
});
