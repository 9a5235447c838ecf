// The policy stage's cost per packet, in one process: encapsulate alone, then encapsulate and the
// policy stage over one established flow (a stream: one lookup per batch), over 64 established
// flows (a lookup per packet, a refresh once a second per flow) and over first packets
// (the decider asked, an entry stored), in interleaved rounds, batches of 64 UDP packets, a
// connection table holding 20,000 other connections. The decider here answers at once and
// allocates nothing: the compiled policy's own cost is the engine's to measure. Garbage
// collections during an untimed run of each variant are counted: a stage that allocated even a few
// bytes per packet would collect every few thousand batches (V8's young generation is a few MiB).
//   npm run build && node dist/bench/conntrack.js [--batches 20000] [--rounds 5]
import { CounterLayout, Direction, ShardCounters } from '../src/datapath/counters.js';
import { encapsulate, type EncapContext } from '../src/datapath/encapsulate.js';
import { IcmpReplies } from '../src/datapath/icmp-replies.js';
import { PacketBatch } from '../src/datapath/packet-batch.js';
import { allocateConntrack, Conntrack, conntrackBytes } from '../src/datapath/policy/conntrack.js';
import { policyStage, type PolicyContext } from '../src/datapath/policy/policy-stage.js';
import { RouteLookup } from '../src/datapath/route-lookup.js';
import { allocateTable, SharedTableReader, SharedTableWriter } from '../src/datapath/shared-table.js';
import { HEADROOM, IPPROTO_UDP } from '../src/packet/constants.js';
import { writeIpv4Header } from '../src/packet/ipv4.js';
import { median } from '../src/lab/iperf.js';
import { InstantDecider } from './instant-decider.js';
import { interleavedRounds } from './interleaved-rounds.js';
import { benchFlags, whole } from './bench-options.js';

const { batches: BATCHES, rounds: ROUNDS } = benchFlags({
  module: import.meta.url,
  flags: {
    batches: whole('batches of 64 packets per variant per round', { min: 1, max: 10_000_000, default: 20_000 }),
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 5 }),
  },
});
const BATCH = 64;
const SLOT = 1600;
const MAX = 131_072;
const OTHERS = 20_000;
const CLIENT = 0x0a010002; // 10.1.0.2, a pod of this node
const SERVER = 0x0a020007; // 10.2.0.7, a pod of the peer

function encapContext(): EncapContext {
  const layout = new CounterLayout(1, 2);
  const counters = new ShardCounters(layout.block(layout.allocate(), 0), layout);
  const sab = allocateTable(1);
  new SharedTableWriter(sab).publish([{ family: 4, prefix: Buffer.from([10, 2, 0, 0]), prefixLen: 24, underlayFamily: 4, underlay: Buffer.from([192, 0, 2, 2]), vtepMAC: Buffer.alloc(6, 2), peerId: 1 }]);
  const routes = new RouteLookup();
  routes.rebuild(new SharedTableReader(sab).snapshot()!);
  const mac = Uint8Array.from([0x0a, 0x58, 0, 0, 0, 1]);
  return { routes, counters, icmp: new IcmpReplies(BATCH, CLIENT, new Uint8Array(16)), vni: 1, ownMac: mac, ownMacV6: mac, maxInnerV4: 1450, maxInnerV6: 1430 };
}

/** 1,000-byte UDP datagrams from CLIENT to SERVER:80, source ports `first` + k. */
function fill(b: PacketBatch, first: number, src: number): void {
  for (let k = 0; k < BATCH; k++) {
    const off = k * SLOT + HEADROOM;
    writeIpv4Header(b.slab, off, 1000, k, 64, IPPROTO_UDP, src, SERVER, true);
    b.slab.writeUInt16BE((first + k) & 0xffff, off + 20);
    b.slab.writeUInt16BE(80, off + 22);
    b.slab.writeUInt16BE(980, off + 24);
    b.sizes[k] = 1000;
  }
}

const encap = encapContext();
const counters = encap.counters;
const decider = new InstantDecider();
const conntrack = new Conntrack(allocateConntrack(MAX));
const policy: PolicyContext = { conntrack, decider, counters };
const batch = new PacketBatch(BATCH, SLOT);
let now = Date.now();

// Other connections in the table, as on a busy node.
fill(batch, 0, 0x0a010100);
for (let k = 0; k < OTHERS / BATCH; k++) {
  fill(batch, k * BATCH, 0x0a010100 + (k >> 8));
  counters.now = now;
  policyStage(batch, BATCH, encapsulate(batch, BATCH, encap), policy, Direction.tun);
}

const variants = ['encap', 'stream', 'established', 'first'] as const;
type Variant = (typeof variants)[number];
const NAMES: Record<Variant, string> = { encap: 'encapsulate alone', stream: '+ policy, one established flow (a stream)', established: '+ policy, 64 established flows', first: '+ policy, first packets' };

/** ns per packet of `batches` batches of one variant; untimed (the clock's numbers are allocated), 0. */
function run(variant: Variant, batches: number, timed = true): number {
  let spent = 0;
  let source = 0x0a010200;
  let port = 0;
  fill(batch, 1, CLIENT);
  if (variant === 'stream') for (let k = 0; k < BATCH; k++) batch.slab.writeUInt16BE(1, k * SLOT + HEADROOM + 20);
  for (let i = 0; i < batches; i++) {
    if (variant === 'first') {
      // New flows every batch: the next 64 source ports (another source address every 1,024 batches).
      port += BATCH;
      if (port >= 65_536) {
        port = 0;
        source++;
        conntrack.sweep(now + 86_400_000 * 6); // forget every entry (not timed), so that the table never reaches its cap
      }
      for (let k = 0; k < BATCH; k++) batch.slab.writeUInt16BE(port + k, k * SLOT + HEADROOM + 20);
      for (let k = 0; k < BATCH; k++) batch.slab.writeUInt32BE(source, k * SLOT + HEADROOM + 12);
    }
    now += 1; // a batch a millisecond: refreshes once a second per flow
    counters.now = now;
    const t0 = timed ? performance.now() : 0;
    const out = encapsulate(batch, BATCH, encap);
    if (variant !== 'encap') policyStage(batch, BATCH, out, policy, Direction.tun);
    if (timed) spent += performance.now() - t0;
  }
  return (spent * 1e6) / (batches * BATCH);
}

const { results, collected } = await interleavedRounds(variants, run, ROUNDS, BATCHES);
const base = median(results.encap);
console.log(`policy stage, ${ROUNDS} interleaved rounds of ${BATCHES} batches of ${BATCH} packets; connection table cap ${MAX} (${(conntrackBytes(MAX) / 2 ** 20).toFixed(1)} MiB), ${OTHERS} other connections at the start, emptied (untimed) every 65,536 first packets; decider asked ${decider.asked} times\n`);
console.log('| variant | ns/packet, median (all rounds) | ratio to encapsulate alone | stage alone, ns/packet | GCs during ' + BATCHES * ROUNDS * BATCH + ' packets, untimed |');
console.log('|---|---|---|---|---|');
for (const v of variants) {
  const m = median(results[v]);
  console.log(`| ${NAMES[v]} | ${m.toFixed(0)} (${results[v].map((x) => x.toFixed(0)).join(', ')}) | ${(m / base).toFixed(2)} | ${v === 'encap' ? '—' : (m - base).toFixed(0)} | ${collected[v]} |`);
}
