import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { writeIpv6Header } from './ipv6.js';

describe('writeIpv6Header', () => {
  it('writes the fixed header and the first 16 bytes of each address, nothing else', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 16, maxLength: 20 }),
      fc.uint8Array({ minLength: 16, maxLength: 20 }),
      (off, payloadLength, nextHeader, hopLimit, src, dst) => {
        const buf = Buffer.alloc(off + 40 + 8, 0xaa);
        writeIpv6Header(buf, off, payloadLength, nextHeader, hopLimit, src, dst);
        const expected = Buffer.alloc(off + 48, 0xaa);
        expected.writeUInt32BE(0x60000000, off);
        expected.writeUInt16BE(payloadLength, off + 4);
        expected[off + 6] = nextHeader;
        expected[off + 7] = hopLimit;
        expected.set(src.subarray(0, 16), off + 8);
        expected.set(dst.subarray(0, 16), off + 24);
        expect(buf.equals(expected)).toBe(true);
      },
    ));
  });
});
