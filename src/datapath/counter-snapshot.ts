// The main thread's reader of the counter blocks: sums every worker's block into one view at the
// moment someone asks. It never writes a block (each worker writes only its own): a peer id given
// to a new node starts from zero because the reader subtracts what the id had counted until then.
import { BATCH_BUCKETS, CounterLayout, Direction, DIRECTIONS, DirectionSlot, EventSlot, PEER_SLOTS, PeerSlot, PolicySlot, policySlot, TunnelSlot, tunnelSlot, UdpSlot, udpSlot, WorkerSlot, type DirectionName } from './counters.js';
import { DROP_REASONS, type DropReason } from './drop-reasons.js';
import type { PeerIds } from './peer-ids.js';
import type { ConntrackStats } from './policy/conntrack.js';
import type { FdbStats } from './switch/fdb.js';

export interface PeerCounters {
  name: string;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** When a datagram from this peer was last accepted (ms since the epoch), or null. */
  lastSeen: number | null;
}

export interface BatchCounters {
  batches: number;
  packets: number;
  /** Batches by size: [1], [2, 3], [4, 7], … (see bucketUpperBound). */
  sizes: number[];
}

export interface WorkerCounters {
  index: number;
  tun: BatchCounters;
  udp: BatchCounters;
  /** The worker's V8 heap in use (bytes) and its garbage collections since start, as of its last update (≈ 1 s). */
  heapUsed: number;
  /** The worker's V8 heap as committed (bytes, what its share of the resident set is), as of its last update. */
  heapCommitted: number;
  gcs: number;
  /** Write syscalls to the TUN: fewer than the packets written while TCP segments are coalesced. */
  tunWrites: number;
  /** TCP packets of up to 64 KiB read from the TUN (TSO) and cut into segments. */
  tsoPackets: number;
  /** UDP packets of up to 64 KiB read from the TUN (USO: a pod's UDP_SEGMENT send) and cut into datagrams. */
  usoPackets: number;
  /** Inner TCP/UDP checksums finished before the TUN write: a kernel peer left them partial. */
  checksumsFinished: number;
  /** TSO packets received from kernel peers and written to the TUN whole, one GSO write each (not cut). */
  wholeTsoWrites: number;
  /** TSO packets of one of our pods to another (the same-node hairpin) written back to the TUN whole, one GSO write each (not cut). */
  wholeHairpinWrites: number;
}

/** One underlay family's UDP sockets (one per worker), summed. */
export interface UdpFamilyCounters {
  family: 4 | 6;
  sockets: number;
  /** Sockets that send UDP GSO now. */
  gsoOn: number;
  /** Runs of datagrams sent as one GSO message. */
  gsoRuns: number;
  /** Runs resent one datagram at a time: the route cannot segment (EIO), or the run is too large for it. */
  unsupportedRuns: number;
  tooLargeRuns: number;
  /** Messages received whole that held more than one datagram: UDP GRO buffers, unsegmented tunnel GSO packets (cut, or left whole). */
  groBuffers: number;
  /** The tunnel-GSO send path: frames written to the egress TAP, the datagrams they stand for, runs sent as datagrams after a failed write, runs that did not fit a frame; frames that carried a pod's TSO packet read whole, such packets cut at the send instead, and lone datagrams written through the TAP as they are. */
  tunnelGso?: { frames: number; segments: number; fallbacks: number; unfit: number; wholeFrames: number; wholeCut: number; singles: number };
}

export interface CounterSnapshot {
  /** When the snapshot was taken (ms since the epoch). */
  at: number;
  peers: PeerCounters[];
  drops: Record<DropReason, number>;
  workers: WorkerCounters[];
  /** The underlay families we have sockets for. */
  udp: UdpFamilyCounters[];
  /** Switch mode only: frames flooded, requests the ARP/ND proxy answered, and the FDB's statistics. */
  switch?: SwitchCounters;
  /** With NetworkPolicy on: new flows per direction and verdict, and the connection table's statistics. */
  policy?: PolicyCounters;
}

export interface PolicyCounters {
  newFlows: Record<DirectionName, { allowed: number; denied: number }>;
  conntrack: ConntrackStats;
}

export interface SwitchCounters {
  floods: number;
  proxiedArp: number;
  proxiedNd: number;
  fdb: FdbStats;
}

export class CounterReader {
  private readonly blocks: Float64Array[];
  /** Per reused peer id: each worker's peer slots as they were when the id changed hands. */
  private readonly baselines = new Map<number, Float64Array>();

  constructor(private readonly layout: CounterLayout, sab: SharedArrayBuffer) {
    this.blocks = Array.from({ length: layout.workers }, (_, w) => layout.block(sab, w));
  }

  /** Counts a reused peer id from zero again (the id's old owner has left the table). */
  resetPeer(peerId: number): void {
    const baseline = new Float64Array(this.layout.workers * PEER_SLOTS);
    const at = this.layout.peerSlot(peerId, 0);
    this.blocks.forEach((b, w) => baseline.set(b.subarray(at, at + PEER_SLOTS), w * PEER_SLOTS));
    this.baselines.set(peerId, baseline);
  }

  /**
   * One peer id's counters since it was given to its node, written into `into` (nothing is
   * allocated: /debug/peers reads thousands of peers through one row).
   */
  readPeer(id: number, into: PeerCounters): PeerCounters {
    const at = this.layout.peerSlot(id, 0);
    const baseline = this.baselines.get(id);
    let txPackets = 0;
    let txBytes = 0;
    let rxPackets = 0;
    let rxBytes = 0;
    let lastRx = 0;
    for (let w = 0; w < this.blocks.length; w++) {
      const b = this.blocks[w];
      const base = w * PEER_SLOTS;
      txPackets += b[at + PeerSlot.txPackets] - (baseline?.[base + PeerSlot.txPackets] ?? 0);
      txBytes += b[at + PeerSlot.txBytes] - (baseline?.[base + PeerSlot.txBytes] ?? 0);
      rxPackets += b[at + PeerSlot.rxPackets] - (baseline?.[base + PeerSlot.rxPackets] ?? 0);
      rxBytes += b[at + PeerSlot.rxBytes] - (baseline?.[base + PeerSlot.rxBytes] ?? 0);
      // A time is the id's new owner's once it differs from the one it had when the id changed hands.
      const rx = b[at + PeerSlot.lastRx];
      if (rx !== baseline?.[base + PeerSlot.lastRx] && rx > lastRx) lastRx = rx;
    }
    into.txPackets = txPackets;
    into.txBytes = txBytes;
    into.rxPackets = rxPackets;
    into.rxBytes = rxBytes;
    into.lastSeen = lastRx > 0 ? lastRx : null;
    return into;
  }

  /** Every counter; `peers` undefined leaves the per-peer rows empty. */
  snapshot(peers: PeerIds | undefined, fdb?: FdbStats, conntrack?: ConntrackStats): CounterSnapshot {
    const { layout, blocks } = this;
    const sum = (slot: number): number => blocks.reduce((acc, b) => acc + b[slot], 0);
    const drops = Object.fromEntries(DROP_REASONS.map((r, i) => [r, sum(i)])) as Record<DropReason, number>;
    const peerRows: PeerCounters[] = [];
    for (const [name, id] of peers?.entries() ?? []) peerRows.push(this.readPeer(id, { name, txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, lastSeen: null }));
    peerRows.sort((a, b) => (a.name < b.name ? -1 : 1));
    const direction = (b: Float64Array, d: DirectionName): BatchCounters => {
      const at = layout.directionSlot(Direction[d], 0);
      return {
        batches: b[at + DirectionSlot.batches],
        packets: b[at + DirectionSlot.packets],
        sizes: Array.from(b.subarray(at + DirectionSlot.histogram, at + DirectionSlot.histogram + BATCH_BUCKETS)),
      };
    };
    const workers = blocks.map((b, index) => ({ index, tun: direction(b, 'tun'), udp: direction(b, 'udp'), heapUsed: b[WorkerSlot.heapUsed], heapCommitted: b[WorkerSlot.heapCommitted], gcs: b[WorkerSlot.gcs], tunWrites: b[WorkerSlot.tunWrites], tsoPackets: b[WorkerSlot.tsoPackets], usoPackets: b[WorkerSlot.usoPackets], checksumsFinished: b[WorkerSlot.checksumsFinished], wholeTsoWrites: b[WorkerSlot.wholeTsoWrites], wholeHairpinWrites: b[WorkerSlot.wholeHairpinWrites] }));
    const udp = ([4, 6] as const)
      .map((family) => ({
        family,
        sockets: sum(udpSlot(family, UdpSlot.socket)),
        gsoOn: sum(udpSlot(family, UdpSlot.gsoOn)),
        gsoRuns: sum(udpSlot(family, UdpSlot.gsoRuns)),
        unsupportedRuns: sum(udpSlot(family, UdpSlot.unsupportedRuns)),
        tooLargeRuns: sum(udpSlot(family, UdpSlot.tooLargeRuns)),
        groBuffers: sum(udpSlot(family, UdpSlot.groBuffers)),
        tunnelGso: {
          frames: sum(tunnelSlot(family, TunnelSlot.frames)),
          segments: sum(tunnelSlot(family, TunnelSlot.segments)),
          fallbacks: sum(tunnelSlot(family, TunnelSlot.fallbacks)),
          unfit: sum(tunnelSlot(family, TunnelSlot.unfit)),
          wholeFrames: sum(tunnelSlot(family, TunnelSlot.wholeFrames)),
          wholeCut: sum(tunnelSlot(family, TunnelSlot.wholeCut)),
          singles: sum(tunnelSlot(family, TunnelSlot.singles)),
        },
      }))
      .filter((f) => f.sockets > 0);
    const snapshot: CounterSnapshot = { at: Date.now(), peers: peerRows, drops, workers, udp };
    if (fdb) snapshot.switch = { floods: sum(EventSlot.floods), proxiedArp: sum(EventSlot.proxiedArp), proxiedNd: sum(EventSlot.proxiedNd), fdb };
    if (conntrack) {
      const flows = (d: DirectionName) => ({ allowed: sum(policySlot(Direction[d], PolicySlot.newAllowed)), denied: sum(policySlot(Direction[d], PolicySlot.newDenied)) });
      snapshot.policy = { newFlows: Object.fromEntries(DIRECTIONS.map((d) => [d, flows(d)])) as PolicyCounters['newFlows'], conntrack };
    }
    return snapshot;
  }
}
