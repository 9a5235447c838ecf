// A shard's policy stage, made fast before the first real connection. V8 runs a function as
// bytecode, then baseline code, and optimizes it only after many calls; a first packet takes a
// path (the decider, the table's insert under its lock) that only first packets take, so on a node
// that opens a few connections a second that path stayed unoptimized for thousands of them, and
// an optimized stage that met its first new flow deoptimized (insufficient type feedback). Measured
// (docs/decisions.md, "A new connection's first packet"): a connection's two packets through a cold
// stage took 70-300 µs of CPU for the first 3,000 connections, 3 µs once warm. So each shard runs
// connections of every kind the stage tells apart through it at start, in both address families
// (readFlow, the key and the run shortcut take other paths for IPv6), with the shard's own decider
// class and the addresses of real pods, against a table and counters of its own: the shared table,
// the shard's counters and the trace see nothing of it.
import { ENCAP_LEN, HEADROOM, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/constants.js';
import { writeIpv4Header } from '../../packet/ipv4.js';
import { writeIpv6Header } from '../../packet/ipv6.js';
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
const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
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
  private readonly pods6: Uint8Array[];
  /** Packets judged so far, IPv6 ones. */
  judgedV6 = 0;

  constructor(decider: CompiledPolicy, slotSize: number) {
    const layout = new CounterLayout(1, 1);
    const counters = new ShardCounters(layout.block(layout.allocate(), 0), layout);
    counters.now = Date.now();
    this.ctx = { conntrack: new Conntrack(allocateConntrack(WARM_TABLE)), decider, counters };
    this.batch = new PacketBatch(2, slotSize);
    this.pods = decider.podAddressesV4(WARM_PODS);
    // Not pods: a flow the policy knows neither end of.
    this.pods.push(0x0a000001, 0x0a000002);
    this.pods6 = decider.podAddressesV6(WARM_PODS);
    this.pods6.push(documentationAddress(1), documentationAddress(2));
  }

  get done(): boolean {
    return this.next >= WARM_CONNECTIONS;
  }

  /** Runs the next `connections` connections (fewer at the end); returns whether all have run. */
  step(connections: number): boolean {
    const end = Math.min(WARM_CONNECTIONS, this.next + connections);
    for (let k = this.next; k < end; k++) {
      // Runs of 8 connections alternate the families, so each family meets every kind below (k % 8).
      const v6 = (k >> 3) % 2 === 1;
      const count = v6 ? this.pods6.length : this.pods.length;
      const client = k % count;
      const server = (k * 7 + 1) % count;
      const port = 1024 + (k % 60_000);
      // A connection opened by this node's pod, or by a peer's (its SYN from the UDP side).
      const out = k % 2 === 0 ? Direction.tun : Direction.udp;
      const back = out === Direction.tun ? Direction.udp : Direction.tun;
      this.ctx.counters.now++;
      // One store in eight takes the path of a store that found the lock held past its spin.
      this.ctx.conntrack.storeSpins = k % 8 === 5 ? 0 : STORE_SPINS;
      if (k % 4 === 3) {
        // Every other time, the request twice in one batch: a run of UDP.
        this.judge(out, v6, client, server, IPPROTO_UDP, port, 53, 0, k % 8 < 4 ? 2 : 1);
        this.judge(back, v6, server, client, IPPROTO_UDP, 53, port, 0);
        continue;
      }
      this.judge(out, v6, client, server, IPPROTO_TCP, port, 80, TCP_SYN);
      this.judge(back, v6, server, client, IPPROTO_TCP, 80, port, TCP_SYN | TCP_ACK);
      // Every other time, the ACK twice in one batch: the second is a run of the first's flow.
      this.judge(out, v6, client, server, IPPROTO_TCP, port, 80, TCP_ACK, k % 8 < 4 ? 2 : 1);
      this.judge(out, v6, client, server, IPPROTO_TCP, port, 80, k % 3 === 0 ? TCP_FIN | TCP_ACK : TCP_RST);
    }
    this.next = end;
    return this.done;
  }

  /** Judges a batch of `copies` copies of one packet between the family's pods `src` and `dst` (indexes). */
  private judge(direction: number, v6: boolean, src: number, dst: number, protocol: number, srcPort: number, dstPort: number, flags: number, copies = 1): void {
    const b = this.batch;
    const off = HEADROOM;
    const transport = protocol === IPPROTO_TCP ? TCP_HEADER : UDP_HEADER;
    const ip = v6 ? IPV6_HEADER : IPV4_HEADER;
    if (v6) writeIpv6Header(b.slab, off, transport, protocol, 64, this.pods6[src], this.pods6[dst]);
    else writeIpv4Header(b.slab, off, ip + transport, this.judged & 0xffff, 64, protocol, this.pods[src], this.pods[dst], true);
    const at = off + ip;
    b.slab.writeUInt16BE(srcPort, at);
    b.slab.writeUInt16BE(dstPort, at + 2);
    if (protocol === IPPROTO_TCP) {
      b.slab.writeUInt8(5 << 4, at + 12); // data offset: 5 words
      b.slab.writeUInt8(flags, at + 13);
    } else b.slab.writeUInt16BE(UDP_HEADER, at + 4);
    for (let i = 0; i < copies; i++) {
      if (i > 0) b.slab.copy(b.slab, i * b.slotSize + off, off, at + transport);
      b.sizes[i] = ip + transport + (direction === Direction.tun ? 0 : ENCAP_LEN);
      b.verdicts[i] = FORWARDED;
    }
    policyStage(b, copies, 0, this.ctx, direction);
    this.judged += copies;
    if (v6) this.judgedV6 += copies;
  }
}

/** 2001:db8::n (RFC 3849, documentation): an IPv6 address the policy knows as no pod. */
function documentationAddress(n: number): Uint8Array {
  const a = new Uint8Array(16);
  a.set([0x20, 0x01, 0x0d, 0xb8]);
  a[15] = n;
  return a;
}

/** Runs all WARM_CONNECTIONS connections through policyStage with `decider` at once; returns how many packets it judged. */
export function warmPolicyStage(decider: CompiledPolicy, slotSize: number): number {
  const warmUp = new PolicyWarmUp(decider, slotSize);
  warmUp.step(WARM_CONNECTIONS);
  return warmUp.judged;
}
