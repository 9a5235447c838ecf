// Packet counters in a SharedArrayBuffer: each worker writes only its own block, the main thread
// sums the blocks when asked. Float64 slots: exact up to 2^53, no BigInt allocation, no locks.
import { DROP_REASONS } from './drop-reasons.js';

/** Per-worker slots after the drop reasons. */
export const WorkerSlot = Object.freeze({
  tunBatches: DROP_REASONS.length,
  udpBatches: DROP_REASONS.length + 1,
});
const GLOBAL_SLOTS = DROP_REASONS.length + 2;

/** Per-peer slots. */
export const PeerSlot = Object.freeze({ txPackets: 0, txBytes: 1, rxPackets: 2, rxBytes: 3 });
const PEER_SLOTS = 4;

export class CounterLayout {
  readonly blockSlots: number;

  constructor(
    readonly workers: number,
    readonly maxPeers: number,
  ) {
    this.blockSlots = GLOBAL_SLOTS + maxPeers * PEER_SLOTS;
  }

  allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(this.workers * this.blockSlots * Float64Array.BYTES_PER_ELEMENT);
  }

  block(sab: SharedArrayBuffer, worker: number): Float64Array {
    return new Float64Array(sab, worker * this.blockSlots * Float64Array.BYTES_PER_ELEMENT, this.blockSlots);
  }

  peerSlot(peerId: number, slot: number): number {
    return GLOBAL_SLOTS + peerId * PEER_SLOTS + slot;
  }
}

/** The worker's writer over its own block. */
export class ShardCounters {
  constructor(
    private readonly c: Float64Array,
    private readonly layout: CounterLayout,
  ) {}

  drop(reason: number): void {
    this.c[reason]++;
  }

  dropMany(reason: number, n: number): void {
    this.c[reason] += n;
  }

  batch(slot: number): void {
    this.c[slot]++;
  }

  tx(peerId: number, bytes: number): void {
    const at = this.layout.peerSlot(peerId, PeerSlot.txPackets);
    this.c[at]++;
    this.c[at + 1] += bytes;
  }

  rx(peerId: number, bytes: number): void {
    const at = this.layout.peerSlot(peerId, PeerSlot.rxPackets);
    this.c[at]++;
    this.c[at + 1] += bytes;
  }
}
