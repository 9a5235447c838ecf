// The subnet table: which node owns which pod CIDR, and how to reach it on the underlay.
// Every source (the static file, the Kubernetes API) produces this same shape.
import type { Cidr } from './cidr.js';

export interface NodeLease {
  name: string;
  podCIDR: Cidr;
  /** Underlay address (IPv4 dotted quad) that VXLAN datagrams for this node go to. */
  publicIP: string;
  /** Inner destination MAC for frames to this node: its VTEP MAC. */
  vtepMAC: Buffer;
}

export interface SubnetTable {
  /** The cluster network: the route vxroute installs via its device. */
  network: Cidr;
  /** Every node, ours included, sorted by name. */
  nodes: NodeLease[];
}

/** Our own lease, or undefined when the table has no node of that name. */
export function findNode(table: SubnetTable, name: string): NodeLease | undefined {
  return table.nodes.find((n) => n.name === name);
}
