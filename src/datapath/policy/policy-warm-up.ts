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
import { ENCAP_LEN, HEADROOM, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/constants.js';
import { writeIpv4Header } from '../../packet/ipv4.js';
import { writeIpv6Header } from '../../packet/ipv6.js';
import { FLOW_OWN, FlowTuple, readFlow, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../packet/flow-tuple.js';
import { CounterLayout, Direction, ShardCounters } from '../counters.js';
import { FORWARDED, PacketBatch } from '../packet-batch.js';
import { allocateConntrack, Conntrack, STORE_SPINS, V_FLAGS, V_REASON } from './conntrack.js';
import type { CompiledPolicy, RuleFlow } from './compiled-policy.js';
import { policyStage, type PolicyContext } from './policy-stage.js';

/** Connections run through the stage: past where V8 has optimized every function of the path (see above). */
export const WARM_CONNECTIONS = 10_000;
/** Smaller than the connections, so that the table fills and its eviction path is taken too. */
const WARM_TABLE = 4096;
const TCP_HEADER = 20;
const UDP_HEADER = 8;
const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const ICMP_HEADER = 8;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const ICMP_UNREACHABLE = 3;
const ICMP_FRAGMENTATION_NEEDED = 4;
const ICMPV6_PACKET_TOO_BIG = 2;
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;
/** What an ICMP error quotes of the transport header at least (RFC 792: 64 bits). */
const QUOTED_TRANSPORT = 8;
/** Pods whose addresses the warm-up connections use, when the policy has that many. */
const WARM_PODS = 16;
/** Flows the rules name (CompiledPolicy.ruleFlows), walked in turn, one per connection. */
const WARM_RULE_FLOWS = 64;

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
  private readonly tuple = new FlowTuple();
  private readonly ruleFlows: RuleFlow[];
  private readonly decider: CompiledPolicy;
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
    // And one whose lookup probes past a collision (the probe's loop had no feedback: a first real packet deoptimized there).
    const displaced = decider.displacedAddressV4();
    if (displaced !== undefined) this.pods.push(displaced);
    this.pods6 = decider.podAddressesV6(WARM_PODS);
    this.decider = decider;
    this.ruleFlows = decider.ruleFlows(WARM_RULE_FLOWS);
    this.pods6.push(documentationAddress(1), documentationAddress(2));
  }

  get done(): boolean {
    return this.next >= WARM_CONNECTIONS;
  }

  /** Runs the next `connections` connections (fewer at the end); returns whether all have run. */
  step(connections: number): boolean {
    const end = Math.min(WARM_CONNECTIONS, this.next + connections);
    for (let k = this.next; k < end; k++) {
      // A flow a rule names, through the rule walk: ports and named ports (CompiledPolicy.walkRules).
      if (this.ruleFlows.length > 0) this.decider.walkRules(this.ruleFlows[k % this.ruleFlows.length]);
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
      // One connection in sixteen is then known under an older policy: its next packet decides again (knownVerdict).
      if (k % 16 === 9) this.ageGeneration();
      // Every other time, the ACK twice in one batch: the second is a run of the first's flow.
      this.judge(out, v6, client, server, IPPROTO_TCP, port, 80, TCP_ACK, k % 8 < 4 ? 2 : 1);
      // An ICMP error quoting the client's packet (a router's "fragmentation needed"): readFlow's RELATED path.
      if (k % 8 === 2) this.icmpError(back, v6, server, client, port);
      this.judge(out, v6, client, server, IPPROTO_TCP, port, 80, k % 3 === 0 ? TCP_FIN | TCP_ACK : TCP_RST);
      // A ping beside it (ICMP echo request and reply, its identifier for the ports): without one, a
      // real ping deoptimized readTransport and the table's timeouts (docs/decisions.md).
      if (k % 8 === 1) {
        this.echo(out, v6, client, server, true, port);
        this.echo(back, v6, server, client, false, port);
      }
    }
    this.next = end;
    return this.done;
  }

  /** Judges a batch of `copies` copies of one TCP or UDP packet between the family's pods `src` and `dst` (indexes). */
  private judge(direction: number, v6: boolean, src: number, dst: number, protocol: number, srcPort: number, dstPort: number, flags: number, copies = 1): void {
    const slab = this.batch.slab;
    const transport = protocol === IPPROTO_TCP ? TCP_HEADER : UDP_HEADER;
    const at = this.writeIp(v6, src, dst, protocol, transport);
    slab.writeUInt16BE(srcPort, at);
    slab.writeUInt16BE(dstPort, at + 2);
    if (protocol === IPPROTO_TCP) {
      slab.writeUInt8(5 << 4, at + 12); // data offset: 5 words
      slab.writeUInt8(flags, at + 13);
    } else slab.writeUInt16BE(UDP_HEADER, at + 4);
    this.judgeWritten(direction, v6, at + transport, copies);
  }

  /** Marks the entry of the packet last judged (slot 0) as decided under the generation before the decider's. */
  private ageGeneration(): void {
    const ct = this.ctx.conntrack;
    const b = this.batch;
    if (readFlow(b.slab, HEADROOM, b.slotSize - HEADROOM, this.tuple) !== FLOW_OWN) return;
    ct.setKey(this.tuple, false);
    const now = this.ctx.counters.now | 0;
    const slot = ct.lookup(now);
    if (slot >= 0) ct.update(slot, ct.found[V_FLAGS], this.ctx.decider.generation() - 1, ct.found[V_REASON], now);
  }

  /** An ICMP(v6) echo request or reply (RFC 792, RFC 4443 §4.1) with identifier `id`. */
  private echo(direction: number, v6: boolean, src: number, dst: number, request: boolean, id: number): void {
    const slab = this.batch.slab;
    const at = this.writeIp(v6, src, dst, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, ICMP_HEADER);
    slab.fill(0, at, at + ICMP_HEADER);
    slab[at] = v6 ? (request ? ICMPV6_ECHO_REQUEST : ICMPV6_ECHO_REPLY) : request ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY;
    slab.writeUInt16BE(id, at + 4);
    this.judgeWritten(direction, v6, at + ICMP_HEADER, 1);
  }

  /**
   * From `src` to `dst`: "fragmentation needed" (RFC 792: type 3 code 4) or "packet too big" (RFC 4443
   * §3.2: type 2), quoting the IP header and first 8 bytes of `dst`'s TCP packet to `src` from port `port` to 80.
   */
  private icmpError(direction: number, v6: boolean, src: number, dst: number, port: number): void {
    const slab = this.batch.slab;
    const quotedLength = (v6 ? IPV6_HEADER : IPV4_HEADER) + QUOTED_TRANSPORT;
    const at = this.writeIp(v6, src, dst, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, ICMP_HEADER + quotedLength);
    slab.fill(0, at, at + ICMP_HEADER);
    slab[at] = v6 ? ICMPV6_PACKET_TOO_BIG : ICMP_UNREACHABLE;
    slab[at + 1] = v6 ? 0 : ICMP_FRAGMENTATION_NEEDED;
    const quoted = this.writeIpAt(at + ICMP_HEADER, v6, dst, src, IPPROTO_TCP, TCP_HEADER);
    slab.writeUInt16BE(port, quoted);
    slab.writeUInt16BE(80, quoted + 2);
    slab.writeUInt32BE(0, quoted + 4);
    this.judgeWritten(direction, v6, at + ICMP_HEADER + quotedLength, 1);
  }

  /** Writes slot 0's IP header, from the family's pod `src` to `dst` with `payload` bytes after it; returns where they start. */
  private writeIp(v6: boolean, src: number, dst: number, protocol: number, payload: number): number {
    return this.writeIpAt(HEADROOM, v6, src, dst, protocol, payload);
  }

  private writeIpAt(off: number, v6: boolean, src: number, dst: number, protocol: number, payload: number): number {
    const slab = this.batch.slab;
    if (v6) {
      writeIpv6Header(slab, off, payload, protocol, 64, this.pods6[src], this.pods6[dst]);
      return off + IPV6_HEADER;
    }
    writeIpv4Header(slab, off, IPV4_HEADER + payload, this.judged & 0xffff, 64, protocol, this.pods[src], this.pods[dst], true);
    return off + IPV4_HEADER;
  }

  /** Judges `copies` copies of the packet written at slot 0, up to `end`, that came from `direction`. */
  private judgeWritten(direction: number, v6: boolean, end: number, copies: number): void {
    const b = this.batch;
    for (let i = 0; i < copies; i++) {
      // copyWithin: Buffer's copy() of a part makes a view per call, garbage that makes the worker collect.
      if (i > 0) b.slab.copyWithin(i * b.slotSize + HEADROOM, HEADROOM, end);
      b.sizes[i] = end - HEADROOM + (direction === Direction.tun ? 0 : ENCAP_LEN);
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
