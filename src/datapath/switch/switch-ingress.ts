// Peers → TAP in switch mode: validate each VXLAN datagram as the kernel's vxlan does (RFC 7348
// §5), learn the inner source MAC as living behind the sending peer, let NetworkPolicy judge the
// frame (frame-policy.ts) and hand it to the TAP where it lies. Nothing received from a peer is
// ever sent to a peer (split horizon), so no loop can form between nodes whatever the topology.
// A slot that stands for a whole TSO packet or run (src/native/whole-tso.ts) holds its first
// segment's frame: checked, learned and judged for the whole, counted as its segments.
import { WHOLE_WORDS, WholeWord } from '../../native/whole-tso.js';
import { ETH_HEADER_LEN, HEADROOM, MAC_LEN, VXLAN_HEADER_LEN } from '../../packet/constants.js';
import { isStationMac } from '../../packet/ethernet.js';
import { Direction, type ShardCounters } from '../counters.js';
import { Drop } from '../drop-reasons.js';
import { dropped } from '../dropped.js';
import { FORWARDED, type PacketBatch } from '../packet-batch.js';
import type { RouteLookup } from '../route-lookup.js';
import { acceptVxlan } from '../vxlan-check.js';
import type { Fdb } from './fdb.js';
import type { FramePolicy } from './frame-policy.js';
import type { NeighbourProxy } from './neighbour-proxy.js';

/** Datagrams are received here, so that the inner frame lands at HEADROOM like a TAP read. */
export const RX_OFFSET_L2 = HEADROOM - VXLAN_HEADER_LEN;

export interface IngressContext {
  /** Source addresses of the peers. */
  routes: RouteLookup;
  fdb: Fdb;
  proxy: NeighbourProxy | undefined;
  counters: ShardCounters;
  vni: number;
  /** Largest frame the TAP takes: its MTU, the Ethernet header and one VLAN tag. */
  maxFrame: number;
  /** NetworkPolicy; undefined when off. */
  policy?: FramePolicy;
}

/** Accepts the `n` datagrams received into `b` over the `family` underlay; fills b's output list and returns its length. */
export function acceptFrames(b: PacketBatch, n: number, ctx: IngressContext, family: 4 | 6): number {
  const buf = b.slab;
  const { routes, counters } = ctx;
  ctx.fdb.now = counters.now;
  if (ctx.proxy) ctx.proxy.neighbours.now = counters.now;
  let out = 0;
  for (let i = 0; i < n; i++) {
    const base = i * b.slotSize + RX_OFFSET_L2;
    const len = b.sizes[i];
    const peer = acceptVxlan(b, i, base, family, VXLAN_HEADER_LEN, routes, ctx.vni, counters);
    if (peer < 0) continue;
    const frame = base + VXLAN_HEADER_LEN;
    const frameLen = len - VXLAN_HEADER_LEN;
    if (frameLen < ETH_HEADER_LEN) {
      dropped(b, i, Drop.runt, counters);
      continue;
    }
    if (frameLen > ctx.maxFrame) {
      dropped(b, i, Drop.oversize, counters);
      continue;
    }
    if (!isStationMac(buf, frame + MAC_LEN)) {
      dropped(b, i, Drop.bad_src_mac, counters);
      continue;
    }
    ctx.fdb.learn(buf, frame + MAC_LEN, peer);
    if (ctx.proxy) ctx.proxy.learn(buf, frame, frameLen);
    b.outOffsets[out] = frame;
    b.outLengths[out] = frameLen;
    b.verdicts[i] = FORWARDED;
    // A whole slot's segments each carry the first one's Ethernet header.
    const packets = b.packetsOf(i);
    counters.rx(peer, packets > 1 ? b.whole[i * WHOLE_WORDS + WholeWord.bytes] + packets * ETH_HEADER_LEN : frameLen, packets);
    out++;
  }
  return ctx.policy ? ctx.policy.apply(b, n, out, Direction.udp, VXLAN_HEADER_LEN) : out;
}
