// The nodes that the datapath's property tests forward between, and each stage's context as a
// shard builds it, without devices. We are node A; B has only an IPv4 underlay, C only an IPv6
// one; B and C also keep a table of their own, for the round trips back to A.
import { cidrContains, parseCidr } from '../src/subnets/cidr.js';
import { ETH_HEADER_LEN, VLAN_TAG_LEN } from '../src/packet/constants.js';
import { parseIpv4, parseIpv6 } from '../src/address/ip-text.js';
import { parseMac } from '../src/address/mac-text.js';
import { CounterLayout, ShardCounters } from '../src/datapath/counters.js';
import type { DecapContext } from '../src/datapath/decapsulate.js';
import type { EncapContext } from '../src/datapath/encapsulate.js';
import { IcmpReplies } from '../src/datapath/icmp-replies.js';
import { RouteLookup } from '../src/datapath/route-lookup.js';
import { allocateTable, SharedTableReader, SharedTableWriter, type RouteRecord } from '../src/datapath/shared-table.js';
import { allocateFdb, Fdb } from '../src/datapath/switch/fdb.js';
import { NeighbourProxy } from '../src/datapath/switch/neighbour-proxy.js';
import { allocateNeighbours, Neighbours } from '../src/datapath/switch/neighbours.js';
import { SendList } from '../src/datapath/switch/send-list.js';
import type { EgressContext } from '../src/datapath/switch/switch-egress.js';
import type { IngressContext } from '../src/datapath/switch/switch-ingress.js';
import { SwitchPeers } from '../src/datapath/switch/switch-peers.js';
import type { UdpSocket } from '../src/datapath/udp-socket.js';

export const VNI = 1;
/** The batch clock of every world (ms). */
export const NOW = 1_000_000;
/** The send lists' socket: the tests read the lists and never flush them. */
const unflushed = { send: () => { throw new Error('a property test flushed a send list'); } } as unknown as UdpSocket;

export interface NodeSpec {
  underlayV4?: string;
  underlayV6?: string;
  /** The VTEP MACs of its IPv4 and its IPv6 pod network. */
  mac: Buffer;
  macV6: Buffer;
  podV4: string;
  podV6: string;
}

export const A: NodeSpec = { underlayV4: '192.0.2.1', underlayV6: '2001:db8::1', mac: parseMac('0a:58:0a:f4:01:00'), macV6: parseMac('0e:58:0a:f4:01:00'), podV4: '10.244.1.0/24', podV6: 'fd00:10:244:1::/64' };
export const B: NodeSpec = { underlayV4: '192.0.2.2', mac: parseMac('0a:58:0a:f4:02:00'), macV6: parseMac('0e:58:0a:f4:02:00'), podV4: '10.244.2.0/24', podV6: 'fd00:10:244:2::/64' };
export const C: NodeSpec = { underlayV6: '2001:db8::3', mac: parseMac('0a:58:0a:f4:03:00'), macV6: parseMac('0e:58:0a:f4:03:00'), podV4: '10.244.3.0/24', podV6: 'fd00:10:244:3::/64' };

/** Peer ids in A's table; B's and C's tables know A as peer 1. */
export const PEER_B = 1;
export const PEER_C = 2;
export const PEER_A = 1;

/** Stations of switch mode: behind A's bridge, behind B (the proxy knows its addresses), behind C. */
export const STATION_A = parseMac('02:00:00:00:01:05');
export const STATION_B = parseMac('02:00:00:00:02:05');
export const STATION_C = parseMac('02:00:00:00:03:05');
export const STATION_B_V4 = '10.244.2.5';
export const STATION_B_V6 = 'fd00:10:244:2::5';

/** Our TUN addresses, the sources of the ICMP errors we answer. */
export const TUN_V4 = '10.244.1.0';
export const TUN_V6 = 'fd00:10:244:1::';

/** Largest inner packet over a 1500-byte underlay of each family (RFC 7348 §5: 50 and 70 bytes of overhead). */
export const MAX_INNER_V4 = 1450;
export const MAX_INNER_V6 = 1430;

/** Underlay address words, host order, as recvBatch fills b.addrs. */
export function addressWords(ip: string): Uint32Array {
  const w = new Uint32Array(4);
  if (ip.includes(':')) {
    const b = parseIpv6(ip);
    for (let k = 0; k < 4; k++) w[k] = b.readUInt32BE(4 * k);
  } else w[0] = parseIpv4(ip);
  return w;
}

/** Whether the IP packet at buf[off] has a source inside one of `n`'s pod CIDRs (the only sources `n` may send). */
export function sourceOfNode(n: NodeSpec, buf: Buffer, off: number): boolean {
  const v4 = buf[off] >> 4 === 4;
  const addr = v4 ? buf.subarray(off + 12, off + 16) : buf.subarray(off + 8, off + 24);
  return cidrContains(parseCidr(v4 ? n.podV4 : n.podV6), { family: v4 ? 4 : 6, addr, prefixLen: v4 ? 32 : 128, text: '' });
}

function underlayOf(n: NodeSpec, family: 4 | 6): Pick<RouteRecord, 'underlayFamily' | 'underlay'> {
  if (family === 4) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(parseIpv4(n.underlayV4!));
    return { underlayFamily: 4, underlay: b };
  }
  return { underlayFamily: 6, underlay: parseIpv6(n.underlayV6!) };
}

/** A peer's routes as routesFromTable makes them: both pod prefixes, and its underlay as a source. */
function peerRoutes(n: NodeSpec, over: 4 | 6, peerId: number): RouteRecord[] {
  const u = underlayOf(n, over);
  const v4 = parseCidr(n.podV4);
  const v6 = parseCidr(n.podV6);
  return [
    { family: 4, prefix: v4.addr, prefixLen: v4.prefixLen, ...u, vtepMAC: n.mac, peerId },
    { family: 6, prefix: v6.addr, prefixLen: v6.prefixLen, ...u, vtepMAC: n.macV6, peerId },
    { family: 0, prefix: Buffer.alloc(0), prefixLen: 0, ...u, vtepMAC: n.mac, peerId },
  ];
}

function lookupOf(routes: RouteRecord[]): RouteLookup {
  const sab = allocateTable(routes.length);
  new SharedTableWriter(sab).publish(routes);
  const lookup = new RouteLookup();
  lookup.rebuild(new SharedTableReader(sab).snapshot()!);
  return lookup;
}

/** A's table: B over IPv4, C over IPv6. */
export const routesOfA = (): RouteRecord[] => [...peerRoutes(B, 4, PEER_B), ...peerRoutes(C, 6, PEER_C)];

export interface Counted {
  counters: ShardCounters;
  /** The shard's counter block, which the counters write. */
  block: Float64Array;
  layout: CounterLayout;
}

export function counted(): Counted {
  const layout = new CounterLayout(1, 4);
  const block = layout.block(layout.allocate(), 0);
  const counters = new ShardCounters(block, layout);
  counters.now = NOW;
  return { counters, block, layout };
}

export type RouterWorld = EncapContext & DecapContext & Counted;

/** Node `self`'s router-mode contexts over `routes`; ICMP errors allowed up to `batch` per call. */
export function routerWorld(self: NodeSpec, routes: RouteRecord[], batch: number): RouterWorld {
  const c = counted();
  const icmp = new IcmpReplies(batch, parseIpv4(TUN_V4), parseIpv6(TUN_V6), 100, batch);
  icmp.tick(NOW);
  return { ...c, routes: lookupOf(routes), icmp, vni: VNI, ownMac: self.mac, ownMacV6: self.macV6, maxInnerV4: MAX_INNER_V4, maxInnerV6: MAX_INNER_V6 };
}

export const worldOfA = (batch: number): RouterWorld => routerWorld(A, routesOfA(), batch);

/** B's and C's tables: A as their only peer, over the underlay they share with it. */
export const routesOfB = (): RouteRecord[] => peerRoutes(A, 4, PEER_A);
export const routesOfC = (): RouteRecord[] => peerRoutes(A, 6, PEER_A);
export const worldOfB = (batch: number): RouterWorld => routerWorld(B, routesOfB(), batch);
export const worldOfC = (batch: number): RouterWorld => routerWorld(C, routesOfC(), batch);

export interface SwitchWorld extends Counted {
  egress: EgressContext;
  ingress: IngressContext;
  fdb: Fdb;
  proxy: NeighbourProxy;
  /** The send lists of egress, never flushed here (no socket): the tests read them. */
  send4: SendList;
  send6: SendList;
}

/**
 * A's switch (or, with `table`, another node's): B and C as peers, STATION_B and STATION_C known
 * behind them, the proxy knowing STATION_B's addresses. `maxFrameV6` defaults to what a
 * 1500-byte IPv6 underlay carries.
 */
export function switchWorld(batch: number, slab: Buffer, maxFrameV6 = MAX_INNER_V6 + ETH_HEADER_LEN, table = routesOfA()): SwitchWorld {
  const c = counted();
  const routes = lookupOf(table);
  const sab = allocateTable(8);
  new SharedTableWriter(sab).publish(table);
  const peers = new SwitchPeers(8);
  peers.rebuild(new SharedTableReader(sab).snapshot()!);
  const fdb = new Fdb(allocateFdb(64));
  fdb.now = c.counters.now;
  fdb.learn(STATION_B, 0, PEER_B);
  fdb.learn(STATION_C, 0, PEER_C);
  const neighbours = new Neighbours(allocateNeighbours(64), 64);
  neighbours.now = c.counters.now;
  // learnV4 reads the MAC from the same buffer as the address: give it both side by side.
  const v4 = Buffer.alloc(10);
  v4.writeUInt32BE(parseIpv4(STATION_B_V4));
  STATION_B.copy(v4, 4);
  neighbours.learnV4(v4, 0, 4);
  const v6 = Buffer.concat([parseIpv6(STATION_B_V6), STATION_B]);
  neighbours.learnV6(v6, 0, 16);
  const proxy = new NeighbourProxy(batch, neighbours, fdb);
  const send4 = new SendList(unflushed, slab);
  const send6 = new SendList(unflushed, slab);
  const egress: EgressContext = { fdb, peers, proxy, counters: c.counters, vni: VNI, maxFrameV4: MAX_INNER_V4 + ETH_HEADER_LEN, maxFrameV6, send4, send6 };
  const ingress: IngressContext = { routes, fdb, proxy, counters: c.counters, vni: VNI, maxFrame: 1500 + ETH_HEADER_LEN + VLAN_TAG_LEN };
  return { ...c, egress, ingress, fdb, proxy, send4, send6 };
}
