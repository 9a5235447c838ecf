// TUN → peer: for each IP packet read from the TUN, find the node that owns its destination and
// write VXLAN + inner Ethernet headers into the headroom in front of it (RFC 7348 §5). IPv4 and
// IPv6 packets alike; each goes to the output list of its route's underlay family. The kernel
// adds the outer IP and UDP headers (and the UDP checksum) when the batch is sent. A slot that
// stands for a pod's whole TSO packet (src/native/send-whole.ts) holds its first segment, judged
// and encapsulated for the whole, and counts the segments and bytes it stands for.
import { WHOLE_SEND_WORDS, WholeSendWord } from '../native/send-whole.js';
import { ENCAP_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, HEADROOM, IPV6_HEADER_LEN, VXLAN_HEADER_LEN } from '../packet/constants.js';
import { writeEthernetHeader } from '../packet/ethernet.js';
import { ipVersion } from '../packet/ip.js';
import { ipv4Dst, ipv4TotalLength, validateIpv4, IPV4_OK } from '../packet/ipv4.js';
import { ipv6PayloadLength, ipv6UpperLayer, validateIpv6, IPV6_DST, IPV6_OK } from '../packet/ipv6.js';
import { writeVxlanHeader } from '../packet/vxlan.js';
import type { ShardCounters } from './counters.js';
import { Drop } from './drop-reasons.js';
import { dropped } from './dropped.js';
import type { IcmpReplies } from './icmp-replies.js';
import { FORWARDED, type PacketBatch } from './packet-batch.js';
import type { RouteLookup } from './route-lookup.js';
import type { SameNodeHairpin } from './same-node-hairpin.js';
import { tunReadDrop } from './tun-read-drop.js';

export interface EncapContext {
  routes: RouteLookup;
  counters: ShardCounters;
  icmp: IcmpReplies;
  vni: number;
  /** Our VTEP MACs, the inner source of IPv4 and of IPv6 packets. */
  ownMac: Uint8Array;
  ownMacV6: Uint8Array;
  /** Largest inner packet whose VXLAN datagram fits the IPv4 / the IPv6 underlay's MTU. */
  maxInnerV4: number;
  maxInnerV6: number;
  /** With NetworkPolicy on: takes packets between two of our own pods (undefined: they have no route). */
  hairpin?: SameNodeHairpin;
}

const upper = new Int32Array(1);
const IPV4_DF = 0x4000;

/** Encapsulates the `n` packets read into `b`; fills b's two output lists and returns the IPv4 one's length (b.out6: the other's). */
export function encapsulate(b: PacketBatch, n: number, ctx: EncapContext): number {
  const buf = b.slab;
  const { routes, counters } = ctx;
  let out = 0;
  let out6 = 0;
  for (let i = 0; i < n; i++) {
    const off = i * b.slotSize + HEADROOM;
    const len = b.sizes[i];
    b.peerOf[i] = -1;
    if (len < 0) {
      dropped(b, i, tunReadDrop(len), counters);
      continue;
    }
    const version = len >= 1 ? ipVersion(buf, off) : 0;
    let route: number;
    let ipLen: number;
    if (version === 4) {
      if (validateIpv4(buf, off, len) !== IPV4_OK) {
        dropped(b, i, Drop.malformed_inner, counters);
        continue;
      }
      ipLen = ipv4TotalLength(buf, off); // the datagram, without what the read had after it
      const dst = ipv4Dst(buf, off);
      if (dst >>> 28 === 0xe) {
        dropped(b, i, Drop.multicast, counters);
        continue;
      }
      route = routes.lookupV4(dst);
      if (route < 0 && ctx.hairpin?.takeV4(b, i, dst, off, ipLen)) continue;
      if (route < 0) {
        dropped(b, i, Drop.no_route, counters);
        ctx.icmp.netUnreachableV4(buf, off, ipLen);
        continue;
      }
    } else if (version === 6) {
      const status = validateIpv6(buf, off, len);
      if (status !== IPV6_OK) {
        dropped(b, i, Drop.malformed_inner, counters);
        continue;
      }
      ipLen = IPV6_HEADER_LEN + ipv6PayloadLength(buf, off);
      if (ipv6UpperLayer(buf, off, off + ipLen, upper) < 0) {
        dropped(b, i, Drop.malformed_inner, counters);
        continue;
      }
      if (buf[off + IPV6_DST] === 0xff) {
        dropped(b, i, Drop.multicast, counters);
        continue;
      }
      route = routes.lookupV6(buf, off + IPV6_DST);
      if (route < 0 && ctx.hairpin?.takeV6(b, i, off + IPV6_DST, off, ipLen)) continue;
      if (route < 0) {
        dropped(b, i, Drop.no_route, counters);
        ctx.icmp.noRouteV6(buf, off, ipLen);
        continue;
      }
    } else {
      dropped(b, i, Drop.malformed_inner, counters);
      continue;
    }
    const peerId = routes.peerId[route];
    b.peerOf[i] = peerId;
    const overIpv6 = routes.underlayFamily[route] === 6;
    const maxInner = overIpv6 ? ctx.maxInnerV6 : ctx.maxInnerV4;
    if (ipLen > maxInner) {
      dropped(b, i, Drop.oversize, counters);
      if (version === 6) ctx.icmp.packetTooBigV6(buf, off, ipLen, maxInner);
      else if (buf.readUInt16BE(off + 6) & IPV4_DF) ctx.icmp.fragmentationNeededV4(buf, off, ipLen, maxInner);
      continue;
    }
    const head = off - ENCAP_LEN;
    writeVxlanHeader(buf, head, ctx.vni);
    if (version === 4) writeEthernetHeader(buf, head + VXLAN_HEADER_LEN, routes.macs[route], ctx.ownMac, ETHERTYPE_IPV4);
    else writeEthernetHeader(buf, head + VXLAN_HEADER_LEN, routes.macs[route], ctx.ownMacV6, ETHERTYPE_IPV6);
    const a = route * 4;
    if (overIpv6) {
      b.outOffsets6[out6] = head;
      b.outLengths6[out6] = ipLen + ENCAP_LEN;
      const o = out6 * 4;
      b.outAddrs6[o] = routes.underlay[a];
      b.outAddrs6[o + 1] = routes.underlay[a + 1];
      b.outAddrs6[o + 2] = routes.underlay[a + 2];
      b.outAddrs6[o + 3] = routes.underlay[a + 3];
      out6++;
    } else {
      b.outOffsets[out] = head;
      b.outLengths[out] = ipLen + ENCAP_LEN;
      b.outAddrs[out * 4] = routes.underlay[a];
      out++;
    }
    b.verdicts[i] = FORWARDED;
    const segments = b.whole[i * WHOLE_SEND_WORDS + WholeSendWord.segments];
    if (segments > 1) counters.tx(peerId, b.whole[i * WHOLE_SEND_WORDS + WholeSendWord.bytes], segments);
    else counters.tx(peerId, ipLen);
  }
  b.out6 = out6;
  return out;
}
