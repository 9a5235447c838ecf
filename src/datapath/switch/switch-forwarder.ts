// Switch mode: Ethernet frames from the TAP (a port of the node's bridge) are switched to the
// peer that has their destination or flooded to all; frames from peers go to the TAP.
import { ETH_HEADER_LEN, HEADROOM, VXLAN_HEADER_LEN } from '../../packet/constants.js';
import { ClockSlot } from '../batch-clock.js';
import { Direction } from '../counters.js';
import { Drop } from '../drop-reasons.js';
import type { Forwarder, ShardParts } from '../forwarder.js';
import { PacketBatch } from '../packet-batch.js';
import { CompiledPolicy } from '../policy/compiled-policy.js';
import { Conntrack } from '../policy/conntrack.js';
import type { FlowDecider } from '../policy/flow-decider.js';
import { RouteLookup } from '../route-lookup.js';
import type { SwitchConfig } from '../shard-config.js';
import type { TableSnapshot } from '../shared-table.js';
import { TunQueue } from '../tun-queue.js';
import { Fdb } from './fdb.js';
import { FramePolicy } from './frame-policy.js';
import { NeighbourProxy } from './neighbour-proxy.js';
import { Neighbours } from './neighbours.js';
import { SendList } from './send-list.js';
import { forwardFrames, type EgressContext } from './switch-egress.js';
import { acceptFrames, RX_OFFSET_L2, type IngressContext } from './switch-ingress.js';
import { SwitchPeers } from './switch-peers.js';
import type { UdpSocket } from '../udp-socket.js';

/** The trace keeps a sent frame from its VXLAN header, like a received one. */
const TRACE_TX_OFFSET = HEADROOM - VXLAN_HEADER_LEN;

export class SwitchForwarder implements Forwarder {
  private readonly tx: PacketBatch;
  private readonly rx: PacketBatch;
  private readonly routes = new RouteLookup();
  private readonly peers: SwitchPeers;
  private readonly proxy: NeighbourProxy | undefined;
  private readonly egress: EgressContext;
  private readonly ingress: IngressContext;
  private readonly tap: TunQueue;
  /** Whether a receive may leave TSO packets and runs whole for one GSO write each: the TAP takes GSO writes. */
  private readonly receivesWhole: boolean;
  /** NetworkPolicy, for frames both ways (one connection table); undefined when off. */
  private readonly policy: FramePolicy | undefined;

  constructor(
    private readonly parts: ShardParts,
    sw: SwitchConfig,
  ) {
    const { cfg, counters } = parts;
    this.tap = new TunQueue(cfg.tunFd, cfg.tunOffload, true, cfg.slotSize, counters, cfg.tunReads);
    this.receivesWhole = cfg.tunOffload;
    this.tx = new PacketBatch(cfg.batchSize, cfg.slotSize);
    this.rx = new PacketBatch(cfg.batchSize, cfg.slotSize);
    this.peers = new SwitchPeers(cfg.maxPeers);
    const fdb = new Fdb(sw.fdb);
    this.policy = cfg.policy && new FramePolicy(cfg.batchSize, { conntrack: new Conntrack(cfg.policy.conntrack), decider: new CompiledPolicy(cfg.policy.compiled), counters });
    this.proxy = sw.arpProxy ? new NeighbourProxy(cfg.batchSize, new Neighbours(sw.neighbours, sw.neighboursMax), fdb) : undefined;
    this.egress = {
      fdb, peers: this.peers, proxy: this.proxy, counters, vni: cfg.vni,
      maxFrameV4: cfg.maxInnerV4 + ETH_HEADER_LEN, maxFrameV6: cfg.maxInnerV6 + ETH_HEADER_LEN,
      send4: parts.udp ? new SendList(parts.udp, this.tx.slab) : undefined,
      send6: parts.udp6 ? new SendList(parts.udp6, this.tx.slab) : undefined,
      policy: this.policy,
    };
    this.ingress = { routes: this.routes, fdb, proxy: this.proxy, counters, vni: cfg.vni, maxFrame: sw.maxFrame, policy: this.policy };
  }

  adoptPolicy(decider: FlowDecider): void {
    if (this.policy) this.policy.ctx.decider = decider;
  }

  adopt(table: TableSnapshot): void {
    this.routes.rebuild(table);
    this.peers.rebuild(table);
  }

  /** Reads and forwards batches until the segments of a TSO frame are all sent. */
  fromTun(): void {
    do this.forwardBatch();
    while (this.tap.pending);
    this.tap.countTso();
  }

  private forwardBatch(): void {
    const { tx, egress } = this;
    const { cfg, clock, counters, trace } = this.parts;
    const n = this.tap.read(tx);
    if (n === 0) return;
    counters.now = clock[ClockSlot.wallMs]!;
    counters.batch(Direction.tun, n);
    forwardFrames(tx, n, egress);
    if (trace.enabled()) trace.record(tx, n, Direction.tun, TRACE_TX_OFFSET, counters.now, VXLAN_HEADER_LEN);
    if (egress.send4) this.flush(egress.send4);
    if (egress.send6) this.flush(egress.send6);
    const proxy = this.proxy;
    if (proxy && proxy.count > 0) {
      this.tap.writePlain(proxy.slab, proxy.offsets, proxy.lengths, proxy.count);
      proxy.count = 0;
    }
  }

  private flush(list: SendList): void {
    list.flush();
    if (list.failed > 0) {
      this.parts.counters.dropMany(Drop.socket_error, list.failed);
      list.failed = 0;
    }
  }

  /** Receives and forwards batches until what the socket handed over is all sent. */
  fromPeers(socket: UdpSocket): void {
    do this.forwardReceived(socket);
    while (socket.pending);
  }

  private forwardReceived(socket: UdpSocket): void {
    const { rx, receivesWhole } = this;
    const { clock, counters, trace } = this.parts;
    const n = socket.receive(rx, RX_OFFSET_L2, receivesWhole);
    if (n === 0) return;
    counters.now = clock[ClockSlot.wallMs]!;
    counters.batch(Direction.udp, n);
    const out = acceptFrames(rx, n, this.ingress, socket.family);
    if (trace.enabled()) trace.record(rx, n, Direction.udp, RX_OFFSET_L2, counters.now);
    if (out > 0) {
      const written = receivesWhole ? this.tap.write(rx.slab, rx.outOffsets, rx.outLengths, out, rx, socket.area) : this.tap.write(rx.slab, rx.outOffsets, rx.outLengths, out);
      if (written < out) counters.dropMany(Drop.tun_write_error, out - written);
    }
  }
}
