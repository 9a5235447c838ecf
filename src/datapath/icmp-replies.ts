// ICMP errors that the datapath answers into the TUN (destination unreachable for no route),
// built in a slab of their own and rate-limited by a token bucket on the shard's coarse clock.
import { icmpErrorAllowed, writeIcmpv4Error, ICMP_DEST_UNREACH, ICMP_NET_UNREACH } from '../packet/icmp.js';

const MAX_ICMPV4 = 576; // RFC 1812 §4.3.2.3: an ICMP error need not exceed 576 bytes

export class IcmpReplies {
  readonly slab: Buffer;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  count = 0;
  private tokens: number;
  private lastRefill = 0;

  constructor(
    capacity: number,
    /** Source of the errors: our TUN address (host order). */
    private readonly sourceV4: number,
    private readonly perSecond = 100,
    private readonly burst = 20,
  ) {
    this.slab = Buffer.alloc(capacity * MAX_ICMPV4);
    this.offsets = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.tokens = burst;
  }

  /** Called once per loop with a coarse clock in milliseconds. */
  tick(nowMs: number): void {
    const earned = ((nowMs - this.lastRefill) * this.perSecond) / 1000;
    if (earned >= 1) {
      this.tokens = Math.min(this.burst, this.tokens + earned);
      this.lastRefill = nowMs;
    }
  }

  /** Queues "network unreachable" for the IPv4 packet at buf[off .. off+len], if allowed and not rate-limited. */
  netUnreachableV4(buf: Buffer, off: number, len: number): void {
    if (this.count === this.offsets.length || this.tokens < 1 || !icmpErrorAllowed(buf, off, len)) return;
    this.tokens--;
    const at = this.count * MAX_ICMPV4;
    this.offsets[this.count] = at;
    this.lengths[this.count] = writeIcmpv4Error(this.slab, at, ICMP_DEST_UNREACH, ICMP_NET_UNREACH, 0, this.sourceV4, buf, off, len);
    this.count++;
  }
}
