// Turns the control plane's subnet table into the datapath's route records.
import type { SubnetTable } from '../subnets/subnet-table.js';
import type { PeerIds } from './peer-ids.js';
import type { RouteRecord } from './shared-table.js';
import { parseIpv4 } from '../packet/ipv4.js';

/** Routes to every node but ourselves; assigns peer ids as a side effect and returns ids reused. */
export function routesFromTable(table: SubnetTable, self: string, peers: PeerIds): { routes: RouteRecord[]; reused: number[] } {
  const others = table.nodes.filter((n) => n.name !== self);
  const { reused } = peers.update(others.map((n) => n.name));
  const routes = others.map((n): RouteRecord => {
    const underlay = Buffer.alloc(4);
    underlay.writeUInt32BE(parseIpv4(n.publicIP));
    return {
      family: n.podCIDR.family,
      prefix: n.podCIDR.addr,
      prefixLen: n.podCIDR.prefixLen,
      underlayFamily: 4,
      underlay,
      vtepMAC: n.vtepMAC,
      peerId: peers.get(n.name)!,
    };
  });
  return { routes, reused };
}
