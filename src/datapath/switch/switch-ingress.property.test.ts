// acceptFrames (peers → TAP) and the proxy's learning over hostile datagrams (random bytes, and
// valid VXLAN datagrams of Ethernet frames with IPv4, IPv6, ND and ARP corrupted where parsers
// look): it never throws, reads nothing outside each datagram, and forwards or counts every one;
// what it forwards is the whole frame, its source learned behind the sending peer.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atEnd, frameSpan, framesOf, fillings, outputSpan, surrounded, type Frame } from '../../../test/batch-surroundings.js';
import { ethernetFrame, hostile, vxlanDatagram } from '../../../test/packet-arbitraries.js';
import { propertyRuns } from '../../../test/property-runs.js';
import { A, B, C, NOW, addressWords, switchWorld } from '../../../test/stage-worlds.js';
import { ETH_HEADER_LEN, HEADROOM, VXLAN_HEADER_LEN } from '../../packet/constants.js';
import { DROP_REASONS } from '../drop-reasons.js';
import { FORWARDED, type PacketBatch } from '../packet-batch.js';
import { acceptFrames, RX_OFFSET_L2 } from './switch-ingress.js';

const BATCH = 8;
const SOURCES = { 4: [addressWords(B.underlayV4!), addressWords(A.underlayV4!), addressWords('192.0.2.99')], 6: [addressWords(C.underlayV6!), addressWords('2001:db8::99')] };
const datagrams = hostile(vxlanDatagram(ethernetFrame));
const batches = fc.constantFrom(4 as const, 6 as const).chain((family) => fc.record({ family: fc.constant(family), frames: framesOf(datagrams, SOURCES[family], BATCH) }));

/** Everything acceptFrames decides and writes (and learns), for a batch placed by `place`. */
function accepted(frames: Frame[], family: 4 | 6, place: (frames: Frame[]) => PacketBatch) {
  const b = place(frames);
  const w = switchWorld(BATCH, b.slab);
  const out = acceptFrames(b, frames.length, w.ingress, family);
  const n = frames.length;
  return {
    out,
    verdicts: Array.from(b.verdicts.subarray(0, n)),
    peers: Array.from(b.peerOf.subarray(0, n)),
    counters: Array.from(w.block),
    outputs: Array.from({ length: out }, (_, k) => outputSpan(b, b.outOffsets[k], b.outLengths[k])),
    fdb: w.fdb.entries(NOW),
    neighbours: w.proxy.neighbours.entries(NOW),
    frames: frames.map((f, i) => frameSpan(b, i, RX_OFFSET_L2, RX_OFFSET_L2, f)),
    b,
    w,
  };
}

const RUNS = propertyRuns(3000);

describe('switch ingress, property-based', () => {
  it('decides, writes and learns the same whatever surrounds the datagrams (no read outside them)', () => {
    fc.assert(
      fc.property(batches, fillings, ({ family, frames }, [a, b]) => {
        const { b: _b1, w: _w1, ...x } = accepted(frames, family, (f) => surrounded(f, RX_OFFSET_L2, a));
        const { b: _b2, w: _w2, ...y } = accepted(frames, family, (f) => surrounded(f, RX_OFFSET_L2, b, true));
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('decides the same for a datagram at the very end of its buffer', () => {
    fc.assert(
      fc.property(batches, fc.integer(), ({ family, frames }, seed) => {
        const frame = [frames[0]];
        const { b: _b1, w: _w1, ...x } = accepted(frame, family, (f) => atEnd(f[0], RX_OFFSET_L2, seed));
        const { b: _b2, w: _w2, ...y } = accepted(frame, family, (f) => surrounded(f, RX_OFFSET_L2, seed));
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('forwards or counts every datagram; forwards whole frames and learns their source behind the peer', () => {
    fc.assert(
      fc.property(batches, fc.integer(), ({ family, frames }, seed) => {
        const { out, b, w } = accepted(frames, family, (f) => surrounded(f, RX_OFFSET_L2, seed));
        const n = frames.length;
        const verdicts = Array.from(b.verdicts.subarray(0, n));
        const perReason = DROP_REASONS.map((_, r) => verdicts.filter((v) => v === r).length);
        expect(perReason).toEqual(DROP_REASONS.map((_, r) => w.block[r]));
        const forwarded = verdicts.filter((v) => v === FORWARDED).length;
        expect(forwarded).toBe(out);
        expect(forwarded + perReason.reduce((s, c) => s + c, 0)).toBe(n);
        let k = 0;
        for (let i = 0; i < n; i++) {
          if (b.verdicts[i] !== FORWARDED) continue;
          const off = b.outOffsets[k];
          const len = b.outLengths[k++];
          expect(off).toBe(i * b.slotSize + HEADROOM);
          expect(len).toBe(frames[i].size - VXLAN_HEADER_LEN);
          expect(len).toBeGreaterThanOrEqual(ETH_HEADER_LEN);
          expect(len).toBeLessThanOrEqual(w.ingress.maxFrame);
          expect(b.slab.subarray(off, off + len).equals(frames[i].bytes.subarray(VXLAN_HEADER_LEN))).toBe(true);
          expect(w.fdb.lookup(b.slab, off + 6)).toBe(b.peerOf[i]);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
