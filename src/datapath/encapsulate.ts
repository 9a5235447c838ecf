// TUN → peer: for each IP packet read from the TUN, find the node that owns its destination and
// write VXLAN + inner Ethernet headers into the headroom in front of it (RFC 7348 §5).
// The kernel adds the outer IP and UDP headers when the batch is sent.
import { ENCAP_LEN, ETHERTYPE_IPV4, HEADROOM, VXLAN_HEADER_LEN } from '../packet/constants.js';
import { writeEthernetHeader } from '../packet/ethernet.js';
import { ipVersion } from '../packet/ip.js';
import { ipv4Dst, ipv4TotalLength, validateIpv4, IPV4_OK } from '../packet/ipv4.js';
import { writeVxlanHeader } from '../packet/vxlan.js';
import type { ShardCounters } from './counters.js';
import { Drop } from './drop-reasons.js';
import type { IcmpReplies } from './icmp-replies.js';
import { dropped } from './dropped.js';
import { FORWARDED, type PacketBatch } from './packet-batch.js';
import type { RouteLookup } from './route-lookup.js';

export interface EncapContext {
  routes: RouteLookup;
  counters: ShardCounters;
  icmp: IcmpReplies;
  vni: number;
  ownMac: Uint8Array;
  /** Largest inner packet whose VXLAN datagram fits the IPv4 underlay MTU. */
  maxInnerV4: number;
}

/** Encapsulates the `n` packets read into `b`; fills b's output list and returns its length. */
export function encapsulate(b: PacketBatch, n: number, ctx: EncapContext): number {
  const buf = b.slab;
  const { routes, counters } = ctx;
  let out = 0;
  for (let i = 0; i < n; i++) {
    const off = i * b.slotSize + HEADROOM;
    const len = b.sizes[i];
    b.peerOf[i] = -1;
    if (len < 1 || ipVersion(buf, off) !== 4) {
      // IPv6 pods arrive with the dual-stack table; until then nothing owns them.
      dropped(b, i, len >= 1 && ipVersion(buf, off) === 6 ? Drop.no_route : Drop.malformed_inner, counters);
      continue;
    }
    if (validateIpv4(buf, off, len) !== IPV4_OK) {
      dropped(b, i, Drop.malformed_inner, counters);
      continue;
    }
    const route = routes.lookupV4(ipv4Dst(buf, off));
    if (route < 0) {
      dropped(b, i, Drop.no_route, counters);
      ctx.icmp.netUnreachableV4(buf, off, len);
      continue;
    }
    const ipLen = ipv4TotalLength(buf, off);
    const peerId = routes.peerId[route];
    b.peerOf[i] = peerId;
    if (ipLen > ctx.maxInnerV4) {
      dropped(b, i, Drop.oversize, counters);
      continue;
    }
    const head = off - ENCAP_LEN;
    writeVxlanHeader(buf, head, ctx.vni);
    writeEthernetHeader(buf, head + VXLAN_HEADER_LEN, routes.macs[route], ctx.ownMac, ETHERTYPE_IPV4);
    b.outOffsets[out] = head;
    b.outLengths[out] = ipLen + ENCAP_LEN;
    b.outAddrs[out * 4] = routes.underlay[route * 4];
    b.verdicts[i] = FORWARDED;
    counters.tx(peerId, ipLen);
    out++;
  }
  return out;
}
