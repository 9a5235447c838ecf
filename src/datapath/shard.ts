// One shard: a worker thread that owns one TUN queue and one UDP socket and loops
//   wait → read a batch → encap or decap in place → write the batch.
// It never awaits: poll() blocks in native code until a fd is ready or the main thread wakes it.
import { getHeapStatistics, GCProfiler } from 'node:v8';
import { addon } from '../native/addon.js';
import { ControlWord, type ShardConfig } from './shard-config.js';
import { CounterLayout, Direction, ShardCounters } from './counters.js';
import { decapsulate, RX_OFFSET, type DecapContext } from './decapsulate.js';
import { Drop } from './drop-reasons.js';
import { encapsulate, type EncapContext } from './encapsulate.js';
import { HEADROOM } from '../packet/constants.js';
import { IcmpReplies } from './icmp-replies.js';
import { PacketBatch } from './packet-batch.js';
import { RouteLookup } from './route-lookup.js';
import { SharedTableReader } from './shared-table.js';
import { TraceWriter } from './trace-ring.js';

const READY_TUN = 1;
const READY_UDP = 2;
const READY_UDP6 = 4;
const READY_WAKE = 8;
const IDLE_POLL_MS = 1000;
const MEMORY_EVERY_MS = 1000;

export class Shard {
  private readonly tx: PacketBatch;
  private readonly rx: PacketBatch;
  private readonly fds: Int32Array;
  private readonly control: Int32Array;
  private readonly table: SharedTableReader;
  private readonly counters: ShardCounters;
  private readonly routes = new RouteLookup();
  private readonly icmp: IcmpReplies;
  private readonly encap: EncapContext;
  private readonly decap: DecapContext;
  private readonly trace: TraceWriter;
  /** Garbage collections are counted by a profiler, restarted at each report (its stop() hands over the list). */
  private gc = new GCProfiler();
  private gcs = 0;
  private memoryAt = 0;

  constructor(private readonly cfg: ShardConfig) {
    this.tx = new PacketBatch(cfg.batchSize, cfg.slotSize);
    this.rx = new PacketBatch(cfg.batchSize, cfg.slotSize);
    this.fds = Int32Array.of(cfg.tunFd, cfg.udpFd, cfg.udp6Fd, cfg.wakeFd); // poll() skips a -1
    this.control = new Int32Array(cfg.control);
    this.table = new SharedTableReader(cfg.table);
    const layout = new CounterLayout(cfg.workers, cfg.maxPeers);
    this.counters = new ShardCounters(layout.block(cfg.counters, cfg.index), layout);
    this.icmp = new IcmpReplies(cfg.batchSize, cfg.tunAddressV4, Uint8Array.from(cfg.tunAddressV6));
    const ownMac = Uint8Array.from(cfg.ownMac);
    const ownMacV6 = Uint8Array.from(cfg.ownMacV6);
    this.encap = { routes: this.routes, counters: this.counters, icmp: this.icmp, vni: cfg.vni, ownMac, ownMacV6, maxInnerV4: cfg.maxInnerV4, maxInnerV6: cfg.maxInnerV6 };
    this.decap = { routes: this.routes, counters: this.counters, vni: cfg.vni, ownMac, ownMacV6 };
    this.trace = new TraceWriter(cfg.trace, cfg.index);
  }

  /** Runs until the main thread sets the stop word and wakes us. */
  run(): void {
    this.gc.start();
    for (;;) {
      const ready = addon.poll(this.fds, 4, IDLE_POLL_MS);
      if (ready & READY_WAKE) addon.eventfdDrain(this.cfg.wakeFd);
      if (Atomics.load(this.control, ControlWord.stop) !== 0) return;
      this.syncTable();
      if (ready & READY_TUN) this.fromTun();
      if (ready & READY_UDP) this.fromPeers(this.cfg.udpFd, 4);
      if (ready & READY_UDP6) this.fromPeers(this.cfg.udp6Fd, 6);
      const now = performance.now();
      if (now - this.memoryAt >= MEMORY_EVERY_MS) this.reportMemory(now);
    }
  }

  /** Once a second, never per packet: what the heap holds and how often V8 had to collect. */
  private reportMemory(now: number): void {
    this.memoryAt = now;
    this.gcs += this.gc.stop().statistics.length;
    this.gc = new GCProfiler();
    this.gc.start();
    this.counters.memory(getHeapStatistics().used_heap_size, this.gcs);
  }

  private syncTable(): void {
    if (this.table.version() === this.routes.version) return;
    const snapshot = this.table.snapshot();
    if (snapshot) this.routes.rebuild(snapshot);
  }

  private fromTun(): void {
    const { tx, cfg } = this;
    const n = addon.readBatch(cfg.tunFd, tx.slab, tx.slotSize, HEADROOM, tx.capacity, tx.sizes);
    if (n === 0) return;
    const counters = this.counters;
    counters.now = Date.now();
    counters.batch(Direction.tun, n);
    this.icmp.tick(performance.now());
    const out = encapsulate(tx, n, this.encap);
    if (this.trace.enabled()) this.trace.record(tx, n, Direction.tun, HEADROOM, counters.now);
    if (out > 0) {
      const sent = addon.sendBatch(cfg.udpFd, 4, tx.slab, tx.outOffsets, tx.outLengths, tx.outAddrs, cfg.port, out);
      if (sent < out) counters.dropMany(Drop.socket_error, out - sent);
    }
    if (tx.out6 > 0) {
      const sent = addon.sendBatch(cfg.udp6Fd, 6, tx.slab, tx.outOffsets6, tx.outLengths6, tx.outAddrs6, cfg.port, tx.out6);
      if (sent < tx.out6) counters.dropMany(Drop.socket_error, tx.out6 - sent);
    }
    const icmp = this.icmp;
    if (icmp.count > 0) {
      addon.writeBatch(cfg.tunFd, icmp.slab, icmp.offsets, icmp.lengths, icmp.count);
      icmp.count = 0;
    }
  }

  private fromPeers(fd: number, family: 4 | 6): void {
    const { rx, cfg } = this;
    const n = addon.recvBatch(fd, rx.slab, rx.slotSize, RX_OFFSET, rx.capacity, rx.sizes, rx.addrs);
    if (n === 0) return;
    const counters = this.counters;
    counters.now = Date.now();
    counters.batch(Direction.udp, n);
    const out = decapsulate(rx, n, this.decap, family);
    if (this.trace.enabled()) this.trace.record(rx, n, Direction.udp, RX_OFFSET, counters.now);
    if (out > 0) {
      const written = addon.writeBatch(cfg.tunFd, rx.slab, rx.outOffsets, rx.outLengths, out);
      if (written < out) this.counters.dropMany(Drop.tun_write_error, out - written);
    }
  }
}
