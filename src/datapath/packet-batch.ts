// A batch of packet slots in one caller-owned slab, reused for the life of a shard.
// Slot i starts at i * slotSize; packets are read at `HEADROOM` so that headers can be written
// in front of them without a copy. The output lists name what to hand to the next syscall.
import { WHOLE_WORDS } from '../native/whole-tso.js';

export class PacketBatch {
  readonly slab: Buffer;
  /** Filled by the read: length of the packet in slot i (-1: too large for the slot). */
  readonly sizes: Int32Array;
  /** Filled by the read of a socket: source address words of slot i. */
  readonly addrs: Uint32Array;
  /** Output list: where each outgoing packet starts, its length, its destination address words. */
  readonly outOffsets: Int32Array;
  readonly outLengths: Int32Array;
  readonly outAddrs: Uint32Array;
  /** A second output list, for datagrams over the IPv6 underlay, and how many it holds. */
  readonly outOffsets6: Int32Array;
  readonly outLengths6: Int32Array;
  readonly outAddrs6: Uint32Array;
  out6 = 0;
  /** What became of packet i: FORWARDED, ANSWERED or the drop reason; read only by the packet trace. */
  readonly verdicts: Int16Array;
  /** The peer node id packet i went to or came from (-1: none). */
  readonly peerOf: Int32Array;
  /**
   * Filled by a receive that leaves kernel peers' TSO packets whole: WHOLE_WORDS per slot, slot i
   * standing for whole[i * WHOLE_WORDS] (≥ 2) packets when it holds a whole packet's first
   * segment (src/native/whole-tso.ts), 0 otherwise.
   */
  readonly whole: Int32Array;
  /** NetworkPolicy: 1 + the index of the policy that decided packet i's connection; 0: none (not judged, or no policy decided). For the packet trace. */
  readonly policyOf: Int32Array;

  constructor(
    readonly capacity: number,
    readonly slotSize: number,
  ) {
    this.slab = Buffer.alloc(capacity * slotSize);
    this.sizes = new Int32Array(capacity);
    this.addrs = new Uint32Array(capacity * 4);
    this.outOffsets = new Int32Array(capacity);
    this.outLengths = new Int32Array(capacity);
    this.outAddrs = new Uint32Array(capacity * 4);
    this.outOffsets6 = new Int32Array(capacity);
    this.outLengths6 = new Int32Array(capacity);
    this.outAddrs6 = new Uint32Array(capacity * 4);
    this.verdicts = new Int16Array(capacity);
    this.peerOf = new Int32Array(capacity);
    this.policyOf = new Int32Array(capacity);
    this.whole = new Int32Array(capacity * WHOLE_WORDS);
  }

  /** The packets slot i stands for: 1, or a whole TSO packet's segments. */
  packetsOf(i: number): number {
    const segments = this.whole[i * WHOLE_WORDS];
    return segments > 1 ? segments : 1;
  }
}

/** Verdict of a packet that went on its way. */
export const FORWARDED = -1;
/** Verdict of a request the switch's ARP/ND proxy answered itself. */
export const ANSWERED = -2;
