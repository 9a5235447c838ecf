// Round trips between nodes: whatever one node's send stage puts on the wire, the receiving
// node's stage accepts and hands over byte for byte — router mode (encapsulate on A, decapsulate
// on B over IPv4 or on C over IPv6; what a pod of A could not have sent, the receiver counts as
// spoofed_source) and switch mode (egress on A, ingress on B or C).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { framesOf, surrounded, SLOT, type Frame } from '../../test/batch-surroundings.js';
import { ethernetFrame, hostile, ipPacket } from '../../test/packet-arbitraries.js';
import { propertyRuns } from '../../test/property-runs.js';
import { A, PEER_A, addressWords, routesOfB, routesOfC, sourceOfNode, switchWorld, worldOfA, worldOfB, worldOfC } from '../../test/stage-worlds.js';
import { HEADROOM } from '../packet/constants.js';
import { decapsulate, RX_OFFSET } from './decapsulate.js';
import { Drop } from './drop-reasons.js';
import { encapsulate } from './encapsulate.js';
import { FORWARDED, PacketBatch } from './packet-batch.js';
import { forwardFrames } from './switch/switch-egress.js';
import { acceptFrames, RX_OFFSET_L2 } from './switch/switch-ingress.js';

const BATCH = 8;
const NO_SOURCE = [new Uint32Array(4)];
const RUNS = propertyRuns(2000);

/** The datagrams of one output list, received into a batch of the peer at `rxOffset`, from A's underlay address of `family`. */
function received(slab: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, rxOffset: number, family: 4 | 6): PacketBatch {
  const rx = new PacketBatch(Math.max(count, 1), SLOT);
  const from = addressWords(family === 4 ? A.underlayV4! : A.underlayV6!);
  for (let k = 0; k < count; k++) {
    slab.copy(rx.slab, k * SLOT + rxOffset, offsets[k], offsets[k] + lengths[k]);
    rx.sizes[k] = lengths[k];
    rx.addrs.set(from, k * 4);
  }
  return rx;
}

/** The slab bytes of each entry of an output list. */
function spans(slab: Buffer, offsets: Int32Array, lengths: Int32Array, count: number): Buffer[] {
  return Array.from({ length: count }, (_, k) => slab.subarray(offsets[k], offsets[k] + lengths[k]));
}

/** The packet or frame that was read into the slot where the send stage's output entry `off` lies. */
const sourceOf = (frames: Frame[], off: number): Buffer => frames[Math.floor(off / SLOT)].bytes;

describe('round trips, property-based', () => {
  it('router mode: what A encapsulates from its own pods, B and C decapsulate to the same bytes', () => {
    fc.assert(
      fc.property(framesOf(hostile(ipPacket), NO_SOURCE, BATCH), fc.integer(), (frames, seed) => {
        const tx = surrounded(frames, HEADROOM, seed);
        const out = encapsulate(tx, frames.length, worldOfA(BATCH));
        for (const [family, count, offsets, lengths, receiver] of [[4, out, tx.outOffsets, tx.outLengths, worldOfB(BATCH)], [6, tx.out6, tx.outOffsets6, tx.outLengths6, worldOfC(BATCH)]] as const) {
          const fromA = Array.from({ length: count }, (_, k) => sourceOfNode(A, sourceOf(frames, offsets[k]), 0));
          const rx = received(tx.slab, offsets, lengths, count, RX_OFFSET, family);
          const delivered = decapsulate(rx, count, receiver, family);
          expect(delivered).toBe(fromA.filter(Boolean).length);
          expect(receiver.block[Drop.spoofed_source]).toBe(count - delivered);
          const inner = spans(rx.slab, rx.outOffsets, rx.outLengths, delivered);
          let j = 0;
          for (let k = 0; k < count; k++) {
            expect(rx.peerOf[k]).toBe(PEER_A);
            if (!fromA[k]) continue;
            const sent = sourceOf(frames, offsets[k]);
            expect(inner[j].equals(sent.subarray(0, inner[j].length))).toBe(true);
            j++;
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('switch mode: what A sends to B and C, they hand to their bridge as the same frame', () => {
    fc.assert(
      fc.property(framesOf(hostile(ethernetFrame), NO_SOURCE, BATCH), fc.integer(), (frames, seed) => {
        const tx = surrounded(frames, HEADROOM, seed);
        const a = switchWorld(BATCH, tx.slab);
        forwardFrames(tx, frames.length, a.egress);
        for (const [family, list, table] of [[4, a.send4, routesOfB()], [6, a.send6, routesOfC()]] as const) {
          const rx = received(tx.slab, list.offsets, list.lengths, list.count, RX_OFFSET_L2, family);
          const receiver = switchWorld(BATCH, rx.slab, undefined, table);
          expect(acceptFrames(rx, list.count, receiver.ingress, family)).toBe(list.count);
          const delivered = spans(rx.slab, rx.outOffsets, rx.outLengths, list.count);
          for (let k = 0; k < list.count; k++) {
            expect(delivered[k].equals(sourceOf(frames, list.offsets[k]))).toBe(true);
            expect(rx.verdicts[k]).toBe(FORWARDED);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});
