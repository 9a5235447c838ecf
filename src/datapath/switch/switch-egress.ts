// TAP → peers in switch mode: learn each frame's source as local, let the proxy answer what it
// can, let NetworkPolicy judge the rest (frame-policy.ts), then put the VXLAN header in the headroom (RFC 7348 §5) and send the frame to the peer
// that has its destination MAC, or to every peer (head-end replication) for broadcast,
// multicast and unknown unicast, as the kernel's vxlan does with all-zero FDB entries.
import { HEADROOM, MAC_LEN, VXLAN_HEADER_LEN, ETH_HEADER_LEN } from '../../packet/constants.js';
import { isStationMac } from '../../packet/ethernet.js';
import { writeVxlanHeader } from '../../packet/vxlan.js';
import { Drop } from '../drop-reasons.js';
import { dropped } from '../dropped.js';
import { Direction, EventSlot, type ShardCounters } from '../counters.js';
import { ANSWERED, FORWARDED, type PacketBatch } from '../packet-batch.js';
import { tunReadDrop } from '../tun-read-drop.js';
import { LOCAL, type Fdb } from './fdb.js';
import type { FramePolicy } from './frame-policy.js';
import { Proxied, type NeighbourProxy } from './neighbour-proxy.js';
import type { SendList } from './send-list.js';
import type { SwitchPeers } from './switch-peers.js';

export interface EgressContext {
  fdb: Fdb;
  peers: SwitchPeers;
  /** undefined with --no-arp-proxy. */
  proxy: NeighbourProxy | undefined;
  counters: ShardCounters;
  vni: number;
  /** Largest frame the underlay of each family carries once encapsulated. */
  maxFrameV4: number;
  maxFrameV6: number;
  /** Output lists per underlay family (undefined for one we do not use). */
  send4: SendList | undefined;
  send6: SendList | undefined;
  /** NetworkPolicy; undefined when off. */
  policy?: FramePolicy;
}

/** Forwards the `n` frames read into `b`; the datagrams wait in ctx's send lists, the proxy's answers in its slab. */
export function forwardFrames(b: PacketBatch, n: number, ctx: EgressContext): void {
  admitFrames(b, n, ctx);
  if (ctx.policy) ctx.policy.apply(b, n, 0, Direction.tun, 0);
  sendFrames(b, n, ctx);
}

/** Drops what is no frame, learns each source and lets the proxy answer; what is left is FORWARDED, for now. */
function admitFrames(b: PacketBatch, n: number, ctx: EgressContext): void {
  const buf = b.slab;
  const { fdb, counters } = ctx;
  fdb.now = counters.now;
  if (ctx.proxy) ctx.proxy.neighbours.now = counters.now;
  for (let i = 0; i < n; i++) {
    const frame = i * b.slotSize + HEADROOM;
    const len = b.sizes[i];
    b.peerOf[i] = -1;
    if (len < 0) {
      dropped(b, i, tunReadDrop(len), counters);
      continue;
    }
    if (len < ETH_HEADER_LEN) {
      dropped(b, i, Drop.runt, counters);
      continue;
    }
    if (!isStationMac(buf, frame + MAC_LEN)) {
      dropped(b, i, Drop.bad_src_mac, counters);
      continue;
    }
    fdb.learn(buf, frame + MAC_LEN, LOCAL);
    if (ctx.proxy) {
      const answered = ctx.proxy.answer(buf, frame, len);
      if (answered !== Proxied.none) {
        counters.event(answered === Proxied.arp ? EventSlot.proxiedArp : EventSlot.proxiedNd);
        b.verdicts[i] = ANSWERED;
        continue;
      }
    }
    b.verdicts[i] = FORWARDED;
  }
}

/** Sends each frame still FORWARDED to the peer that has its destination, or to every peer. */
function sendFrames(b: PacketBatch, n: number, ctx: EgressContext): void {
  const buf = b.slab;
  const { fdb, peers, counters } = ctx;
  for (let i = 0; i < n; i++) {
    if (b.verdicts[i] !== FORWARDED) continue;
    const frame = i * b.slotSize + HEADROOM;
    const len = b.sizes[i];
    const head = frame - VXLAN_HEADER_LEN;
    writeVxlanHeader(buf, head, ctx.vni);
    // A unicast destination behind a known peer goes there only; LOCAL or MISS means the bridge
    // did not know it either (it moved, or aged out): flood, as for broadcast.
    const where = (buf[frame] & 1) === 0 ? fdb.lookup(buf, frame) : -1;
    const target = where >= 0 ? peers.indexOf(where) : -1;
    if (target >= 0) {
      if (!send(head, len, target, ctx)) {
        dropped(b, i, Drop.oversize, counters);
        continue;
      }
      b.peerOf[i] = peers.ids[target];
      continue;
    }
    if (peers.count === 0) {
      dropped(b, i, Drop.no_peer, counters);
      continue;
    }
    let sent = 0;
    for (let p = 0; p < peers.count; p++) if (send(head, len, p, ctx)) sent++;
    if (sent === 0) {
      dropped(b, i, Drop.oversize, counters);
      continue;
    }
    // Copies some peers' underlay could not carry: the frame is counted once under oversize too.
    if (sent < peers.count) counters.drop(Drop.oversize);
    counters.event(EventSlot.floods);
  }
}

/** Queues the frame (VXLAN header at `head`) to listed peer p; false when its underlay cannot carry it. */
function send(head: number, len: number, p: number, ctx: EgressContext): boolean {
  const { peers } = ctx;
  const overIpv6 = peers.family[p] === 6;
  const list = overIpv6 ? ctx.send6 : ctx.send4;
  if (list === undefined || len > (overIpv6 ? ctx.maxFrameV6 : ctx.maxFrameV4)) return false;
  list.push(head, len + VXLAN_HEADER_LEN, peers.addrs, p * 4);
  ctx.counters.tx(peers.ids[p], len);
  return true;
}
