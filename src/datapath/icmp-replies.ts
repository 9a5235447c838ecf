// ICMP errors that the datapath answers into the TUN — destination unreachable for no route,
// "fragmentation needed" and Packet Too Big for what the underlay cannot carry — built in a slab
// of their own and rate-limited by one token bucket on the shard's coarse clock.
import { icmpErrorAllowed, writeIcmpv4Error, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_NET_UNREACH } from '../packet/icmp.js';
import { icmpv6ErrorAllowed, writeIcmpv6Error, ICMPV6_DEST_UNREACH, ICMPV6_ERROR_MAX, ICMPV6_NO_ROUTE, ICMPV6_PACKET_TOO_BIG } from '../packet/icmpv6.js';

const SLOT = ICMPV6_ERROR_MAX; // the larger of the two families' limits (IPv4's is 576)

export class IcmpReplies {
  readonly slab: Buffer;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  count = 0;
  private tokens: number;
  private lastRefill = 0;

  constructor(
    capacity: number,
    /** Sources of the errors: our TUN addresses (IPv4 host order; IPv6 16 bytes, or all zero when we have none). */
    private readonly sourceV4: number,
    private readonly sourceV6: Uint8Array,
    private readonly perSecond = 100,
    private readonly burst = 20,
  ) {
    this.slab = Buffer.alloc(capacity * SLOT);
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

  /** "Network unreachable" for the IPv4 packet at buf[off .. off+len]. */
  netUnreachableV4(buf: Buffer, off: number, len: number): void {
    if (icmpErrorAllowed(buf, off, len) && this.take()) this.push(writeIcmpv4Error(this.slab, this.at(), ICMP_DEST_UNREACH, ICMP_NET_UNREACH, 0, this.sourceV4, buf, off, len));
  }

  /** "Fragmentation needed" with the next-hop MTU (RFC 1191 §4), for an IPv4 packet with DF set. */
  fragmentationNeededV4(buf: Buffer, off: number, len: number, mtu: number): void {
    if (icmpErrorAllowed(buf, off, len) && this.take()) this.push(writeIcmpv4Error(this.slab, this.at(), ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu & 0xffff, this.sourceV4, buf, off, len));
  }

  /** "No route to destination" (RFC 4443 §3.1) for the IPv6 packet at buf[off .. off+len]. */
  noRouteV6(buf: Buffer, off: number, len: number): void {
    if (this.hasV6() && icmpv6ErrorAllowed(buf, off, len, ICMPV6_DEST_UNREACH) && this.take()) {
      this.push(writeIcmpv6Error(this.slab, this.at(), ICMPV6_DEST_UNREACH, ICMPV6_NO_ROUTE, 0, this.sourceV6, buf, off, len));
    }
  }

  /** Packet Too Big with the MTU the overlay carries (RFC 4443 §3.2). */
  packetTooBigV6(buf: Buffer, off: number, len: number, mtu: number): void {
    if (this.hasV6() && icmpv6ErrorAllowed(buf, off, len, ICMPV6_PACKET_TOO_BIG) && this.take()) {
      this.push(writeIcmpv6Error(this.slab, this.at(), ICMPV6_PACKET_TOO_BIG, 0, mtu, this.sourceV6, buf, off, len));
    }
  }

  private hasV6(): boolean {
    return this.sourceV6[0] !== 0;
  }

  /** A token and a free slot, or false. */
  private take(): boolean {
    if (this.count === this.offsets.length || this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  private at(): number {
    return this.count * SLOT;
  }

  private push(length: number): void {
    this.offsets[this.count] = this.at();
    this.lengths[this.count] = length;
    this.count++;
  }
}
