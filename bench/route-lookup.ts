// The route lookup at the Kubernetes scale limit: 5,000 nodes, each with a /24 and a /64, looked
// up per packet by the shards. IPv6 against IPv4 in the same run (the ratio is what to read), and
// both against a naive Map<string> lookup as a floor for what "fast" means.
//   npm run bench:route-lookup
import Benchmark from 'benchmark';
import { parseIpv6 } from '../src/packet/ipv6.js';
import { RouteLookup } from '../src/datapath/route-lookup.js';
import { allocateTable, SharedTableReader, SharedTableWriter, type RouteRecord } from '../src/datapath/shared-table.js';
import { parseCidr } from '../src/subnets/cidr.js';

const NODES = 5000;
const routes: RouteRecord[] = [];
for (let i = 0; i < NODES; i++) {
  const v4 = parseCidr(`10.${(i >> 8) + 1}.${i & 255}.0/24`);
  const v6 = parseCidr(`fd00:10:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::/64`);
  const underlay = Buffer.from([192, 0, 2, (i % 250) + 1]);
  routes.push({ family: 4, prefix: v4.addr, prefixLen: 24, underlayFamily: 4, underlay, vtepMAC: Buffer.alloc(6, 2), peerId: i });
  routes.push({ family: 6, prefix: v6.addr, prefixLen: 64, underlayFamily: 4, underlay, vtepMAC: Buffer.alloc(6, 2), peerId: i });
}
const sab = allocateTable(2 * NODES);
new SharedTableWriter(sab).publish(routes);
const lookup = new RouteLookup();
lookup.rebuild(new SharedTableReader(sab).snapshot()!);

// Packets' destinations, spread over every node, as they would sit in a batch slab.
const PACKETS = 4096;
const v4Dst = new Uint32Array(PACKETS);
const v6Slab = Buffer.alloc(PACKETS * 16);
const naive = new Map<string, number>();
for (let k = 0; k < PACKETS; k++) {
  const i = (k * 7919) % NODES;
  v4Dst[k] = (((10 << 24) | (((i >> 8) + 1) << 16) | ((i & 255) << 8) | 7) >>> 0);
  parseIpv6(`fd00:10:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::7`).copy(v6Slab, k * 16);
}
for (let i = 0; i < NODES; i++) naive.set(`fd00:10:${(i >> 8).toString(16)}:${(i & 255).toString(16)}`, i);

let sink = 0;
const suite = new Benchmark.Suite();
suite
  .add('IPv4 /24 lookup (RouteLookup)', () => {
    for (let k = 0; k < PACKETS; k++) sink += lookup.lookupV4(v4Dst[k]);
  })
  .add('IPv6 /64 lookup (RouteLookup)', () => {
    for (let k = 0; k < PACKETS; k++) sink += lookup.lookupV6(v6Slab, k * 16);
  })
  .add('IPv6 /64 lookup (naive Map<string>, for scale)', () => {
    for (let k = 0; k < PACKETS; k++) {
      const at = k * 16;
      sink += naive.get(`fd00:10:${v6Slab.readUInt16BE(at + 4).toString(16)}:${v6Slab.readUInt16BE(at + 6).toString(16)}`) ?? -1;
    }
  })
  .on('complete', function (this: Benchmark.Suite) {
    const results = (this as unknown as Benchmark[]).map((b) => ({ name: b.name, nsPerLookup: 1e9 / (b.hz * PACKETS), rme: b.stats.rme }));
    const base = results[0].nsPerLookup;
    console.log(`${NODES} nodes (a /24 and a /64 each), ${PACKETS} destinations per run; ratios against the IPv4 lookup\n`);
    console.log('| lookup | ns per packet | ratio | ± |');
    console.log('|---|---|---|---|');
    for (const r of results) console.log(`| ${r.name} | ${r.nsPerLookup.toFixed(1)} | ${(r.nsPerLookup / base).toFixed(2)}× | ${r.rme.toFixed(1)}% |`);
    if (sink === 0.5) console.log(''); // keeps the loops from being optimised away
  })
  .run();
