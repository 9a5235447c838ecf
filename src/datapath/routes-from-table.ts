// Turns the control plane's subnet table into the datapath's route records: per peer node one
// route per pod CIDR (its family's VTEP MAC as inner destination) over the underlay of the same
// family when both ends have one (flannel.1 over IPv4, flannel-v6.<VNI> over IPv6), else over
// the other; and a source-only record (family 0) for every underlay address a peer may send from.
// Pod CIDRs the kernel routes directly (DirectRouting) are left out: their packets never reach us.
// A table change rebuilds only what changed: a peer's records are kept with its lease object and
// reused while the lease, its peer id and what decides them are the same (the Kubernetes source
// keeps an unchanged node's lease object), so one node's change makes one node's records.
import { isIPv4 } from 'node:net';
import { parseIpv4, parseIpv6 } from '../address/ip-text.js';
import type { NodeLease, SubnetTable } from '../subnets/subnet-table.js';
import type { PeerIds } from './peer-ids.js';
import type { RouteRecord } from './shared-table.js';

/** The underlay families we can send on. */
export interface OwnUnderlay {
  v4: boolean;
  v6: boolean;
}

const NONE: ReadonlySet<string> = new Set();

/** A peer's records as last made, with what they were made from besides its lease. */
export type PeerRoutesCache = WeakMap<NodeLease, { peerId: number; inputs: number; routes: RouteRecord[] }>;

/**
 * Routes to every node but ourselves, but for the pod CIDRs in `direct` (canonical text); assigns
 * peer ids as a side effect and returns ids reused, and how many peers' records were made anew
 * (the others came from `cache`). A direct peer keeps its source records: a flannel node without
 * DirectRouting still sends us VXLAN.
 */
export function routesFromTable(
  table: SubnetTable, self: string, peers: PeerIds, own: OwnUnderlay, direct: ReadonlySet<string> = NONE, cache: PeerRoutesCache = new WeakMap(),
): { routes: RouteRecord[]; reused: number[]; made: number } {
  const others = table.nodes.filter((n) => n.name !== self);
  const { reused } = peers.update(others.map((n) => n.name));
  const routes: RouteRecord[] = [];
  let made = 0;
  for (const n of others) {
    const peerId = peers.get(n.name)!;
    const inputs = (own.v4 ? 1 : 0) | (own.v6 ? 2 : 0) | (n.podCIDR && direct.has(n.podCIDR.text) ? 4 : 0) | (n.podCIDRv6 && direct.has(n.podCIDRv6.text) ? 8 : 0);
    let kept = cache.get(n);
    if (kept?.peerId !== peerId || kept.inputs !== inputs) {
      kept = { peerId, inputs, routes: peerRoutes(n, peerId, own, direct) };
      cache.set(n, kept);
      made++;
    }
    for (const r of kept.routes) routes.push(r);
  }
  return { routes, reused, made };
}

function peerRoutes(n: NodeLease, peerId: number, own: OwnUnderlay, direct: ReadonlySet<string>): RouteRecord[] {
  const routes: RouteRecord[] = [];
  const v4 = own.v4 ? n.publicIP : undefined;
  const v6 = own.v6 ? n.publicIPv6 : undefined;
  for (const [cidr, mac] of [[n.podCIDR, n.vtepMAC], [n.podCIDRv6, n.vtepMACv6]] as const) {
    if (!cidr || direct.has(cidr.text)) continue;
    const ip = cidr.family === 4 ? v4 ?? v6 : v6 ?? v4;
    if (ip === undefined) continue; // no underlay in common: its pods are unreachable (no_route)
    routes.push({ family: cidr.family, prefix: cidr.addr, prefixLen: cidr.prefixLen, ...underlay(ip), vtepMAC: mac, peerId });
  }
  for (const ip of [v4, v6]) {
    if (ip !== undefined) routes.push({ family: 0, prefix: Buffer.alloc(0), prefixLen: 0, ...underlay(ip), vtepMAC: n.vtepMAC, peerId });
  }
  return routes;
}

function underlay(ip: string): Pick<RouteRecord, 'underlayFamily' | 'underlay'> {
  if (!isIPv4(ip)) return { underlayFamily: 6, underlay: parseIpv6(ip) };
  const b = Buffer.alloc(4);
  b.writeUInt32BE(parseIpv4(ip));
  return { underlayFamily: 4, underlay: b };
}
