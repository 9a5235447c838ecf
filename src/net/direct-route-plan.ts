// Which peers DirectRouting takes out of the overlay (flannel's vxlan_network.go,
// handleSubnetEvents): a peer whose public IP the kernel reaches without a gateway is on our
// underlay subnet, so its pod subnet gets a plain route via that IP (what host-gw does); the
// others stay on VXLAN. The decision is the kernel's route lookup, per family: IPv4 pods via the
// peer's IPv4 address, IPv6 pods via its IPv6 address, as flannel.1 and flannel-v6.<VNI> decide.
import { isIPv4 } from 'node:net';
import { formatIpv6, parseIpv6 } from '../address/ip-text.js';
import type { SubnetTable } from '../subnets/subnet-table.js';

/** The kernel's answer for one address (`ip route get`): the device, and whether a gateway is on the way. */
export interface RouteAnswer {
  dev: string;
  gateway: boolean;
  /** "local", "unreachable", …; undefined for a unicast route. */
  type: string | undefined;
}

/** Asks the kernel for the route to each address; an address it cannot route is absent from the map. */
export type RouteLookup = (addresses: readonly string[]) => Promise<Map<string, RouteAnswer>>;

export interface DirectRoute {
  family: 4 | 6;
  /** The peer's pod CIDR, canonical text. */
  cidr: string;
  /** The peer's public IP of that family, canonical text, and the underlay device it is on. */
  via: string;
  dev: string;
}

/**
 * The direct routes for `table`: one per pod CIDR of a peer (not `self`) whose public IP of the
 * same family we have an underlay for (`own`) and the kernel reaches on-link, not through
 * `overlayDevice`. Sorted by CIDR, so plans compare by their text.
 */
export async function planDirectRoutes(table: SubnetTable, self: string, own: { v4: boolean; v6: boolean }, overlayDevice: string, lookup: RouteLookup): Promise<DirectRoute[]> {
  const candidates: Omit<DirectRoute, 'dev'>[] = [];
  for (const n of table.nodes) {
    if (n.name === self) continue;
    if (n.podCIDR && n.publicIP !== undefined && own.v4) candidates.push({ family: 4, cidr: n.podCIDR.text, via: canonicalIp(n.publicIP) });
    if (n.podCIDRv6 && n.publicIPv6 !== undefined && own.v6) candidates.push({ family: 6, cidr: n.podCIDRv6.text, via: canonicalIp(n.publicIPv6) });
  }
  if (candidates.length === 0) return [];
  const answers = await lookup([...new Set(candidates.map((c) => c.via))]);
  const routes: DirectRoute[] = [];
  for (const c of candidates) {
    const a = answers.get(c.via);
    if (a === undefined || a.gateway || a.type !== undefined || a.dev === overlayDevice) continue;
    routes.push({ ...c, dev: a.dev });
  }
  return routes.sort((a, b) => (a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0));
}

/** The address as iproute2 prints it: IPv4 dotted quad, IPv6 per RFC 5952. */
export function canonicalIp(text: string): string {
  return isIPv4(text) ? text : formatIpv6(parseIpv6(text), 0);
}
