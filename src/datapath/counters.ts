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
 * Per-worker gauges, refreshed about once a second: its V8 heap in use, its garbage
 * collections so far and its heap as committed (in the last slot: what the process's resident set carries); the write syscalls it made to the TUN (fewer than packets written when
 * TCP segments are coalesced); the TCP packets of up to 64 KiB it read from the TUN and cut, and
 * the UDP ones (USO, in the last slot); the inner checksums it finished for kernel peers that left them partial;
 * the TSO packets received from kernel peers and written to the TUN whole, one GSO write each;
 * the TSO packets of one of our pods to another (the same-node hairpin) written back to the TUN whole.
 */
const WORKER_AT = DIRECTIONS_AT + DIRECTIONS.length * DIRECTION_SLOTS;
export const WorkerSlot = Object.freeze({ heapUsed: WORKER_AT, gcs: WORKER_AT + 1, tunWrites: WORKER_AT + 2, tsoPackets: WORKER_AT + 3, checksumsFinished: WORKER_AT + 4, usoPackets: WORKER_AT + 8, heapCommitted: WORKER_AT + 9, wholeTsoWrites: WORKER_AT + 10, wholeHairpinWrites: WORKER_AT + 11 });
/** Switch mode's events: frames flooded to every peer, ARP requests and neighbour solicitations answered by the proxy. */
export const EventSlot = Object.freeze({ floods: WORKER_AT + 5, proxiedArp: WORKER_AT + 6, proxiedNd: WORKER_AT + 7 });
/**
 * Per underlay family, the worker's UDP socket: 1 when it has one, 1 while it sends UDP GSO, the
 * runs sent as one GSO message, and the runs resent one datagram at a time because the route
 * refused GSO (unsupported, EIO) or the run (too large for the route); the messages received whole
 * that held more than one datagram (UDP GRO buffers, unsegmented tunnel GSO packets).
 */
export const UdpSlot = Object.freeze({ socket: 0, gsoOn: 1, gsoRuns: 2, unsupportedRuns: 3, tooLargeRuns: 4, groBuffers: 5 });
const UDP_AT = WorkerSlot.wholeHairpinWrites + 1;
const UDP_SLOTS = 6;
export const udpSlot = (family: 4 | 6, slot: number): number => UDP_AT + (family === 4 ? 0 : UDP_SLOTS) + slot;
/** NetworkPolicy, per direction (Direction): new flows the policy allowed and denied. */
export const PolicySlot = Object.freeze({ newAllowed: 0, newDenied: 1 });
/**
 * Per underlay family, the tunnel-GSO send path: frames written to the egress TAP, the datagrams
 * they stand for, runs whose TAP write failed (sent as datagrams) and runs of ≥ 2 datagrams that
 * failed the check (sent as datagrams); of the frames, those that carried a pod's TSO packet read
 * whole (never cut), and such packets cut at the send instead (the path off, a failed write, unfit);
 * lone datagrams written through the TAP as they are.
 */
export const TunnelSlot = Object.freeze({ frames: 0, segments: 1, fallbacks: 2, unfit: 3, wholeFrames: 4, wholeCut: 5, singles: 6 });
const TUNNEL_AT = UDP_AT + 2 * UDP_SLOTS;
const TUNNEL_SLOTS = 7;
export const tunnelSlot = (family: 4 | 6, slot: number): number => TUNNEL_AT + (family === 4 ? 0 : TUNNEL_SLOTS) + slot;
const POLICY_AT = TUNNEL_AT + 2 * TUNNEL_SLOTS;
const POLICY_SLOTS = 2;
export const policySlot = (direction: number, slot: number): number => POLICY_AT + direction * POLICY_SLOTS + slot;
const GLOBAL_SLOTS = POLICY_AT + DIRECTIONS.length * POLICY_SLOTS;

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

  /** The worker's heap (in use, committed) and GC count, set by the shard about once a second. */
  memory(heapUsed: number, heapCommitted: number, gcs: number): void {
    this.c[WorkerSlot.heapUsed] = heapUsed;
    this.c[WorkerSlot.heapCommitted] = heapCommitted;
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

  /** TSO packets from kernel peers written to the TUN whole (one GSO write each), from the native call's count. */
  wholeTsoWrites(n: number): void {
    this.c[WorkerSlot.wholeTsoWrites] += n;
  }

  /** TSO packets read from the TUN, judged and written back to it whole (the same-node hairpin), from the native call's count. */
  wholeHairpinWrites(n: number): void {
    this.c[WorkerSlot.wholeHairpinWrites] += n;
  }

  /** The packets beyond one that whole TSO packets read from `direction` stand for: `batch` counted each as one. */
  morePackets(direction: number, n: number): void {
    this.c[this.layout.directionSlot(direction, 0) + DirectionSlot.packets] += n;
  }

  /** USO packets (a pod's UDP_SEGMENT sends) read from the TUN and cut into datagrams. */
  usoPackets(n: number): void {
    this.c[WorkerSlot.usoPackets] += n;
  }

  /** The worker's socket of `family` and whether it sends UDP GSO now. */
  udpGso(family: 4 | 6, on: boolean): void {
    this.c[udpSlot(family, UdpSlot.socket)] = 1;
    this.c[udpSlot(family, UdpSlot.gsoOn)] = on ? 1 : 0;
  }

  /** Runs sent as GSO messages, and runs resent one datagram at a time (refused as unsupported, or as too large). */
  udpRuns(family: 4 | 6, gso: number, unsupported: number, tooLarge: number): void {
    this.c[udpSlot(family, UdpSlot.gsoRuns)] += gso;
    this.c[udpSlot(family, UdpSlot.unsupportedRuns)] += unsupported;
    this.c[udpSlot(family, UdpSlot.tooLargeRuns)] += tooLarge;
  }

  /** Tunnel-GSO frames written, the datagrams they stand for, runs sent as datagrams after a failed write, and runs that did not fit a frame. */
  tunnelGso(family: 4 | 6, frames: number, segments: number, fallbacks: number, unfit: number, wholeFrames: number, wholeCut: number, singles: number): void {
    const at = tunnelSlot(family, 0);
    this.c[at + TunnelSlot.frames] += frames;
    this.c[at + TunnelSlot.segments] += segments;
    this.c[at + TunnelSlot.fallbacks] += fallbacks;
    this.c[at + TunnelSlot.unfit] += unfit;
    this.c[at + TunnelSlot.wholeFrames] += wholeFrames;
    this.c[at + TunnelSlot.wholeCut] += wholeCut;
    this.c[at + TunnelSlot.singles] += singles;
  }

  /** Messages received whole that held more than one datagram (cut, or an inner TSO packet left whole). */
  groBuffers(family: 4 | 6, n: number): void {
    this.c[udpSlot(family, UdpSlot.groBuffers)] += n;
  }

  /** Inner TCP/UDP checksums finished before the TUN write (a kernel peer sent only the pseudo-header sum). */
  checksumsFinished(n: number): void {
    this.c[WorkerSlot.checksumsFinished] += n;
  }

  /** A new flow read from `direction`, allowed or denied by the policy. */
  newFlow(direction: number, allowed: boolean): void {
    this.c[policySlot(direction, allowed ? PolicySlot.newAllowed : PolicySlot.newDenied)]++;
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

  /** `packets` to a peer (more than one: a whole TSO packet's segments), `bytes` of inner IP packets. */
  tx(peerId: number, bytes: number, packets = 1): void {
    const at = this.layout.peerSlot(peerId, PeerSlot.txPackets);
    this.c[at] += packets;
    this.c[at + 1] += bytes;
  }

  /** `packets` from a peer (more than one: a whole TSO packet's segments), `bytes` of inner IP packets. */
  rx(peerId: number, bytes: number, packets = 1): void {
    const at = this.layout.peerSlot(peerId, PeerSlot.rxPackets);
    this.c[at] += packets;
    this.c[at + 1] += bytes;
    this.c[at + 2] = this.now;
  }
}
