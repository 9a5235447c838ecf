// Batches for the differential "no read outside the frame" property. Reading past a packet is
// not observable in JavaScript (a Buffer is bigger than the packet in it), so each stage runs on
// the same frames twice, surrounded by noise and by what was cut off them, and must decide and
// write the same; and once with the frame at the very end of its buffer, where a read past it
// yields undefined or throws. Every per-slot array a stage fills is filled with leftovers first,
// as a previous batch leaves it.
import fc from 'fast-check';
import { DROP_REASONS } from '../src/datapath/drop-reasons.js';
import { ANSWERED, PacketBatch } from '../src/datapath/packet-batch.js';
import { seededBytes, tailOf } from './packet-arbitraries.js';

/** A slot bigger than any generated frame and its headroom. */
export const SLOT = 2048;

export interface Frame {
  bytes: Buffer;
  /** What the read reports; -1: too large for the slot. Defaults to the length. */
  size: number;
  /** The datagram's source address words (recvBatch's addrs). */
  addr: Uint32Array;
}

/** Frames whose sizes are mostly their lengths, sometimes -1 (a datagram larger than the slot). */
export function framesOf(bytes: fc.Arbitrary<Buffer>, addrs: readonly Uint32Array[], maxLength: number): fc.Arbitrary<Frame[]> {
  const frame = fc.record({ bytes, oversized: fc.oneof({ weight: 30, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), addr: fc.constantFrom(...addrs) });
  return fc.array(frame.map((f) => ({ bytes: f.bytes, size: f.oversized ? -1 : f.bytes.length, addr: f.addr })), { minLength: 1, maxLength });
}

/** Two different fillings for the bytes around the frames. */
export const fillings = fc.tuple(fc.integer(), fc.integer()).filter(([a, b]) => (a | 1) !== (b | 1));

/**
 * A batch holding `frames` at `at` in their slots, every other byte from `seed`; `continued`: a
 * frame that was cut short is followed by the bytes cut off it, so that a read past its end
 * finds a plausible packet rather than noise.
 */
export function surrounded(frames: readonly Frame[], at: number, seed: number, continued = false): PacketBatch {
  const b = new PacketBatch(frames.length, SLOT);
  b.slab.fill(seededBytes(256, seed));
  leftovers(b, seed);
  frames.forEach((f, i) => {
    put(b, i, f, at);
    const tail = continued ? tailOf(f.bytes) : undefined;
    const end = i * b.slotSize + at + f.bytes.length;
    tail?.copy(b.slab, end, 0, Math.min(tail.length, (i + 1) * b.slotSize - end));
  });
  return b;
}

/** A batch of one slot that ends where `frame` ends. */
export function atEnd(frame: Frame, at: number, seed: number): PacketBatch {
  const b = new PacketBatch(1, at + frame.bytes.length);
  seededBytes(b.slab.length, seed).copy(b.slab);
  leftovers(b, seed);
  put(b, 0, frame, at);
  return b;
}

function put(b: PacketBatch, i: number, f: Frame, at: number): void {
  f.bytes.copy(b.slab, i * b.slotSize + at);
  b.sizes[i] = f.size;
  b.addrs.set(f.addr, i * 4);
}

/** What a previous batch leaves in the arrays a stage fills: verdicts and peers as a stage writes them. */
function leftovers(b: PacketBatch, seed: number): void {
  const junk = seededBytes(b.capacity, seed ^ 0x5bd1e995);
  for (let k = 0; k < b.capacity; k++) {
    b.verdicts[k] = (junk[k] % (DROP_REASONS.length + 2)) + ANSWERED;
    b.peerOf[k] = (junk[k] & 3) - 1;
    b.outOffsets[k] = b.outLengths[k] = b.outOffsets6[k] = b.outLengths6[k] = junk[k] * 8;
  }
  b.out6 = junk[0];
}

/** The bytes of slot i from `from` to the frame's end: the frame and the headers a stage writes before it. */
export function frameSpan(b: PacketBatch, i: number, from: number, at: number, frame: Frame): string {
  const base = i * b.slotSize;
  return b.slab.toString('hex', base + from, base + at + frame.bytes.length);
}

/** Slab bytes of an output list entry, with where it lies relative to its slot. */
export function outputSpan(b: PacketBatch, off: number, len: number): string {
  return `${off % b.slotSize}+${len}:${b.slab.toString('hex', off, off + len)}`;
}
