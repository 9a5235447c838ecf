// The packet trace in a SharedArrayBuffer: the main thread switches sampling on and sets its
// filter in the control words; each worker, only while it is on, copies the first bytes of the
// sampled packets of a batch, with the verdict, into its own ring. Off, it costs a worker one
// Atomics.load per batch. The main thread drains the rings; an entry overwritten before it was
// read is counted as lost, never returned torn (its sequence word is cleared while it is written).
import type { PacketBatch } from './packet-batch.js';

const CONTROL_WORDS = 8;
const Control = Object.freeze({ enabled: 0, dropsOnly: 1, peer: 2, every: 3 });

export const RING_ENTRIES = 256;
/** Bytes of each packet kept: enough for the VXLAN, Ethernet, IP and transport headers. */
export const CAPTURE_BYTES = 128;
// Entry: Int32 words seq, direction, verdict, peer, length, captured; Float64 time at byte 24;
// the datagram's source address at words 8–11 (received packets only); then the bytes.
const E_SEQ = 0;
const E_DIRECTION = 1;
const E_VERDICT = 2;
const E_PEER = 3;
const E_LENGTH = 4;
const E_CAPTURED = 5;
const E_TIME_BYTE = 24;
const E_SOURCE = 8;
const E_BYTES = 48;
const ENTRY_BYTES = E_BYTES + CAPTURE_BYTES;
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
  bytes: Buffer;
}

export function allocateTrace(workers: number): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_BYTES + workers * RING_BYTES);
}

/** A worker's side: its ring, written while the main thread has tracing on. */
export class TraceWriter {
  private readonly control: Int32Array;
  private readonly head: Int32Array;
  private readonly words: Int32Array;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly ringAt: number;
  private next = 0;
  private skip = 0;

  constructor(sab: SharedArrayBuffer, worker: number) {
    this.control = new Int32Array(sab, 0, CONTROL_WORDS);
    this.ringAt = CONTROL_BYTES + worker * RING_BYTES;
    this.head = new Int32Array(sab, this.ringAt, 1);
    this.words = new Int32Array(sab);
    this.view = new DataView(sab);
    this.bytes = new Uint8Array(sab);
    this.next = Atomics.load(this.head, 0);
  }

  /** The one check on the hot path. */
  enabled(): boolean {
    return Atomics.load(this.control, Control.enabled) !== 0;
  }

  /** Samples the `n` packets of batch `b`; packet i's bytes start at i * slotSize + `at`. */
  record(b: PacketBatch, n: number, direction: number, at: number, now: number): void {
    const dropsOnly = Atomics.load(this.control, Control.dropsOnly) !== 0;
    const peer = Atomics.load(this.control, Control.peer);
    const every = Math.max(1, Atomics.load(this.control, Control.every));
    for (let i = 0; i < n; i++) {
      if (dropsOnly && b.verdicts[i] < 0) continue;
      if (peer >= 0 && b.peerOf[i] !== peer) continue;
      if (++this.skip < every) continue;
      this.skip = 0;
      const length = Math.max(0, b.sizes[i]);
      const captured = Math.min(length, CAPTURE_BYTES);
      const entry = this.ringAt + RING_HEADER_BYTES + (this.next % RING_ENTRIES) * ENTRY_BYTES;
      const w = entry >> 2;
      Atomics.store(this.words, w + E_SEQ, 0);
      this.words[w + E_DIRECTION] = direction;
      this.words[w + E_VERDICT] = b.verdicts[i];
      this.words[w + E_PEER] = b.peerOf[i];
      this.words[w + E_LENGTH] = b.sizes[i];
      this.words[w + E_CAPTURED] = captured;
      this.view.setFloat64(entry + E_TIME_BYTE, now, true);
      for (let k = 0; k < 4; k++) this.words[w + E_SOURCE + k] = direction === 0 ? 0 : b.addrs[i * 4 + k];
      const from = i * b.slotSize + at;
      b.slab.copy(this.bytes, entry + E_BYTES, from, from + captured);
      this.next++;
      Atomics.store(this.words, w + E_SEQ, this.next);
      Atomics.store(this.head, 0, this.next);
    }
  }
}

/** The main thread's side: switches tracing on and off and drains every worker's ring. */
export class TraceReader {
  private readonly control: Int32Array;
  private readonly words: Int32Array;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly tails: number[];
  /** Entries overwritten before they were read. */
  lost = 0;

  constructor(
    sab: SharedArrayBuffer,
    private readonly workers: number,
  ) {
    this.control = new Int32Array(sab, 0, CONTROL_WORDS);
    this.words = new Int32Array(sab);
    this.view = new DataView(sab);
    this.bytes = new Uint8Array(sab);
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
    for (let worker = 0; worker < this.workers; worker++) {
      const head = this.headOf(worker);
      let tail = this.tails[worker];
      if (head - tail > RING_ENTRIES) {
        this.lost += head - tail - RING_ENTRIES;
        tail = head - RING_ENTRIES;
      }
      for (; tail < head; tail++) {
        const entry = CONTROL_BYTES + worker * RING_BYTES + RING_HEADER_BYTES + (tail % RING_ENTRIES) * ENTRY_BYTES;
        const w = entry >> 2;
        if (Atomics.load(this.words, w + E_SEQ) !== tail + 1) {
          this.lost++;
          continue;
        }
        const captured = this.words[w + E_CAPTURED];
        const e: TraceEntry = {
          worker,
          direction: this.words[w + E_DIRECTION],
          verdict: this.words[w + E_VERDICT],
          peer: this.words[w + E_PEER],
          length: this.words[w + E_LENGTH],
          time: this.view.getFloat64(entry + E_TIME_BYTE, true),
          source: new Uint32Array(this.words.slice(w + E_SOURCE, w + E_SOURCE + 4)),
          bytes: Buffer.from(this.bytes.slice(entry + E_BYTES, entry + E_BYTES + captured)),
        };
        if (Atomics.load(this.words, w + E_SEQ) !== tail + 1) this.lost++; // overwritten while we copied
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
