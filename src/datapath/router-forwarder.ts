// Router mode: IP packets from the TUN are encapsulated toward the node that owns their
// destination; VXLAN datagrams from peers are decapsulated into the TUN. With NetworkPolicy, packets
// between two of our own pods come up the TUN too, and the allowed ones go back down it.
import { HEADROOM } from '../packet/constants.js';
import { ClockSlot } from './batch-clock.js';
import { Direction } from './counters.js';
import { decapsulate, RX_OFFSET, type DecapContext } from './decapsulate.js';
import { Drop } from './drop-reasons.js';
import { encapsulate, type EncapContext } from './encapsulate.js';
import type { Forwarder, ShardParts } from './forwarder.js';
import { IcmpReplies } from './icmp-replies.js';
import { PacketBatch } from './packet-batch.js';
import { CompiledPolicy } from './policy/compiled-policy.js';
import { Conntrack } from './policy/conntrack.js';
import type { FlowDecider } from './policy/flow-decider.js';
import { policyStage, type PolicyContext } from './policy/policy-stage.js';
import { RouteLookup } from './route-lookup.js';
import { SameNodeHairpin, type OwnPods } from './same-node-hairpin.js';
import type { TableSnapshot } from './shared-table.js';
import { TunQueue } from './tun-queue.js';
import type { UdpSocket } from './udp-socket.js';

export class RouterForwarder implements Forwarder {
  private readonly tx: PacketBatch;
  private readonly rx: PacketBatch;
  private readonly routes = new RouteLookup();
  private readonly icmp: IcmpReplies;
  private readonly encap: EncapContext;
  private readonly decap: DecapContext;
  private readonly tun: TunQueue;
  /** NetworkPolicy, after encapsulate and after decapsulate; undefined when off. */
  private readonly policy: PolicyContext | undefined;
  /** Packets between two of our pods, back to the TUN once judged; undefined when the policy is off. */
  private readonly hairpin: SameNodeHairpin | undefined;

  constructor(private readonly parts: ShardParts) {
    const { cfg, counters } = parts;
    // A pod's TSO packet may stay whole for the tunnel-GSO send, and for the same-node hairpin's
    // TUN write (a peer's then, with no tunnel path, is cut at the send).
    const keepsWhole = cfg.tunnelGso !== undefined || Boolean(cfg.policy && cfg.ownPods);
    this.tun = new TunQueue(cfg.tunFd, cfg.tunOffload, false, cfg.slotSize, counters, cfg.tunReads, keepsWhole);
    this.tx = new PacketBatch(cfg.batchSize, cfg.slotSize);
    this.rx = new PacketBatch(cfg.batchSize, cfg.slotSize);
    this.icmp = new IcmpReplies(cfg.batchSize, cfg.tunAddressV4, Uint8Array.from(cfg.tunAddressV6));
    const ownMac = Uint8Array.from(cfg.ownMac);
    const ownMacV6 = Uint8Array.from(cfg.ownMacV6);
    this.hairpin = cfg.policy && cfg.ownPods && new SameNodeHairpin(cfg.batchSize, cfg.ownPods);
    this.encap = { routes: this.routes, counters, icmp: this.icmp, vni: cfg.vni, ownMac, ownMacV6, maxInnerV4: cfg.maxInnerV4, maxInnerV6: cfg.maxInnerV6, hairpin: this.hairpin };
    this.decap = { routes: this.routes, counters, vni: cfg.vni, ownMac, ownMacV6 };
    this.policy = cfg.policy && { conntrack: new Conntrack(cfg.policy.conntrack), decider: new CompiledPolicy(cfg.policy.compiled), counters };
  }

  adoptPolicy(decider: FlowDecider): void {
    if (this.policy) this.policy.decider = decider;
  }

  adoptOwnPods(pods: OwnPods): void {
    this.hairpin?.adopt(pods);
  }

  adopt(table: TableSnapshot): void {
    this.routes.rebuild(table);
  }

  /** Reads and forwards batches until the segments of a TSO packet are all sent. */
  fromTun(): void {
    do this.forwardBatch();
    while (this.tun.pending);
    this.tun.countTso();
  }

  private forwardBatch(): void {
    const { tx } = this;
    const { clock, counters, trace, udp, udp6 } = this.parts;
    // Whole while the same-node hairpin or a family's tunnel path can take it (a trace records the first segment and the segments it stands for).
    const whole = this.tun.keepsWhole && (this.hairpin !== undefined || (udp?.tunnelPathOn ?? false) || (udp6?.tunnelPathOn ?? false));
    const n = this.tun.read(tx, whole);
    if (n === 0) return;
    counters.now = clock[ClockSlot.wallMs]!;
    counters.batch(Direction.tun, n);
    this.icmp.tick(clock[ClockSlot.monotonicMs]!);
    const { hairpin } = this;
    if (hairpin) hairpin.count = 0;
    let out = encapsulate(tx, n, this.encap);
    if (this.policy) out = policyStage(tx, n, out, this.policy, Direction.tun);
    if (hairpin && hairpin.count > 0) {
      hairpin.keepForwarded(tx);
      const written = hairpin.count > 0 ? this.tun.writeBack(tx.slab, hairpin.offsets, hairpin.lengths, hairpin.count, tx) : 0;
      if (written < hairpin.count) counters.dropMany(Drop.tun_write_error, hairpin.count - written);
    }
    if (trace.enabled()) trace.record(tx, n, Direction.tun, HEADROOM, counters.now);
    if (out > 0) {
      const packets = whole ? packetsOut(tx, tx.outOffsets, out) : out;
      const sent = udp ? (whole ? udp.send(tx.slab, tx.outOffsets, tx.outLengths, tx.outAddrs, out, tx, this.tun.area) : udp.send(tx.slab, tx.outOffsets, tx.outLengths, tx.outAddrs, out)) : 0;
      if (sent < packets) counters.dropMany(Drop.socket_error, packets - sent);
    }
    if (tx.out6 > 0) {
      const packets = whole ? packetsOut(tx, tx.outOffsets6, tx.out6) : tx.out6;
      const sent = udp6 ? (whole ? udp6.send(tx.slab, tx.outOffsets6, tx.outLengths6, tx.outAddrs6, tx.out6, tx, this.tun.area) : udp6.send(tx.slab, tx.outOffsets6, tx.outLengths6, tx.outAddrs6, tx.out6)) : 0;
      if (sent < packets) counters.dropMany(Drop.socket_error, packets - sent);
    }
    const icmp = this.icmp;
    if (icmp.count > 0) {
      this.tun.writePlain(icmp.slab, icmp.offsets, icmp.lengths, icmp.count);
      icmp.count = 0;
    }
  }

  /** Receives and forwards batches until what the socket handed over whole is all cut and sent. */
  fromPeers(socket: UdpSocket): void {
    do this.forwardReceived(socket);
    while (socket.pending);
  }

  private forwardReceived(socket: UdpSocket): void {
    const { rx } = this;
    const { clock, counters, trace } = this.parts;
    const whole = this.tun.takesWholeTso;
    const n = socket.receive(rx, RX_OFFSET, whole);
    if (n === 0) return;
    counters.now = clock[ClockSlot.wallMs]!;
    counters.batch(Direction.udp, n);
    let out = decapsulate(rx, n, this.decap, socket.family);
    if (this.policy) out = policyStage(rx, n, out, this.policy, Direction.udp);
    if (trace.enabled()) trace.record(rx, n, Direction.udp, RX_OFFSET, counters.now);
    if (out > 0) {
      const written = whole ? this.tun.write(rx.slab, rx.outOffsets, rx.outLengths, out, rx, socket.area) : this.tun.write(rx.slab, rx.outOffsets, rx.outLengths, out);
      if (written < out) counters.dropMany(Drop.tun_write_error, out - written);
    }
  }
}

/** The packets the first `count` spans of an output list stand for (a whole TSO packet's slot: its segments). */
function packetsOut(b: PacketBatch, offsets: Int32Array, count: number): number {
  let packets = 0;
  for (let k = 0; k < count; k++) packets += b.packetsOf((offsets[k]! / b.slotSize) | 0);
  return packets;
}
