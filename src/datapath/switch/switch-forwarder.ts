// Switch mode: Ethernet frames from the TAP (a port of the node's bridge) are switched to the
// peer that has their destination or flooded to all; frames from peers go to the TAP.
import { addon, IO_COALESCE, IO_ETHERNET, IO_SEGMENT, IO_VNET_HDR, SEGMENT_SCRATCH_EXTRA, SEGMENT_STATE_WORDS, SegmentState } from '../../native/addon.js';
import { ETH_HEADER_LEN, HEADROOM, VXLAN_HEADER_LEN } from '../../packet/constants.js';
import { Direction } from '../counters.js';
import { Drop } from '../drop-reasons.js';
import type { Forwarder, ShardParts } from '../forwarder.js';
import { PacketBatch } from '../packet-batch.js';
import { RouteLookup } from '../route-lookup.js';
import type { SwitchConfig } from '../shard-config.js';
import type { TableSnapshot } from '../shared-table.js';
import { Fdb } from './fdb.js';
import { NeighbourProxy } from './neighbour-proxy.js';
import { Neighbours } from './neighbours.js';
import { SendList } from './send-list.js';
import { forwardFrames, type EgressContext } from './switch-egress.js';
import { acceptFrames, RX_OFFSET_L2, type IngressContext } from './switch-ingress.js';
import { SwitchPeers } from './switch-peers.js';

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
  /** The native side's count of write syscalls to the TAP. */
  private readonly writes = new Int32Array(1);
  /** readBatch/writeBatch flags for our TAP queue; where a TSO frame waits while it is cut. */
  private readonly readFlags: number;
  private readonly writeFlags: number;
  private readonly segmentScratch: Buffer;
  private readonly segmentState = new Int32Array(SEGMENT_STATE_WORDS);

  constructor(
    private readonly parts: ShardParts,
    sw: SwitchConfig,
  ) {
    const { cfg, counters } = parts;
    this.readFlags = cfg.tunOffload ? IO_VNET_HDR | IO_SEGMENT | IO_ETHERNET : 0;
    this.writeFlags = cfg.tunOffload ? IO_VNET_HDR | IO_COALESCE | IO_ETHERNET : 0;
    this.segmentScratch = Buffer.alloc(cfg.tunOffload ? cfg.slotSize + SEGMENT_SCRATCH_EXTRA : 0);
    this.tx = new PacketBatch(cfg.batchSize, cfg.slotSize);
    this.rx = new PacketBatch(cfg.batchSize, cfg.slotSize);
    this.peers = new SwitchPeers(cfg.maxPeers);
    const fdb = new Fdb(sw.fdb);
    this.proxy = sw.arpProxy ? new NeighbourProxy(cfg.batchSize, new Neighbours(sw.neighbours, sw.neighboursMax), fdb) : undefined;
    this.egress = {
      fdb, peers: this.peers, proxy: this.proxy, counters, vni: cfg.vni,
      maxFrameV4: cfg.maxInnerV4 + ETH_HEADER_LEN, maxFrameV6: cfg.maxInnerV6 + ETH_HEADER_LEN,
      send4: cfg.udpFd >= 0 ? new SendList(cfg.udpFd, 4, cfg.port, this.tx.slab) : undefined,
      send6: cfg.udp6Fd >= 0 ? new SendList(cfg.udp6Fd, 6, cfg.port, this.tx.slab) : undefined,
    };
    this.ingress = { routes: this.routes, fdb, proxy: this.proxy, counters, vni: cfg.vni, maxFrame: sw.maxFrame };
  }

  adopt(table: TableSnapshot): void {
    this.routes.rebuild(table);
    this.peers.rebuild(table);
  }

  /** Reads and forwards batches until the segments of a TSO frame are all sent. */
  fromTun(): void {
    const state = this.segmentState;
    do this.forwardBatch();
    while (state[SegmentState.pending] > 0);
    if (state[SegmentState.tsoPackets] > 0) {
      this.parts.counters.tsoPackets(state[SegmentState.tsoPackets]);
      state[SegmentState.tsoPackets] = 0;
    }
  }

  private forwardBatch(): void {
    const { tx, egress } = this;
    const { cfg, counters, trace } = this.parts;
    const n = addon.readBatch(cfg.tunFd, tx.slab, tx.slotSize, HEADROOM, tx.capacity, tx.sizes, this.readFlags, this.segmentScratch, this.segmentState);
    if (n === 0) return;
    counters.now = Date.now();
    counters.batch(Direction.tun, n);
    forwardFrames(tx, n, egress);
    if (trace.enabled()) trace.record(tx, n, Direction.tun, TRACE_TX_OFFSET, counters.now);
    if (egress.send4) this.flush(egress.send4);
    if (egress.send6) this.flush(egress.send6);
    const proxy = this.proxy;
    if (proxy && proxy.count > 0) {
      addon.writeBatch(cfg.tunFd, proxy.slab, proxy.offsets, proxy.lengths, proxy.count, this.readFlags & IO_VNET_HDR, this.writes);
      proxy.count = 0;
      this.countWrites();
    }
  }

  private flush(list: SendList): void {
    list.flush();
    if (list.failed > 0) {
      this.parts.counters.dropMany(Drop.socket_error, list.failed);
      list.failed = 0;
    }
  }

  fromPeers(fd: number, family: 4 | 6): void {
    const { rx } = this;
    const { cfg, counters, trace } = this.parts;
    const n = addon.recvBatch(fd, rx.slab, rx.slotSize, RX_OFFSET_L2, rx.capacity, rx.sizes, rx.addrs);
    if (n === 0) return;
    counters.now = Date.now();
    counters.batch(Direction.udp, n);
    const out = acceptFrames(rx, n, this.ingress, family);
    if (trace.enabled()) trace.record(rx, n, Direction.udp, RX_OFFSET_L2, counters.now);
    if (out > 0) {
      const written = addon.writeBatch(cfg.tunFd, rx.slab, rx.outOffsets, rx.outLengths, out, this.writeFlags, this.writes);
      if (written < out) counters.dropMany(Drop.tun_write_error, out - written);
      this.countWrites();
    }
  }

  private countWrites(): void {
    this.parts.counters.tunWrites(this.writes[0]);
    this.writes[0] = 0;
  }
}
