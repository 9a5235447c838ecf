// Packet counters in a SharedArrayBuffer: each worker writes only its own block, the main thread
// sums the blocks when asked. Float64 slots: exact up to 2^53, no BigInt allocation, no locks.
//
// A block: one slot per drop reason, then per direction (TUN reads, UDP receives) the batch and
// packet counts and a batch-size histogram, the worker's memory gauges, switch mode's events,
// then per peer node its tx/rx packets and bytes and the time a datagram from it was last accepted.
import { DROP_REASONS } from './drop-reasons.js';

/** Which side a batch came from. */
export const Direction = Object.freeze({ tun: 0, udp: 1 });
export type DirectionName = keyof typeof Direction;
export const DIRECTIONS = Object.keys(Direction) as DirectionName[];

/** Batch-size buckets by powers of two: 1, 2–3, 4–7, …, 256–511 (kMaxBatch is 256). */
export const BATCH_BUCKETS = 9;
/** Largest batch size of bucket i: what Prometheus calls its `le`. */
export const bucketUpperBound = (i: number): number => 2 ** (i + 1) - 1;

const DIRECTION_SLOTS = 2 + BATCH_BUCKETS;
/** Offsets within a direction's slots. */
export const DirectionSlot = Object.freeze({ batches: 0, packets: 1, histogram: 2 });
const DIRECTIONS_AT = DROP_REASONS.length;
/**
 * Per-worker gauges, refreshed about once a second: its V8 heap in use and its garbage
 * collections so far; the write syscalls it made to the TUN (fewer than packets written when
 * TCP segments are coalesced); the TCP packets of up to 64 KiB it read from the TUN and cut.
 */
const WORKER_AT = DIRECTIONS_AT + DIRECTIONS.length * DIRECTION_SLOTS;
export const WorkerSlot = Object.freeze({ heapUsed: WORKER_AT, gcs: WORKER_AT + 1, tunWrites: WORKER_AT + 2, tsoPackets: WORKER_AT + 3 });
/** Switch mode's events: frames flooded to every peer, ARP requests and neighbour solicitations answered by the proxy. */
export const EventSlot = Object.freeze({ floods: WORKER_AT + 4, proxiedArp: WORKER_AT + 5, proxiedNd: WORKER_AT + 6 });
const GLOBAL_SLOTS = EventSlot.proxiedNd + 1;

/** Per-peer slots. lastRx is a Date.now() in ms (0: never). */
export const PeerSlot = Object.freeze({ txPackets: 0, txBytes: 1, rxPackets: 2, rxBytes: 3, lastRx: 4 });
export const PEER_SLOTS = 5;

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

  directionSlot(direction: number, slot: number): number {
    return DIRECTIONS_AT + direction * DIRECTION_SLOTS + slot;
  }

  peerSlot(peerId: number, slot: number): number {
    return GLOBAL_SLOTS + peerId * PEER_SLOTS + slot;
  }
}

/** The worker's writer over its own block. */
export class ShardCounters {
  /** Date.now() of the batch being processed, set once per batch. */
  now = 0;

  constructor(
    private readonly c: Float64Array,
    private readonly layout: CounterLayout,
  ) {}

  /** The worker's heap and GC count, set by the shard about once a second. */
  memory(heapUsed: number, gcs: number): void {
    this.c[WorkerSlot.heapUsed] = heapUsed;
    this.c[WorkerSlot.gcs] = gcs;
  }

  /** Write syscalls made to the TUN, from the native call's count. */
  tunWrites(n: number): void {
    this.c[WorkerSlot.tunWrites] += n;
  }

  /** TSO packets read from the TUN and cut into segments. */
  tsoPackets(n: number): void {
    this.c[WorkerSlot.tsoPackets] += n;
  }

  /** One more of an EventSlot. */
  event(slot: number): void {
    this.c[slot]++;
  }

  drop(reason: number): void {
    this.c[reason]++;
  }

  dropMany(reason: number, n: number): void {
    this.c[reason] += n;
  }

  /** A batch of `n` (≥ 1) packets read from `direction`. */
  batch(direction: number, n: number): void {
    const at = this.layout.directionSlot(direction, 0);
    this.c[at + DirectionSlot.batches]++;
    this.c[at + DirectionSlot.packets] += n;
    this.c[at + DirectionSlot.histogram + Math.min(31 - Math.clz32(n), BATCH_BUCKETS - 1)]++;
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
    this.c[at + 2] = this.now;
  }
}
