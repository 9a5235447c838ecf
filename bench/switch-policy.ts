// Switch mode's policy cost per frame, in one process: forwardFrames (TAP → peers) alone, then
// with NetworkPolicy over one established flow (a stream), over 64 established flows, and over
// first packets, in interleaved rounds, batches of 64 frames of 1,000-byte UDP datagrams to a
// station behind a peer (every other batch with an 802.1Q tag). The decider answers at once and
// allocates nothing (the compiled policy's cost is the engine's to measure). Collections during an
// untimed run of each variant are counted: allocating per frame would collect every few thousand
// batches.
//   npm run build && node dist/bench/switch-policy.js [--batches 20000] [--rounds 5]
import { CounterLayout, ShardCounters } from '../src/datapath/counters.js';
import { PacketBatch } from '../src/datapath/packet-batch.js';
import { allocateConntrack, Conntrack } from '../src/datapath/policy/conntrack.js';
import { allocateTable, SharedTableReader, SharedTableWriter } from '../src/datapath/shared-table.js';
import { allocateFdb, Fdb } from '../src/datapath/switch/fdb.js';
import { ETHERTYPE_VLAN, FramePolicy } from '../src/datapath/switch/frame-policy.js';
import { SendList } from '../src/datapath/switch/send-list.js';
import { forwardFrames, type EgressContext } from '../src/datapath/switch/switch-egress.js';
import { SwitchPeers } from '../src/datapath/switch/switch-peers.js';
import type { UdpSocket } from '../src/datapath/udp-socket.js';
import { ETHERTYPE_IPV4, HEADROOM, IPPROTO_UDP } from '../src/packet/constants.js';
import { writeIpv4Header } from '../src/packet/ipv4.js';
import { median } from '../src/lab/iperf.js';
import { InstantDecider } from './instant-decider.js';
import { interleavedRounds } from './interleaved-rounds.js';
import { benchFlags, whole } from './bench-options.js';

const { batches: BATCHES, rounds: ROUNDS } = benchFlags({
  module: import.meta.url,
  flags: {
    batches: whole('batches of 64 frames per variant per round', { min: 1, max: 10_000_000, default: 20_000 }),
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 5 }),
  },
});
const BATCH = 64;
const SLOT = 1600;
const MAX = 131_072;
const CLIENT = 0x0af40105; // 10.244.1.5, a pod of this node
const SERVER = 0x0af40207; // 10.244.2.7, a pod behind the peer
const LOCAL_MAC = Buffer.from([0x02, 0, 0, 0, 1, 5]);
const REMOTE_MAC = Buffer.from([0x02, 0, 0, 0, 2, 7]);

/** A socket that takes every datagram at once: the bench measures the stages, not sendmmsg. */
const sink = { send: (_slab: Buffer, _o: Int32Array, _l: Int32Array, _a: Uint32Array, count: number) => count } as unknown as UdpSocket;

const layout = new CounterLayout(1, 2);
const counters = new ShardCounters(layout.block(layout.allocate(), 0), layout);
const batch = new PacketBatch(BATCH, SLOT);
const tableSab = allocateTable(1);
new SharedTableWriter(tableSab).publish([{ family: 0, prefix: Buffer.alloc(0), prefixLen: 0, underlayFamily: 4, underlay: Buffer.from([192, 0, 2, 2]), vtepMAC: Buffer.alloc(6), peerId: 1 }]);
const peers = new SwitchPeers(4);
peers.rebuild(new SharedTableReader(tableSab).snapshot()!);
const fdb = new Fdb(allocateFdb(1024));
let now = Date.now();
fdb.now = now;
fdb.learn(REMOTE_MAC, 0, 1);
const send4 = new SendList(sink, batch.slab);
const plain: EgressContext = { fdb, peers, proxy: undefined, counters, vni: 1, maxFrameV4: 1464, maxFrameV6: 1464, send4, send6: undefined };
const decider = new InstantDecider();
const judged: EgressContext = { ...plain, policy: new FramePolicy(BATCH, { conntrack: new Conntrack(allocateConntrack(MAX)), decider, counters }) };

/** Frames of 1,000-byte UDP datagrams CLIENT → SERVER:80 from source port `first` + k, `tagged` with VLAN 5 or not. */
function fill(first: number, tagged: boolean): void {
  for (let k = 0; k < BATCH; k++) {
    const f = k * SLOT + HEADROOM;
    REMOTE_MAC.copy(batch.slab, f);
    LOCAL_MAC.copy(batch.slab, f + 6);
    let l3 = f + 14;
    if (tagged) {
      batch.slab.writeUInt16BE(ETHERTYPE_VLAN, f + 12);
      batch.slab.writeUInt16BE(5, f + 14);
      l3 += 4;
    }
    batch.slab.writeUInt16BE(ETHERTYPE_IPV4, l3 - 2);
    writeIpv4Header(batch.slab, l3, 1000, k, 64, IPPROTO_UDP, CLIENT, SERVER, true);
    batch.slab.writeUInt16BE((first + k) & 0xffff, l3 + 20);
    batch.slab.writeUInt16BE(80, l3 + 22);
    batch.slab.writeUInt16BE(980, l3 + 24);
    batch.sizes[k] = l3 - f + 1000;
  }
}

const variants = ['plain', 'stream', 'established', 'first'] as const;
type Variant = (typeof variants)[number];
const NAMES: Record<Variant, string> = { plain: 'forwardFrames alone', stream: '+ policy, one established flow (a stream)', established: '+ policy, 64 established flows', first: '+ policy, first packets' };

/** ns per frame of `batches` batches of one variant; untimed (the clock's numbers are allocated), 0. */
function run(variant: Variant, batches: number, timed = true): number {
  let spent = 0;
  let port = 0;
  const ctx = variant === 'plain' ? plain : judged;
  for (let i = 0; i < batches; i++) {
    const tagged = (i & 1) === 1;
    if (variant === 'first') {
      port += BATCH;
      if (port >= 65_536) {
        port = 0;
        judged.policy!.ctx.conntrack.sweep(now + 86_400_000 * 6); // forget every entry (not timed): the table never fills
      }
      fill(port, tagged);
    } else fill(1, tagged);
    if (variant === 'stream') for (let k = 0; k < BATCH; k++) batch.slab.writeUInt16BE(1, k * SLOT + HEADROOM + (tagged ? 18 : 14) + 20);
    now += 1; // a batch a millisecond: refreshes once a second per flow
    counters.now = now;
    const t0 = timed ? performance.now() : 0;
    forwardFrames(batch, BATCH, ctx);
    send4.flush();
    if (timed) spent += performance.now() - t0;
  }
  return (spent * 1e6) / (batches * BATCH);
}

const { results, collected } = await interleavedRounds(variants, run, ROUNDS, BATCHES);
const base = median(results.plain);
console.log(`switch-mode policy, ${ROUNDS} interleaved rounds of ${BATCHES} batches of ${BATCH} frames (every other batch VLAN-tagged); decider asked ${decider.asked} times\n`);
console.log(`| variant | ns/frame, median (all rounds) | ratio to forwardFrames alone | GCs during ${BATCHES * ROUNDS * BATCH} frames, untimed |`);
console.log('|---|---|---|---|');
for (const v of variants) {
  const m = median(results[v]);
  console.log(`| ${NAMES[v]} | ${m.toFixed(0)} (${results[v].map((x) => x.toFixed(0)).join(', ')}) | ${(m / base).toFixed(2)} | ${collected[v]} |`);
}
