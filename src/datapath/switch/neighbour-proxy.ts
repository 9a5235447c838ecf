// ARP and neighbour discovery suppression, as the kernel's vxlan `proxy` does: learn IP → MAC from
// the ARP and ND frames that peers send us, and answer a local station's ARP request or neighbour
// solicitation for a station behind a peer straight into the TAP, so that resolution does not
// flood the underlay. Unicast requests (a neighbour cache re-checking a stale entry) are answered
// too, as the kernel's are. What we cannot answer goes on as any frame does.
import { arpOp, isIpv4OverEthernetArp, writeArpReply, ARP_REQUEST, ARP_SHA, ARP_SPA, ARP_TPA } from '../../packet/arp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV6, ETH_HEADER_LEN, IPV6_HEADER_LEN, MAC_LEN } from '../../packet/constants.js';
import { macEquals, readEtherType } from '../../packet/ethernet.js';
import { IPV6_SRC } from '../../packet/ipv6.js';
import { findNdMessage, isUnspecifiedV6, ndLinkLayerOption, writeNeighbourAdvert, ND_NEIGHBOUR_SOLICIT, ND_OPT_SOURCE_LLADDR, ND_OPT_TARGET_LLADDR, ND_TARGET } from '../../packet/ndp.js';
import type { Fdb } from './fdb.js';
import type { Neighbours } from './neighbours.js';

/** What answer() did. */
export const Proxied = Object.freeze({ none: 0, arp: 1, nd: 2 });
const REPLY_SLOT = 128; // an advertisement is 86 bytes, an ARP reply 42

export class NeighbourProxy {
  readonly slab: Buffer;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  count = 0;
  private readonly mac = new Uint8Array(MAC_LEN);

  constructor(
    capacity: number,
    readonly neighbours: Neighbours,
    private readonly fdb: Fdb,
  ) {
    this.slab = Buffer.alloc(capacity * REPLY_SLOT);
    this.offsets = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
  }

  /** Learns from a frame received from a peer: ARP senders, ND solicitation sources and advertisement targets. */
  learn(buf: Buffer, frame: number, len: number): void {
    const type = readEtherType(buf, frame);
    if (type === ETHERTYPE_ARP) {
      const body = frame + ETH_HEADER_LEN;
      if (!isIpv4OverEthernetArp(buf, body, len - ETH_HEADER_LEN) || isZeroV4(buf, body + ARP_SPA)) return;
      if (!sameMac(buf, body + ARP_SHA, frame + MAC_LEN)) return; // only what the sender says of itself
      this.neighbours.learnV4(buf, body + ARP_SPA, body + ARP_SHA);
    } else if (type === ETHERTYPE_IPV6) {
      const icmp = findNdMessage(buf, frame, len);
      if (icmp < 0) return;
      const end = frame + ETH_HEADER_LEN + IPV6_HEADER_LEN + ((buf[frame + ETH_HEADER_LEN + 4] << 8) | buf[frame + ETH_HEADER_LEN + 5]);
      if (buf[icmp] === ND_NEIGHBOUR_SOLICIT) {
        const src = frame + ETH_HEADER_LEN + IPV6_SRC;
        const mac = ndLinkLayerOption(buf, icmp, end, ND_OPT_SOURCE_LLADDR);
        if (mac >= 0 && !isUnspecifiedV6(buf, src)) this.neighbours.learnV6(buf, src, mac);
      } else {
        const mac = ndLinkLayerOption(buf, icmp, end, ND_OPT_TARGET_LLADDR);
        if (mac >= 0 && buf[icmp + ND_TARGET] !== 0xff) this.neighbours.learnV6(buf, icmp + ND_TARGET, mac);
      }
    }
  }

  /**
   * Answers the frame read from the TAP when it asks for a station known behind a peer; the
   * answer waits in the slab for the next write to the TAP. Returns what was answered.
   */
  answer(buf: Buffer, frame: number, len: number): number {
    if (this.count === this.offsets.length) return Proxied.none;
    const type = readEtherType(buf, frame);
    if (type === ETHERTYPE_ARP) {
      const body = frame + ETH_HEADER_LEN;
      if (!isIpv4OverEthernetArp(buf, body, len - ETH_HEADER_LEN) || arpOp(buf, body) !== ARP_REQUEST) return Proxied.none;
      if (sameV4(buf, body + ARP_SPA, body + ARP_TPA) || buf[body + ARP_TPA] >= 224) return Proxied.none; // gratuitous, multicast
      if (!this.neighbours.lookupV4(buf, body + ARP_TPA, this.mac) || !this.remote(buf, frame)) return Proxied.none;
      this.push(writeArpReply(this.slab, this.at(), buf, frame, this.mac));
      return Proxied.arp;
    }
    if (type === ETHERTYPE_IPV6) {
      const icmp = findNdMessage(buf, frame, len);
      if (icmp < 0 || buf[icmp] !== ND_NEIGHBOUR_SOLICIT) return Proxied.none;
      // A duplicate address probe (source ::) is the owner's to answer; a multicast target is no station.
      if (isUnspecifiedV6(buf, frame + ETH_HEADER_LEN + IPV6_SRC) || buf[icmp + ND_TARGET] === 0xff) return Proxied.none;
      if (!this.neighbours.lookupV6(buf, icmp + ND_TARGET, this.mac) || !this.remote(buf, frame)) return Proxied.none;
      this.push(writeNeighbourAdvert(this.slab, this.at(), buf, frame, icmp, this.mac));
      return Proxied.nd;
    }
    return Proxied.none;
  }

  /** Whether the MAC just found lives behind a peer (not here, not the asker itself). */
  private remote(buf: Buffer, frame: number): boolean {
    if (macEquals(buf, frame + MAC_LEN, this.mac)) return false;
    return this.fdb.lookup(this.mac, 0) >= 0;
  }

  private at(): number {
    return this.count * REPLY_SLOT;
  }

  private push(length: number): void {
    this.offsets[this.count] = this.at();
    this.lengths[this.count] = length;
    this.count++;
  }
}

function sameMac(buf: Uint8Array, a: number, b: number): boolean {
  for (let k = 0; k < MAC_LEN; k++) if (buf[a + k] !== buf[b + k]) return false;
  return true;
}

function sameV4(buf: Uint8Array, a: number, b: number): boolean {
  return buf[a] === buf[b] && buf[a + 1] === buf[b + 1] && buf[a + 2] === buf[b + 2] && buf[a + 3] === buf[b + 3];
}

function isZeroV4(buf: Uint8Array, off: number): boolean {
  return (buf[off] | buf[off + 1] | buf[off + 2] | buf[off + 3]) === 0;
}
