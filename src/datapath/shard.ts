// One shard: a worker thread that owns one TUN/TAP queue and one UDP socket per underlay family
// and loops
//   wait → read a batch → forward it in place (router or switch stages) → write the batch.
// It never awaits: an epoll wait blocks in native code until a fd is ready or the main thread wakes it.
// With --busy-poll, the wait after a batch of traffic spins (polls without blocking, yielding the
// core between tries) for a while before it sleeps, so that a reply arriving soon after finds it
// awake (no wake-up, no context switch) while the pod it answers still gets the core.
import { getHeapStatistics, GCProfiler } from 'node:v8';
import { parentPort, receiveMessageOnPort } from 'node:worker_threads';
import { addon } from '../native/addon.js';
import { batchClock, ClockSlot } from './batch-clock.js';
import { ControlWord, type ShardConfig } from './shard-config.js';
import { CounterLayout, ShardCounters } from './counters.js';
import type { Forwarder } from './forwarder.js';
import { CompiledPolicy } from './policy/compiled-policy.js';
import { WarmUpSchedule } from './policy/warm-up-schedule.js';
import { RouterForwarder } from './router-forwarder.js';
import { isOwnPodsUpdate } from './same-node-hairpin.js';
import { SharedTableReader } from './shared-table.js';
import { SwitchForwarder } from './switch/switch-forwarder.js';
import type { GsoChange } from './gso-changes.js';
import type { PolicyAdopted } from './policy-adoption.js';
import type { ShardPolicyWarmed } from './shard-policy-warmed.js';
import type { ShardRunning } from './shard-running.js';
import { TraceWriter } from './trace-ring.js';
import { UdpSocket, type GsoReporter } from './udp-socket.js';

const READY_TUN = 1;
const READY_UDP = 2;
const READY_UDP6 = 4;
const READY_WAKE = 8;
const READY_TRAFFIC = READY_TUN | READY_UDP | READY_UDP6;
const IDLE_POLL_MS = 1000;
const MEMORY_EVERY_MS = 1000;
/** Warm-up connections run between two looks at the queues: about a millisecond of CPU. */
const WARM_SLICE = 16;

export class Shard {
  /** An epoll set over the TUN queue, the UDP sockets and the wake eventfd: bits READY_*. */
  private readonly events: number;
  private readonly control: Int32Array;
  private readonly table: SharedTableReader;
  private readonly counters: ShardCounters;
  private readonly forwarder: Forwarder;
  private readonly udp: UdpSocket | undefined;
  private readonly udp6: UdpSocket | undefined;
  private version = -1;
  private policyVersion = 0;
  /** The policy stage's warm-ups (with the policy on): at start, and with the first policy that knows pods, a slice per loop. */
  private readonly warmUps: WarmUpSchedule | undefined;
  /** Garbage collections are counted by a profiler, restarted at each report (its stop() hands over the list). */
  private gc = new GCProfiler();
  private gcs = 0;
  private memoryAt = 0;
  private readonly busyPollUs: number;
  /** The time of the last wake, written by the wait: the stages' batch time. */
  private readonly clock = batchClock();

  constructor(private readonly cfg: ShardConfig) {
    this.events = addon.epollOpen(Int32Array.of(cfg.tunFd, cfg.udpFd, cfg.udp6Fd, cfg.wakeFd), 4); // leaves out a -1
    this.control = new Int32Array(cfg.control);
    this.busyPollUs = cfg.busyPollUs;
    this.table = new SharedTableReader(cfg.table);
    const layout = new CounterLayout(cfg.workers, cfg.maxPeers);
    this.counters = new ShardCounters(layout.block(cfg.counters, cfg.index), layout);
    // Rare (a route that stops or starts segmenting): the main thread logs it.
    const report: GsoReporter = (family, on, errno, retryMs) =>
      parentPort?.postMessage({ type: 'udp-gso', worker: cfg.index, family, on, errno, retryMs } satisfies GsoChange);
    // A kernel peer's TSO packet arrives without its segment size: cut at what both the underlay
    // and our pods' path take (the device's MTU is smaller with --mtu, or a dual-stack underlay).
    const receiveMax = (maxInner: number) => Math.min(maxInner, cfg.deviceMtu);
    this.udp = cfg.udpFd >= 0 ? new UdpSocket(cfg.udpFd, 4, cfg.port, receiveMax(cfg.maxInnerV4), this.counters, report, cfg.sendFds, cfg.tunnelGso) : undefined;
    this.udp6 = cfg.udp6Fd >= 0 ? new UdpSocket(cfg.udp6Fd, 6, cfg.port, receiveMax(cfg.maxInnerV6), this.counters, report, cfg.send6Fds, cfg.tunnelGso) : undefined;
    const parts = { cfg, clock: this.clock, counters: this.counters, trace: new TraceWriter(cfg.trace, cfg.index), udp: this.udp, udp6: this.udp6 };
    this.forwarder = cfg.switch ? new SwitchForwarder(parts, cfg.switch) : new RouterForwarder(parts);
    // Before the first real packet: a connection's first packet would otherwise meet unoptimized code.
    if (cfg.policy) {
      this.warmUps = new WarmUpSchedule(cfg.slotSize, () => parentPort?.postMessage({ type: 'shard-policy-warmed', worker: cfg.index } satisfies ShardPolicyWarmed));
      this.warmUps.atStart(new CompiledPolicy(cfg.policy.compiled));
    }
  }

  /** Runs until the main thread sets the stop word and wakes us. */
  run(): void {
    const { clock } = this;
    this.gc.start();
    this.reportMemory(clock[ClockSlot.monotonicMs]!);
    parentPort?.postMessage({ type: 'shard-running', worker: this.cfg.index } satisfies ShardRunning);
    let spinUs = 0;
    for (;;) {
      // While a warm-up is left, the poll only looks: its next slice runs after whatever is ready.
      const ready = addon.epollWait(this.events, this.warmUps?.pending ? 0 : IDLE_POLL_MS, spinUs, clock);
      if (ready & READY_WAKE) addon.eventfdDrain(this.cfg.wakeFd);
      if (Atomics.load(this.control, ControlWord.stop) !== 0) {
        addon.close(this.events);
        return;
      }
      this.syncTable();
      this.syncPolicy();
      if (ready & READY_TUN) this.forwarder.fromTun();
      if ((ready & READY_UDP) !== 0 && this.udp) this.forwarder.fromPeers(this.udp);
      if ((ready & READY_UDP6) !== 0 && this.udp6) this.forwarder.fromPeers(this.udp6);
      this.warmUps?.step(WARM_SLICE);
      spinUs = (ready & READY_TRAFFIC) !== 0 ? this.busyPollUs : 0;
      if (clock[ClockSlot.monotonicMs]! - this.memoryAt >= MEMORY_EVERY_MS) this.reportMemory(clock[ClockSlot.monotonicMs]!);
    }
  }

  /** Once a second, never per packet: what the heap holds and how often V8 had to collect. */
  private reportMemory(now: number): void {
    this.memoryAt = now;
    this.gcs += this.gc.stop().statistics.length;
    this.gc = new GCProfiler();
    this.gc.start();
    const heap = getHeapStatistics();
    this.counters.memory(heap.used_heap_size, heap.total_heap_size, this.gcs);
  }

  /** The newest compiled policy posted since the last look (those before it are skipped), and our pod CIDRs when they changed. */
  private syncPolicy(): void {
    const policy = this.cfg.policy;
    if (!policy) return;
    const version = Atomics.load(this.control, ControlWord.policy);
    if (version === this.policyVersion) return;
    this.policyVersion = version; // read before the port: a policy posted after it announces itself again
    let latest: SharedArrayBuffer | undefined;
    for (let m = receiveMessageOnPort(policy.updates); m; m = receiveMessageOnPort(policy.updates)) {
      if (isOwnPodsUpdate(m.message)) this.forwarder.adoptOwnPods?.(m.message.pods);
      else latest = m.message as SharedArrayBuffer;
    }
    if (!latest || !this.forwarder.adoptPolicy) return;
    const compiled = new CompiledPolicy(latest);
    this.forwarder.adoptPolicy(compiled);
    parentPort?.postMessage({ type: 'policy-adopted', worker: this.cfg.index, generation: compiled.generation(), at: Date.now() } satisfies PolicyAdopted);
    this.warmUps?.adopted(compiled);
  }

  private syncTable(): void {
    const version = this.table.version();
    if (version === this.version) return;
    const snapshot = this.table.snapshot();
    if (!snapshot) return;
    this.forwarder.adopt(snapshot);
    this.version = snapshot.version;
  }
}
