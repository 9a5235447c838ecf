// A shard's TUN or TAP queue: reads into a batch (TSO packets cut into segments, the rest waiting
// in a scratch buffer until the next read) and writes batches (runs coalesced into GSO packets),
// with the offload flags of the mode, counting write syscalls, TSO packets and the inner checksums
// finished for kernel peers that left them partial (docs/decisions.md). With `uring` reads, one
// io_uring_enter reads up to 32 packets (tun-reads.ts); packets read ahead keep the queue pending.
import { addon, IO_COALESCE, IO_ETHERNET, IO_FINISH_CHECKSUMS, IO_VNET_HDR, RING_STATS_WORDS, RingStats, SEGMENT_SCRATCH_EXTRA, SEGMENT_STATE_WORDS, SegmentState, VNET_HDR_BYTES } from '../native/addon.js';
import type { TunRing } from '../native/addon.js';
import { IO_WHOLE_READ, wholeSendScratchBytes } from '../native/send-whole.js';
import { HEADROOM } from '../packet/constants.js';
import { Direction, type ShardCounters } from './counters.js';
import { Drop } from './drop-reasons.js';
import type { PacketBatch } from './packet-batch.js';
import type { TunReads } from './tun-reads.js';

export class TunQueue {
  private readonly readFlags: number;
  private readonly writeFlags: number;
  private readonly scratch: Buffer;
  /** Whether reads may keep TSO packets whole (read's keepWhole). */
  readonly keepsWhole: boolean;
  /** The last read wrote the batch's whole words: a read without them zeroes them first. */
  private wordsWritten = false;
  private readonly state = new Int32Array(SEGMENT_STATE_WORDS);
  /**
   * Write syscalls, checksums finished, whole TSO packets written, and the segments of refused
   * whole ones beyond the one packet each counts as: what writeBatch adds up.
   */
  private readonly writes = new Int32Array(4);
  /** The io_uring of `uring` reads; undefined with readv. */
  private readonly ring: TunRing | undefined;
  private readonly ringStats = new Int32Array(RING_STATS_WORDS);

  /**
   * `offload`: the queue was opened with IFF_VNET_HDR and TUNSETOFFLOAD; `ethernet`: it is a TAP;
   * `reads`: the reader resolveTunReads chose (a ring that cannot be set up after all falls back to readv).
   * `keepsWhole`: reads may keep TSO packets whole for the tunnel-GSO send (a TUN with offloads;
   * the scratch buffer then holds several).
   */
  constructor(
    private readonly fd: number,
    offload: boolean,
    ethernet: boolean,
    slotSize: number,
    private readonly counters: ShardCounters,
    reads: TunReads = 'readv',
    keepsWhole = false,
  ) {
    const l2 = ethernet ? IO_ETHERNET : 0;
    this.readFlags = offload ? IO_VNET_HDR | l2 : 0;
    this.writeFlags = (offload ? IO_VNET_HDR | IO_COALESCE | l2 : l2) | IO_FINISH_CHECKSUMS;
    this.keepsWhole = keepsWhole && offload && !ethernet;
    this.scratch = Buffer.alloc(this.keepsWhole ? wholeSendScratchBytes(slotSize) : offload ? slotSize + SEGMENT_SCRATCH_EXTRA : 0);
    // A ring's read takes what one read of readBatch's iovecs would: header, slot and 64 KiB, or the slot.
    this.ring = reads === 'uring' ? openRing(offload ? VNET_HDR_BYTES + slotSize + SEGMENT_SCRATCH_EXTRA : slotSize - HEADROOM) : undefined;
  }

  /**
   * Reads a batch at HEADROOM; returns its size (0: nothing ready). `keepWhole` (only when
   * keepsWhole): a TSO packet that may leave as one tunnel-GSO frame stays whole in `area` until
   * the next read, its slot holding its first segment and b.whole what it stands for
   * (src/native/send-whole.ts), and its extra segments are counted as read; otherwise b.whole is 0.
   */
  read(b: PacketBatch, keepWhole = false): number {
    if (!keepWhole) {
      if (this.wordsWritten) {
        b.whole.fill(0);
        this.wordsWritten = false;
      }
      return addon.readBatch(this.fd, b.slab, b.slotSize, HEADROOM, b.capacity, b.sizes, this.readFlags, this.scratch, this.state, this.ring, this.ringStats);
    }
    this.wordsWritten = true;
    const n = addon.readBatch(this.fd, b.slab, b.slotSize, HEADROOM, b.capacity, b.sizes, this.readFlags, this.scratch, this.state, this.ring, this.ringStats, b.whole);
    const more = this.state[SegmentState.wholeMorePackets];
    if (more > 0) {
      this.counters.morePackets(Direction.tun, more);
      this.state[SegmentState.wholeMorePackets] = 0;
    }
    return n;
  }

  /** Where read keeps TSO packets whole, for the send. */
  get area(): Buffer {
    return this.scratch;
  }

  /** Segments of a TSO packet, or packets the ring read ahead, wait for the next read. */
  get pending(): boolean {
    return this.state[SegmentState.pending] > 0 || this.ringStats[RingStats.buffered] > 0;
  }

  /** Whether a receive may leave kernel peers' TSO packets whole for write(): the queue takes GSO writes (a TUN with offloads). */
  get takesWholeTso(): boolean {
    return (this.writeFlags & (IO_VNET_HDR | IO_ETHERNET)) === IO_VNET_HDR;
  }

  /**
   * Writes slab spans from peers, coalescing runs; returns how many packets were written. `from`:
   * the batch and socket the spans were received with, whose whole TSO packets (b.whole) go from
   * the socket's receive area as one GSO write each (only when takesWholeTso). The caller counts a
   * span not written as one tun_write_error; a refused whole TSO packet's other segments are
   * counted here, so that it counts the packets it stands for (PacketBatch.packetsOf).
   */
  write(slab: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, from?: PacketBatch, area?: Buffer): number {
    const written = from && area
      ? addon.writeBatch(this.fd, slab, offsets, lengths, count, this.writeFlags, this.writes, from.whole, area, from.slotSize)
      : addon.writeBatch(this.fd, slab, offsets, lengths, count, this.writeFlags, this.writes);
    this.countWrites(false);
    return written;
  }

  /**
   * Writes packets read from this queue back to it (the same-node hairpin), coalescing runs; returns
   * how many were written. A packet whose slot of `from` stands for a TSO packet the read kept whole
   * goes from the read's area as one GSO write, as the pod sent it; the caller counts a packet not
   * written as one tun_write_error, the other segments of a refused whole one are counted here.
   */
  writeBack(slab: Buffer, offsets: Int32Array, lengths: Int32Array, count: number, from: PacketBatch): number {
    const written = this.keepsWhole
      ? addon.writeBatch(this.fd, slab, offsets, lengths, count, this.writeFlags | IO_WHOLE_READ, this.writes, from.whole, this.scratch, from.slotSize)
      : addon.writeBatch(this.fd, slab, offsets, lengths, count, this.writeFlags, this.writes);
    this.countWrites(true);
    return written;
  }

  /** Hands what writeBatch added up to the counters; `hairpin`: its whole writes were of packets read here. */
  private countWrites(hairpin: boolean): void {
    this.counters.tunWrites(this.writes[0]);
    if (this.writes[1] > 0) this.counters.checksumsFinished(this.writes[1]);
    if (this.writes[2] > 0) {
      if (hairpin) this.counters.wholeHairpinWrites(this.writes[2]);
      else this.counters.wholeTsoWrites(this.writes[2]);
    }
    if (this.writes[3] > 0) this.counters.dropMany(Drop.tun_write_error, this.writes[3]);
    this.writes.fill(0);
  }

  /** Writes packets of our own (ICMP errors, proxy answers) as they are. */
  writePlain(slab: Buffer, offsets: Int32Array, lengths: Int32Array, count: number): number {
    const written = addon.writeBatch(this.fd, slab, offsets, lengths, count, this.readFlags & IO_VNET_HDR, this.writes);
    this.counters.tunWrites(this.writes[0]);
    this.writes[0] = 0;
    return written;
  }

  /** Hands the counts of TSO and USO packets read since the last call to the counters. */
  countTso(): void {
    if (this.state[SegmentState.tsoPackets] > 0) {
      this.counters.tsoPackets(this.state[SegmentState.tsoPackets]);
      this.state[SegmentState.tsoPackets] = 0;
    }
    if (this.state[SegmentState.usoPackets] > 0) {
      this.counters.usoPackets(this.state[SegmentState.usoPackets]);
      this.state[SegmentState.usoPackets] = 0;
    }
  }
}

/** A ring for the queue, or undefined when this thread may not have one (the probe passed, a limit did not). */
function openRing(regionSize: number): TunRing | undefined {
  try {
    return addon.tunRingOpen(regionSize);
  } catch {
    return undefined;
  }
}
