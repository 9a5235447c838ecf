// A shard's policy stage, made fast before the first real connection. V8 runs a function as
// bytecode, then baseline code, and optimizes it only after many calls; a first packet takes a
// path (the decider, the table's insert under its lock) that only first packets take, so on a node
// that opens a few connections a second that path stayed unoptimized for thousands of them, and
// an optimized stage that met its first new flow deoptimized (insufficient type feedback). Measured
// (docs/decisions.md, "A new connection's first packet"): a connection's two packets through a cold
// stage took 70-300 µs of CPU for the first 3,000 connections, 3 µs once warm. So each shard runs
// connections of every kind the stage tells apart through it at start, with the shard's own decider
// class and the addresses of real pods, against a table and counters of its own: the shared table,
// the shard's counters and the trace see nothing of it.
import { ENCAP_LEN, HEADROOM, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/constants.js';
import { writeIpv4Header } from '../../packet/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../packet/flow-tuple.js';
import { CounterLayout, Direction, ShardCounters } from '../counters.js';
import { FORWARDED, PacketBatch } from '../packet-batch.js';
import { allocateConntrack, Conntrack, STORE_SPINS } from './conntrack.js';
import type { CompiledPolicy } from './compiled-policy.js';
import { policyStage, type PolicyContext } from './policy-stage.js';

/** Connections run through the stage: past where V8 has optimized every function of the path (see above). */
export const WARM_CONNECTIONS = 10_000;
/** Smaller than the connections, so that the table fills and its eviction path is taken too. */
const WARM_TABLE = 4096;
const TCP_HEADER = 20;
const UDP_HEADER = 8;
/** Pods whose addresses the warm-up connections use, when the policy has that many. */
const WARM_PODS = 16;

/**
 * WARM_CONNECTIONS connections through policyStage with one decider, run all at once (at start,
 * before traffic) or a slice at a time between a shard's batches (a later warm-up must not stall
 * forwarding for its ~0.4 s).
 */
export class PolicyWarmUp {
  /** Packets judged so far. */
  judged = 0;
  private next = 0;
  private readonly ctx: PolicyContext;
  private readonly batch: PacketBatch;
  private readonly pods: number[];

  constructor(decider: CompiledPolicy, slotSize: number) {
    const layout = new CounterLayout(1, 1);
    const counters = new ShardCounters(layout.block(layout.allocate(), 0), layout);
    counters.now = Date.now();
    this.ctx = { conntrack: new Conntrack(allocateConntrack(WARM_TABLE)), decider, counters };
    this.batch = new PacketBatch(2, slotSize);
    this.pods = decider.podAddressesV4(WARM_PODS);
    // Not pods: a flow the policy knows neither end of.
    this.pods.push(0x0a000001, 0x0a000002);
  }

  get done(): boolean {
    return this.next >= WARM_CONNECTIONS;
  }

  /** Runs the next `connections` connections (fewer at the end); returns whether all have run. */
  step(connections: number): boolean {
    const pods = this.pods;
    const end = Math.min(WARM_CONNECTIONS, this.next + connections);
    for (let k = this.next; k < end; k++) {
      const client = pods[k % pods.length];
      const server = pods[(k * 7 + 1) % pods.length];
      const port = 1024 + (k % 60_000);
      // A connection opened by this node's pod, or by a peer's (its SYN from the UDP side).
      const out = k % 2 === 0 ? Direction.tun : Direction.udp;
      const back = out === Direction.tun ? Direction.udp : Direction.tun;
      this.ctx.counters.now++;
      // One store in eight takes the path of a store that found the lock held past its spin.
      this.ctx.conntrack.storeSpins = k % 8 === 5 ? 0 : STORE_SPINS;
      if (k % 4 === 3) {
        this.judge(out, client, server, IPPROTO_UDP, port, 53, 0);
        this.judge(back, server, client, IPPROTO_UDP, 53, port, 0);
        continue;
      }
      this.judge(out, client, server, IPPROTO_TCP, port, 80, TCP_SYN);
      this.judge(back, server, client, IPPROTO_TCP, 80, port, TCP_SYN | TCP_ACK);
      // Every other time, the ACK twice in one batch: the second is a run of the first's flow.
      this.judge(out, client, server, IPPROTO_TCP, port, 80, TCP_ACK, k % 8 < 4 ? 2 : 1);
      this.judge(out, client, server, IPPROTO_TCP, port, 80, k % 3 === 0 ? TCP_FIN | TCP_ACK : TCP_RST);
    }
    this.next = end;
    return this.done;
  }

  /** Judges a batch of `copies` copies of one packet. */
  private judge(direction: number, src: number, dst: number, protocol: number, srcPort: number, dstPort: number, flags: number, copies = 1): void {
    const b = this.batch;
    const off = HEADROOM;
    const transport = protocol === IPPROTO_TCP ? TCP_HEADER : UDP_HEADER;
    writeIpv4Header(b.slab, off, 20 + transport, this.judged & 0xffff, 64, protocol, src, dst, true);
    b.slab.writeUInt16BE(srcPort, off + 20);
    b.slab.writeUInt16BE(dstPort, off + 22);
    if (protocol === IPPROTO_TCP) {
      b.slab.writeUInt8(5 << 4, off + 32); // data offset: 5 words
      b.slab.writeUInt8(flags, off + 33);
    } else b.slab.writeUInt16BE(UDP_HEADER, off + 24);
    for (let i = 0; i < copies; i++) {
      if (i > 0) b.slab.copy(b.slab, i * b.slotSize + off, off, off + 20 + transport);
      b.sizes[i] = 20 + transport + (direction === Direction.tun ? 0 : ENCAP_LEN);
      b.verdicts[i] = FORWARDED;
    }
    policyStage(b, copies, 0, this.ctx, direction);
    this.judged += copies;
  }
}

/** Runs all WARM_CONNECTIONS connections through policyStage with `decider` at once; returns how many packets it judged. */
export function warmPolicyStage(decider: CompiledPolicy, slotSize: number): number {
  const warmUp = new PolicyWarmUp(decider, slotSize);
  warmUp.step(WARM_CONNECTIONS);
  return warmUp.judged;
}
