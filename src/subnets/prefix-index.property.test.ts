// Differential property: the prefixes PrefixIndex says overlap a given one are exactly those a
// pairwise cidrOverlaps finds, after any sequence of additions and removals, in either family.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test/property-runs.js';
import { cidrOverlaps, parseCidr, type Cidr } from './cidr.js';
import { PrefixIndex } from './prefix-index.js';

/** Prefixes in a small space, so that containment and duplicates are common. */
const v4 = fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 20, max: 32 })).map(([n, len]) => {
  const addr = ((10 << 24) | (244 << 16) | (n << 9)) >>> 0;
  const masked = len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0;
  return parseCidr(`${masked >>> 24}.${(masked >> 16) & 255}.${(masked >> 8) & 255}.${masked & 255}/${len}`);
});
const v6 = fc.tuple(fc.integer({ min: 0, max: 15 }), fc.constantFrom(0, 8, 44, 48, 56, 60, 63, 64, 65, 96, 127, 128)).map(([n, len]) => {
  const addr = Buffer.from('fd000010024400000000000000000000', 'hex');
  addr.writeUInt8(n << 4, 7); // bits 56..59
  addr.writeUInt8(n, 8); // bits 68..71
  for (let bit = len; bit < 128; bit++) addr[bit >> 3] &= ~(0x80 >> (bit & 7));
  const groups = Array.from({ length: 8 }, (_, i) => addr.readUInt16BE(i * 2).toString(16));
  return parseCidr(`${groups.join(':')}/${len}`);
});

function check(prefix: fc.Arbitrary<Cidr>, family: 4 | 6): void {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), prefix), { maxLength: 40 }), prefix, (steps, probe) => {
      const index = new PrefixIndex<number>(family);
      const present: { cidr: Cidr; item: number }[] = [];
      steps.forEach(([remove, cidr], item) => {
        const at = present.findIndex((p) => p.cidr.text === cidr.text);
        if (remove && at >= 0) {
          expect(index.delete(cidr, present[at].item)).toBe(true);
          present.splice(at, 1);
        } else {
          index.add(cidr, item);
          present.push({ cidr, item });
        }
      });
      expect(index.size).toBe(present.length);
      const found: number[] = [];
      index.overlapping(probe, (item) => found.push(item));
      const expected = present.filter((p) => cidrOverlaps(p.cidr, probe)).map((p) => p.item);
      expect(found.sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
    }),
    { numRuns: propertyRuns(500) },
  );
}

describe('PrefixIndex', () => {
  it('finds exactly the overlapping IPv4 prefixes', () => check(v4, 4));
  it('finds exactly the overlapping IPv6 prefixes', () => check(v6, 6));
  it('removes only the item it is asked to', () => {
    const index = new PrefixIndex<string>(4);
    const cidr = parseCidr('10.244.1.0/24');
    index.add(cidr, 'a');
    index.add(cidr, 'b');
    expect(index.delete(cidr, 'c')).toBe(false);
    expect(index.delete(cidr, 'a')).toBe(true);
    const found: string[] = [];
    index.overlapping(parseCidr('10.244.0.0/16'), (x) => found.push(x));
    expect(found).toEqual(['b']);
    expect(() => index.add(parseCidr('fd00::/64'), 'v6')).toThrow('IPv6 prefix in the IPv4 index');
  });
});
