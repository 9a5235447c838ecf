// The outer checks every received datagram passes, in router and switch mode alike, as the
// kernel's vxlan device makes them (RFC 7348 §5): it came from a peer, it is long enough, the I
// flag is set and the VNI is ours.
import { readVxlanFlags, readVxlanVni, VXLAN_FLAG_I } from '../packet/vxlan.js';
import type { ShardCounters } from './counters.js';
import { Drop } from './drop-reasons.js';
import { dropped } from './dropped.js';
import type { PacketBatch } from './packet-batch.js';
import type { RouteLookup } from './route-lookup.js';

/**
 * Checks datagram i of `b`, received over the `family` underlay, whose VXLAN header is at
 * b.slab[base]; `minLength` is the shortest datagram the mode can use. Returns the sending peer's
 * id, or -1 when the datagram was dropped (and counted). Sets b.peerOf[i].
 */
export function acceptVxlan(b: PacketBatch, i: number, base: number, family: 4 | 6, minLength: number, routes: RouteLookup, vni: number, counters: ShardCounters): number {
  const len = b.sizes[i];
  const a = i * 4;
  const peer = family === 4 ? routes.peerOfSourceV4(b.addrs[a]) : routes.peerOfSourceV6(b.addrs[a], b.addrs[a + 1], b.addrs[a + 2], b.addrs[a + 3]);
  b.peerOf[i] = peer;
  if (peer < 0) {
    dropped(b, i, Drop.unknown_source, counters);
    return -1;
  }
  if (len < 0) {
    // Larger than any datagram our underlay carries: a peer's unsegmented GSO packet (or a reassembly).
    b.peerOf[i] = -1;
    dropped(b, i, Drop.oversize_datagram, counters);
    return -1;
  }
  if (len < minLength) {
    dropped(b, i, Drop.truncated, counters);
    return -1;
  }
  if ((readVxlanFlags(b.slab, base) & VXLAN_FLAG_I) === 0) {
    dropped(b, i, Drop.bad_vxlan_flags, counters);
    return -1;
  }
  if (readVxlanVni(b.slab, base) !== vni) {
    dropped(b, i, Drop.wrong_vni, counters);
    return -1;
  }
  return peer;
}
