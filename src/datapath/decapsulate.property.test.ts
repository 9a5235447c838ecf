// decapsulate over hostile datagrams (random bytes, and valid VXLAN datagrams corrupted where
// parsers look): it never throws, reads nothing outside each datagram, and forwards or counts
// every one; what it forwards is a whole IP packet inside the datagram.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atEnd, frameSpan, framesOf, fillings, outputSpan, surrounded, type Frame } from '../../test/batch-surroundings.js';
import { hostile, routedFrame, vxlanDatagram } from '../../test/packet-arbitraries.js';
import { propertyRuns } from '../../test/property-runs.js';
import { A, B, C, PEER_B, PEER_C, addressWords, sourceOfNode, worldOfA } from '../../test/stage-worlds.js';
import { ENCAP_LEN, HEADROOM, IPV6_HEADER_LEN } from '../packet/constants.js';
import { validateIpv4, ipv4TotalLength, IPV4_OK } from '../packet/ipv4.js';
import { validateIpv6, ipv6PayloadLength, IPV6_OK } from '../packet/ipv6.js';
import { decapsulate, RX_OFFSET } from './decapsulate.js';
import { DROP_REASONS } from './drop-reasons.js';
import { FORWARDED, type PacketBatch } from './packet-batch.js';

const BATCH = 8;
const SOURCES = { 4: [addressWords(B.underlayV4!), addressWords(A.underlayV4!), addressWords('192.0.2.99')], 6: [addressWords(C.underlayV6!), addressWords('2001:db8::99')] };
const datagrams = hostile(vxlanDatagram(routedFrame));
const batches = fc.constantFrom(4 as const, 6 as const).chain((family) => fc.record({ family: fc.constant(family), frames: framesOf(datagrams, SOURCES[family], BATCH) }));

/** Everything decapsulate decides and writes, for a batch placed by `place`. */
function decapsulated(frames: Frame[], family: 4 | 6, place: (frames: Frame[]) => PacketBatch) {
  const w = worldOfA(BATCH);
  const b = place(frames);
  const out = decapsulate(b, frames.length, w, family);
  const n = frames.length;
  return {
    out,
    verdicts: Array.from(b.verdicts.subarray(0, n)),
    peers: Array.from(b.peerOf.subarray(0, n)),
    counters: Array.from(w.block),
    outputs: Array.from({ length: out }, (_, k) => outputSpan(b, b.outOffsets[k], b.outLengths[k])),
    frames: frames.map((f, i) => frameSpan(b, i, RX_OFFSET, RX_OFFSET, f)),
    b,
    w,
  };
}

const RUNS = propertyRuns(3000);

describe('decapsulate, property-based', () => {
  it('decides and writes the same whatever surrounds the datagrams (no read outside them)', () => {
    fc.assert(
      fc.property(batches, fillings, ({ family, frames }, [a, b]) => {
        const one = decapsulated(frames, family, (f) => surrounded(f, RX_OFFSET, a));
        const other = decapsulated(frames, family, (f) => surrounded(f, RX_OFFSET, b, true));
        const { b: _b1, w: _w1, ...x } = one;
        const { b: _b2, w: _w2, ...y } = other;
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('decides the same for a datagram at the very end of its buffer', () => {
    fc.assert(
      fc.property(batches, fc.integer(), ({ family, frames }, seed) => {
        const frame = [frames[0]];
        const { b: _b1, w: _w1, ...x } = decapsulated(frame, family, (f) => atEnd(f[0], RX_OFFSET, seed));
        const { b: _b2, w: _w2, ...y } = decapsulated(frame, family, (f) => surrounded(f, RX_OFFSET, seed));
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('forwards or counts every datagram, and forwards only whole IP packets inside it', () => {
    fc.assert(
      fc.property(batches, fc.integer(), ({ family, frames }, seed) => {
        const { out, b, w } = decapsulated(frames, family, (f) => surrounded(f, RX_OFFSET, seed));
        const n = frames.length;
        const perReason = DROP_REASONS.map((_, r) => Array.from(b.verdicts.subarray(0, n)).filter((v) => v === r).length);
        expect(perReason).toEqual(DROP_REASONS.map((_, r) => w.block[r]));
        const forwarded = Array.from(b.verdicts.subarray(0, n)).filter((v) => v === FORWARDED).length;
        expect(forwarded).toBe(out);
        expect(forwarded + perReason.reduce((s, c) => s + c, 0)).toBe(n);
        let k = 0;
        for (let i = 0; i < n; i++) {
          if (b.verdicts[i] !== FORWARDED) continue;
          const off = b.outOffsets[k];
          const len = b.outLengths[k++];
          expect(off).toBe(i * b.slotSize + HEADROOM);
          expect(len).toBeLessThanOrEqual(frames[i].size - ENCAP_LEN);
          const v4 = validateIpv4(b.slab, off, len) === IPV4_OK && ipv4TotalLength(b.slab, off) === len;
          const v6 = validateIpv6(b.slab, off, len) === IPV6_OK && IPV6_HEADER_LEN + ipv6PayloadLength(b.slab, off) === len;
          expect(v4 || v6).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('forwards a packet only when its inner source is an address of the peer that sent it', () => {
    fc.assert(
      fc.property(batches, fc.integer(), ({ family, frames }, seed) => {
        const { b } = decapsulated(frames, family, (f) => surrounded(f, RX_OFFSET, seed));
        let k = 0;
        for (let i = 0; i < frames.length; i++) {
          if (b.verdicts[i] !== FORWARDED) continue;
          const sender = b.peerOf[i] === PEER_B ? B : b.peerOf[i] === PEER_C ? C : undefined;
          expect(sender).toBeDefined();
          expect(sourceOfNode(sender!, b.slab, b.outOffsets[k++])).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
