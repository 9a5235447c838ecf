// The packet trace in a SharedArrayBuffer: the main thread switches sampling on and sets its
// filter in the control words; each worker, only while it is on, copies the first bytes of the
// sampled packets of a batch, with the verdict, into its own ring. Off, it costs a worker one
// Atomics.load per batch. The main thread drains the rings; an entry overwritten before it was
// read is counted as lost, never returned torn: its sequence word names the entry's position
// while it is written and the next one when it is whole, and every word of it is written and read
// with Atomics (the JS memory model orders only those around the sequence checks).
//
// Positions count modulo 2^32 in Int32 words and are compared by their difference, so the ring
// runs on past 2^31 and 2^32 entries; a position's slot is its low bits (RING_ENTRIES divides 2^32).
import type { PacketBatch } from './packet-batch.js';

const CONTROL_WORDS = 8;
const Control = Object.freeze({ enabled: 0, dropsOnly: 1, peer: 2, every: 3 });

export const RING_ENTRIES = 256; // a power of two
/** Bytes of each packet kept: enough for the VXLAN, Ethernet, IP and transport headers. */
export const CAPTURE_BYTES = 128;
// Entry, in Int32 words: seq, direction, verdict, peer, length, captured; the time, a Float64
// in two words; the datagram's source address (received packets only); the deciding policy
// (PacketBatch.policyOf); the packets the slot stands for (PacketBatch.packetsOf); then the bytes
// captured, four to a word, the first in the low byte.
const E_SEQ = 0;
const E_DIRECTION = 1;
const E_VERDICT = 2;
const E_PEER = 3;
const E_LENGTH = 4;
const E_CAPTURED = 5;
const E_TIME = 6; // 2 words
const E_SOURCE = 8; // 4 words
const E_POLICY = 12;
const E_SEGMENTS = 13;
const E_BYTES = 14;
const ENTRY_WORDS = E_BYTES + CAPTURE_BYTES / 4;
const ENTRY_BYTES = ENTRY_WORDS * 4;
const RING_HEADER_BYTES = 64; // the head counter, alone on its cache line
const RING_BYTES = RING_HEADER_BYTES + RING_ENTRIES * ENTRY_BYTES;
const CONTROL_BYTES = 64;

export interface TraceFilter {
  dropsOnly: boolean;
  /** Peer node id, or -1 for every packet. */
  peer: number;
  /** Keep one packet in this many that pass the filter. */
  every: number;
}

export interface TraceEntry {
  worker: number;
  /** 0: read from the TUN (toward a peer); 1: received from a peer (toward the TUN). */
  direction: number;
  /** FORWARDED, ANSWERED (packet-batch.ts), or the drop reason's index (≥ 0). */
  verdict: number;
  peer: number;
  /** The packet's whole length; `bytes` holds its first CAPTURE_BYTES at most. */
  length: number;
  time: number;
  /** Source address words of a received datagram (an IPv4 address is word 0), else zeros. */
  source: Uint32Array;
  /** Index of the NetworkPolicy that decided the packet's connection; -1: none. */
  policy: number;
  /** 1, or the segments of a whole TSO packet or run the slot stood for: `length` and `bytes` are then its first segment's. */
  segments: number;
  bytes: Buffer;
}

/** The rings of `workers` workers; the first entry of each gets position `firstPosition` (tests start near a wrap). */
export function allocateTrace(workers: number, firstPosition = 0): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(CONTROL_BYTES + workers * RING_BYTES);
  for (let w = 0; w < workers; w++) new Int32Array(sab, CONTROL_BYTES + w * RING_BYTES, 1)[0] = firstPosition;
  return sab;
}

/** The first word of the entry at `position` in a worker's ring. */
function entryWord(worker: number, position: number): number {
  return (CONTROL_BYTES + worker * RING_BYTES + RING_HEADER_BYTES + (position & (RING_ENTRIES - 1)) * ENTRY_BYTES) >> 2;
}

/** A Float64 as two Int32 words, for Atomics: the same 8 bytes seen both ways. */
class TimeWords {
  readonly float = new Float64Array(1);
  readonly words = new Int32Array(this.float.buffer);
}

/** A worker's side: its ring, written while the main thread has tracing on. */
export class TraceWriter {
  private readonly control: Int32Array;
  private readonly words: Int32Array;
  private readonly headAt: number;
  private readonly time = new TimeWords();
  private next: number;
  private skip = 0;

  constructor(
    sab: SharedArrayBuffer,
    private readonly worker: number,
  ) {
    this.control = new Int32Array(sab, 0, CONTROL_WORDS);
    this.words = new Int32Array(sab);
    this.headAt = (CONTROL_BYTES + worker * RING_BYTES) >> 2;
    this.next = Atomics.load(this.words, this.headAt);
  }

  /** The one check on the hot path. */
  enabled(): boolean {
    return Atomics.load(this.control, Control.enabled) !== 0;
  }

  /**
   * Samples the `n` packets of batch `b`; packet i's bytes start at i * slotSize + `at` and are
   * `before` bytes longer than sizes[i] says (a header written in front of what was read).
   */
  record(b: PacketBatch, n: number, direction: number, at: number, now: number, before = 0): void {
    const dropsOnly = Atomics.load(this.control, Control.dropsOnly) !== 0;
    const peer = Atomics.load(this.control, Control.peer);
    const every = Math.max(1, Atomics.load(this.control, Control.every));
    const words = this.words;
    this.time.float[0] = now;
    for (let i = 0; i < n; i++) {
      if (dropsOnly && b.verdicts[i] < 0) continue;
      if (peer >= 0 && b.peerOf[i] !== peer) continue;
      if (++this.skip < every) continue;
      this.skip = 0;
      const length = b.sizes[i] < 0 ? 0 : b.sizes[i] + before;
      const captured = Math.min(length, CAPTURE_BYTES);
      const w = entryWord(this.worker, this.next);
      const done = (this.next + 1) | 0;
      Atomics.store(words, w + E_SEQ, this.next); // being written: no reader takes it for a whole entry
      Atomics.store(words, w + E_DIRECTION, direction);
      Atomics.store(words, w + E_VERDICT, b.verdicts[i]);
      Atomics.store(words, w + E_PEER, b.peerOf[i]);
      Atomics.store(words, w + E_LENGTH, b.sizes[i] < 0 ? b.sizes[i] : length);
      Atomics.store(words, w + E_CAPTURED, captured);
      Atomics.store(words, w + E_TIME, this.time.words[0]);
      Atomics.store(words, w + E_TIME + 1, this.time.words[1]);
      for (let k = 0; k < 4; k++) Atomics.store(words, w + E_SOURCE + k, direction === 0 ? 0 : b.addrs[i * 4 + k]);
      Atomics.store(words, w + E_POLICY, b.policyOf[i]);
      Atomics.store(words, w + E_SEGMENTS, b.packetsOf(i));
      const from = i * b.slotSize + at;
      for (let k = 0; k < captured; k += 4) {
        let packed = 0;
        for (let j = 0; j < 4 && k + j < captured; j++) packed |= b.slab[from + k + j] << (8 * j);
        Atomics.store(words, w + E_BYTES + (k >> 2), packed);
      }
      Atomics.store(words, w + E_SEQ, done);
      Atomics.store(words, this.headAt, done);
      this.next = done;
    }
  }
}

/** The main thread's side: switches tracing on and off and drains every worker's ring. */
export class TraceReader {
  private readonly control: Int32Array;
  private readonly words: Int32Array;
  /** Per worker: the position of the next entry to read. */
  private readonly tails: number[];
  /** Entries overwritten before they were read. */
  lost = 0;

  constructor(
    sab: SharedArrayBuffer,
    private readonly workers: number,
  ) {
    this.control = new Int32Array(sab, 0, CONTROL_WORDS);
    this.words = new Int32Array(sab);
    this.tails = Array.from({ length: workers }, (_, w) => this.headOf(w));
  }

  get active(): boolean {
    return Atomics.load(this.control, Control.enabled) !== 0;
  }

  start(filter: TraceFilter): void {
    for (let w = 0; w < this.workers; w++) this.tails[w] = this.headOf(w); // only what comes from now on
    this.lost = 0;
    Atomics.store(this.control, Control.dropsOnly, filter.dropsOnly ? 1 : 0);
    Atomics.store(this.control, Control.peer, filter.peer);
    Atomics.store(this.control, Control.every, filter.every);
    Atomics.store(this.control, Control.enabled, 1);
  }

  stop(): void {
    Atomics.store(this.control, Control.enabled, 0);
  }

  /** Every entry written since the last drain, oldest first per worker. */
  drain(): TraceEntry[] {
    const out: TraceEntry[] = [];
    const time = new TimeWords();
    const words = this.words;
    for (let worker = 0; worker < this.workers; worker++) {
      const head = this.headOf(worker);
      let tail = this.tails[worker];
      let pending = (head - tail) | 0;
      if (pending > RING_ENTRIES) {
        this.lost += pending - RING_ENTRIES;
        tail = (head - RING_ENTRIES) | 0;
        pending = RING_ENTRIES;
      }
      for (; pending > 0; pending--, tail = (tail + 1) | 0) {
        const w = entryWord(worker, tail);
        const done = (tail + 1) | 0;
        if (Atomics.load(words, w + E_SEQ) !== done) {
          this.lost++;
          continue;
        }
        const captured = Math.min(Math.max(0, Atomics.load(words, w + E_CAPTURED)), CAPTURE_BYTES);
        time.words[0] = Atomics.load(words, w + E_TIME);
        time.words[1] = Atomics.load(words, w + E_TIME + 1);
        const source = new Uint32Array(4);
        for (let k = 0; k < 4; k++) source[k] = Atomics.load(words, w + E_SOURCE + k);
        const bytes = Buffer.alloc(captured);
        for (let k = 0; k < captured; k++) bytes[k] = Atomics.load(words, w + E_BYTES + (k >> 2)) >>> (8 * (k & 3));
        const e: TraceEntry = {
          worker,
          direction: Atomics.load(words, w + E_DIRECTION),
          verdict: Atomics.load(words, w + E_VERDICT),
          peer: Atomics.load(words, w + E_PEER),
          length: Atomics.load(words, w + E_LENGTH),
          time: time.float[0],
          source,
          policy: Atomics.load(words, w + E_POLICY) - 1,
          segments: Atomics.load(words, w + E_SEGMENTS),
          bytes,
        };
        if (Atomics.load(words, w + E_SEQ) !== done) this.lost++; // overwritten while we copied
        else out.push(e);
      }
      this.tails[worker] = head;
    }
    return out.sort((a, b) => a.time - b.time);
  }

  private headOf(worker: number): number {
    return Atomics.load(this.words, (CONTROL_BYTES + worker * RING_BYTES) >> 2);
  }
}
