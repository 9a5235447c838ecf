// Peer → TUN: validate each VXLAN datagram as the kernel's vxlan device would (RFC 7348 §5),
// then hand the inner IP packet to the TUN where it lies: no copy, only a new offset (a slot that
// stands for a kernel peer's whole TSO packet or a vxroute peer's whole run holds its first
// segment, judged for the whole). The inner
// source must be an address of the peer that sent it (one of its pod CIDRs, its VTEP's .0
// included): a peer cannot speak for another node's pods, ours, or the world.
import { WHOLE_WORDS, WholeWord } from '../native/whole-tso.js';
import { ENCAP_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, HEADROOM, IPV6_HEADER_LEN, VXLAN_HEADER_LEN } from '../packet/constants.js';
import { macEquals, readEtherType } from '../packet/ethernet.js';
import { ipv4Src, ipv4TotalLength, validateIpv4, IPV4_OK, IPV4_TRUNCATED } from '../packet/ipv4.js';
import { ipv6PayloadLength, ipv6UpperLayer, validateIpv6, IPV6_OK, IPV6_SRC, IPV6_TRUNCATED } from '../packet/ipv6.js';
import type { ShardCounters } from './counters.js';
import { Drop } from './drop-reasons.js';
import { dropped } from './dropped.js';
import { FORWARDED, type PacketBatch } from './packet-batch.js';
import type { RouteLookup } from './route-lookup.js';
import { acceptVxlan } from './vxlan-check.js';

const upper = new Int32Array(1);

/** Datagrams are received here, so that the inner IP packet lands at HEADROOM like a TUN read. */
export const RX_OFFSET = HEADROOM - ENCAP_LEN;

export interface DecapContext {
  routes: RouteLookup;
  counters: ShardCounters;
  vni: number;
  /** Our VTEP MACs: an inner frame must be addressed to one of them. */
  ownMac: Uint8Array;
  ownMacV6: Uint8Array;
}

/** Decapsulates the `n` datagrams received into `b` over the `family` underlay; fills b's output list and returns its length. */
export function decapsulate(b: PacketBatch, n: number, ctx: DecapContext, family: 4 | 6): number {
  const buf = b.slab;
  const { routes, counters } = ctx;
  let out = 0;
  for (let i = 0; i < n; i++) {
    const base = i * b.slotSize + RX_OFFSET;
    const len = b.sizes[i];
    const peer = acceptVxlan(b, i, base, family, ENCAP_LEN, routes, ctx.vni, counters);
    if (peer < 0) continue;
    const eth = base + VXLAN_HEADER_LEN;
    if (!macEquals(buf, eth, ctx.ownMac) && !macEquals(buf, eth, ctx.ownMacV6)) {
      dropped(b, i, Drop.wrong_dst_mac, counters);
      continue;
    }
    const ip = base + ENCAP_LEN;
    const avail = len - ENCAP_LEN;
    const etherType = readEtherType(buf, eth);
    let ipLen: number;
    let sourceRoute: number;
    if (etherType === ETHERTYPE_IPV4) {
      const status = validateIpv4(buf, ip, avail);
      if (status !== IPV4_OK) {
        dropped(b, i, status === IPV4_TRUNCATED ? Drop.truncated : Drop.malformed_inner, counters);
        continue;
      }
      ipLen = ipv4TotalLength(buf, ip); // drops any Ethernet padding after the packet
      sourceRoute = routes.lookupV4(ipv4Src(buf, ip));
    } else if (etherType === ETHERTYPE_IPV6) {
      const status = validateIpv6(buf, ip, avail);
      if (status !== IPV6_OK) {
        dropped(b, i, status === IPV6_TRUNCATED ? Drop.truncated : Drop.malformed_inner, counters);
        continue;
      }
      ipLen = IPV6_HEADER_LEN + ipv6PayloadLength(buf, ip);
      const chain = ipv6UpperLayer(buf, ip, ip + ipLen, upper);
      if (chain < 0) {
        dropped(b, i, chain === -IPV6_TRUNCATED ? Drop.truncated : Drop.malformed_inner, counters);
        continue;
      }
      sourceRoute = routes.lookupV6(buf, ip + IPV6_SRC);
    } else {
      dropped(b, i, Drop.bad_ethertype, counters);
      continue;
    }
    if (sourceRoute < 0 || routes.peerId[sourceRoute] !== peer) {
      dropped(b, i, Drop.spoofed_source, counters);
      continue;
    }
    b.outOffsets[out] = ip;
    b.outLengths[out] = ipLen;
    b.verdicts[i] = FORWARDED;
    const packets = b.packetsOf(i);
    counters.rx(peer, packets > 1 ? b.whole[i * WHOLE_WORDS + WholeWord.bytes] : ipLen, packets);
    out++;
  }
  return out;
}
