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
import { allocateConntrack, Conntrack } from './conntrack.js';
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

/** Runs WARM_CONNECTIONS connections through policyStage with `decider`; returns how many packets it judged. */
export function warmPolicyStage(decider: CompiledPolicy, slotSize: number): number {
  const layout = new CounterLayout(1, 1);
  const counters = new ShardCounters(layout.block(layout.allocate(), 0), layout);
  const ctx: PolicyContext = { conntrack: new Conntrack(allocateConntrack(WARM_TABLE)), decider, counters };
  const batch = new PacketBatch(1, slotSize);
  const pods = decider.podAddressesV4(WARM_PODS);
  // Not pods: a flow the policy knows neither end of.
  pods.push(0x0a000001, 0x0a000002);
  let judged = 0;
  counters.now = Date.now();
  const judge = (direction: number, src: number, dst: number, protocol: number, srcPort: number, dstPort: number, flags: number): void => {
    const off = HEADROOM;
    const transport = protocol === IPPROTO_TCP ? TCP_HEADER : UDP_HEADER;
    writeIpv4Header(batch.slab, off, 20 + transport, judged & 0xffff, 64, protocol, src, dst, true);
    batch.slab.writeUInt16BE(srcPort, off + 20);
    batch.slab.writeUInt16BE(dstPort, off + 22);
    if (protocol === IPPROTO_TCP) {
      batch.slab.writeUInt8(5 << 4, off + 32); // data offset: 5 words
      batch.slab.writeUInt8(flags, off + 33);
    } else batch.slab.writeUInt16BE(UDP_HEADER, off + 24);
    batch.sizes[0] = 20 + transport + (direction === Direction.tun ? 0 : ENCAP_LEN);
    batch.verdicts[0] = FORWARDED;
    policyStage(batch, 1, 0, ctx, direction);
    judged++;
  };
  for (let k = 0; k < WARM_CONNECTIONS; k++) {
    const client = pods[k % pods.length];
    const server = pods[(k * 7 + 1) % pods.length];
    const port = 1024 + (k % 60_000);
    // A connection opened by this node's pod, or by a peer's (its SYN from the UDP side).
    const out = k % 2 === 0 ? Direction.tun : Direction.udp;
    const back = out === Direction.tun ? Direction.udp : Direction.tun;
    counters.now++;
    if (k % 4 === 3) {
      judge(out, client, server, IPPROTO_UDP, port, 53, 0);
      judge(back, server, client, IPPROTO_UDP, 53, port, 0);
      continue;
    }
    judge(out, client, server, IPPROTO_TCP, port, 80, TCP_SYN);
    judge(back, server, client, IPPROTO_TCP, 80, port, TCP_SYN | TCP_ACK);
    judge(out, client, server, IPPROTO_TCP, port, 80, TCP_ACK);
    judge(out, client, server, IPPROTO_TCP, port, 80, k % 3 === 0 ? TCP_FIN | TCP_ACK : TCP_RST);
  }
  return judged;
}
