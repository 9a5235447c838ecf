// Micro-benchmarks of the hot path with benchmark.js, one batch of 64 packets per operation:
// encapsulate and decapsulate ns/packet (decapsulate also of datagrams whose inner sources belong
// to another node: the spoofed_source drop), the subnet lookup at 10 and 5,000 nodes (IPv4 /24s,
// IPv6 /64s, and a naive Map<string> for scale), switch mode's FDB lookup and refresh, and the
// internet checksum, native against JS.
//   npm run bench:micro
import { parseIpv6 } from '../src/address/ip-text.js';
import Benchmark from 'benchmark';
import { mkdir, writeFile } from 'node:fs/promises';
import { CounterLayout, ShardCounters } from '../src/datapath/counters.js';
import { decapsulate, RX_OFFSET } from '../src/datapath/decapsulate.js';
import { encapsulate, type EncapContext } from '../src/datapath/encapsulate.js';
import { IcmpReplies } from '../src/datapath/icmp-replies.js';
import { PacketBatch } from '../src/datapath/packet-batch.js';
import { RouteLookup } from '../src/datapath/route-lookup.js';
import { allocateTable, SharedTableReader, SharedTableWriter, type RouteRecord } from '../src/datapath/shared-table.js';
import { allocateFdb, Fdb } from '../src/datapath/switch/fdb.js';
import { addon } from '../src/native/addon.js';
import { internetChecksum } from '../src/packet/checksum.js';
import { ENCAP_LEN, HEADROOM, IPPROTO_UDP } from '../src/packet/constants.js';
import { writeIpv4Header } from '../src/packet/ipv4.js';
import { parseCidr } from '../src/subnets/cidr.js';
import { benchFlags } from './bench-options.js';

benchFlags({ module: import.meta.url, flags: {} }); // no flags: --help, and a refusal of any other

const BATCH = 64;
const SLOT = 1600;
const OWN_MAC = Uint8Array.from([0x0a, 0x58, 0, 0, 0, 1]);

function table(nodes: number): RouteLookup {
  const routes: RouteRecord[] = [];
  for (let i = 0; i < nodes; i++) {
    const v4 = parseCidr(`10.${(i >> 8) + 1}.${i & 255}.0/24`);
    const v6 = parseCidr(`fd00:10:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::/64`);
    const underlay = Buffer.from(underlayOf(i));
    routes.push({ family: 4, prefix: v4.addr, prefixLen: 24, underlayFamily: 4, underlay, vtepMAC: Buffer.alloc(6, 2), peerId: i });
    routes.push({ family: 6, prefix: v6.addr, prefixLen: 64, underlayFamily: 4, underlay, vtepMAC: Buffer.alloc(6, 2), peerId: i });
  }
  const sab = allocateTable(2 * nodes);
  new SharedTableWriter(sab).publish(routes);
  const lookup = new RouteLookup();
  lookup.rebuild(new SharedTableReader(sab).snapshot()!);
  return lookup;
}

/** Node i's underlay address, one per node (198.18.0.0/15, RFC 2544's benchmarking range). */
const underlayOf = (i: number): number[] => [198, 18, i >> 8, i & 255];

const ip4 = (i: number, host: number) => ((10 << 24) | (((i >> 8) + 1) << 16) | ((i & 255) << 8) | host) >>> 0;

function context(nodes: number): EncapContext & { layout: CounterLayout } {
  const layout = new CounterLayout(1, nodes);
  const counters = new ShardCounters(layout.block(layout.allocate(), 0), layout);
  const icmp = new IcmpReplies(BATCH, ip4(0, 0), new Uint8Array(16));
  return { routes: table(nodes), counters, icmp, vni: 1, ownMac: OWN_MAC, ownMacV6: OWN_MAC, maxInnerV4: 1450, maxInnerV6: 1430, layout };
}

/** A batch of 1,000-byte UDP packets to every node in turn, as a TUN read leaves them. */
function tunBatch(nodes: number): PacketBatch {
  const b = new PacketBatch(BATCH, SLOT);
  for (let k = 0; k < BATCH; k++) {
    writeIpv4Header(b.slab, k * SLOT + HEADROOM, 1000, k, 64, IPPROTO_UDP, ip4(0, 2), ip4((k * 7919) % nodes, 7), true);
    b.sizes[k] = 1000;
  }
  return b;
}

/** The same packets as VXLAN datagrams from node 1, as recvmmsg leaves them; their inner sources on node `owner`. */
function udpBatch(owner: number): PacketBatch {
  const b = new PacketBatch(BATCH, SLOT);
  for (let k = 0; k < BATCH; k++) {
    const base = k * SLOT + RX_OFFSET;
    Buffer.from('0800000000000100', 'hex').copy(b.slab, base);
    b.slab.set(OWN_MAC, base + 8);
    b.slab.writeUInt16BE(0x0800, base + 20);
    writeIpv4Header(b.slab, base + ENCAP_LEN, 1000, k, 64, IPPROTO_UDP, ip4(owner, 2), ip4(0, 2), true);
    b.sizes[k] = 1000 + ENCAP_LEN;
    b.addrs[k * 4] = Buffer.from(underlayOf(1)).readUInt32BE(0);
  }
  return b;
}

const results: { name: string; nsPerItem: number; rme: number }[] = [];
const suite = new Benchmark.Suite();
let sink = 0;
for (const nodes of [10, 5000]) {
  const ctx = context(nodes);
  const tx = tunBatch(nodes);
  suite.add(`encapsulate, ${nodes} nodes (ns/packet)`, () => {
    sink += encapsulate(tx, BATCH, ctx);
  });
  const rx = udpBatch(1);
  suite.add(`decapsulate, ${nodes} nodes (ns/packet)`, () => {
    sink += decapsulate(rx, BATCH, ctx, 4);
  });
  const spoofed = udpBatch(2);
  suite.add(`decapsulate, inner sources of another node, ${nodes} nodes (ns/packet)`, () => {
    sink += decapsulate(spoofed, BATCH, ctx, 4);
  });
  const v4 = Uint32Array.from({ length: BATCH }, (_, k) => ip4((k * 7919) % nodes, 7));
  suite.add(`IPv4 lookup, ${nodes} nodes (ns/lookup)`, () => {
    for (let k = 0; k < BATCH; k++) sink += ctx.routes.lookupV4(v4[k]);
  });
  const v6 = Buffer.alloc(BATCH * 16);
  for (let k = 0; k < BATCH; k++) {
    const i = (k * 7919) % nodes;
    parseIpv6(`fd00:10:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::7`).copy(v6, k * 16);
  }
  suite.add(`IPv6 lookup, ${nodes} nodes (ns/lookup)`, () => {
    for (let k = 0; k < BATCH; k++) sink += ctx.routes.lookupV6(v6, k * 16);
  });
  const naive = new Map<string, number>();
  for (let i = 0; i < nodes; i++) naive.set(`fd00:10:${(i >> 8).toString(16)}:${(i & 255).toString(16)}`, i);
  suite.add(`IPv6 naive Map<string>, ${nodes} nodes (ns/lookup)`, () => {
    for (let k = 0; k < BATCH; k++) {
      const at = k * 16;
      sink += naive.get(`fd00:10:${v6.readUInt16BE(at + 4).toString(16)}:${v6.readUInt16BE(at + 6).toString(16)}`) ?? -1;
    }
  });
}
{
  const macs = 5000;
  const fdb = new Fdb(allocateFdb(macs));
  const frames = Buffer.alloc(BATCH * 6);
  fdb.now = Date.now();
  for (let i = 0; i < macs; i++) {
    const mac = Buffer.from([0x02, 0, 0, 0, i >> 8, i & 255]);
    fdb.learn(mac, 0, i % 7);
    if (i < BATCH) mac.copy(frames, ((i * 7919) % BATCH) * 6);
  }
  suite.add(`FDB lookup, ${macs} MACs (ns/lookup)`, () => {
    for (let k = 0; k < BATCH; k++) sink += fdb.lookup(frames, k * 6);
  });
  suite.add(`FDB refresh, ${macs} MACs (ns/frame)`, () => {
    fdb.now++;
    for (let k = 0; k < BATCH; k++) fdb.learn(frames, k * 6, frames[k * 6 + 5] % 7);
  });
}
const data = Buffer.alloc(1400 * BATCH, 0xa5);
suite.add('checksum, native (ns per 1,400 bytes)', () => {
  for (let k = 0; k < BATCH; k++) sink += addon.checksum(data, k * 1400, 1400, 0);
});
suite.add('checksum, JS (ns per 1,400 bytes)', () => {
  for (let k = 0; k < BATCH; k++) sink += internetChecksum(data, k * 1400, 1400);
});
suite
  .on('cycle', (e: Benchmark.Event) => {
    const b = e.target as unknown as Benchmark;
    results.push({ name: String(b.name), nsPerItem: 1e9 / ((b.hz ?? 1) * BATCH), rme: b.stats.rme });
  })
  .on('complete', () => {
    console.log(`benchmark.js, ${BATCH} items per operation\n`);
    console.log('| what | ns | ± |');
    console.log('|---|---|---|');
    for (const r of results) console.log(`| ${r.name} | ${r.nsPerItem.toFixed(1)} | ${r.rme.toFixed(1)}% |`);
    if (sink === 0.5) console.log();
  })
  .run();
await mkdir('bench/results', { recursive: true });
await writeFile(`bench/results/micro-${Date.now()}.json`, JSON.stringify(results, null, 2));
