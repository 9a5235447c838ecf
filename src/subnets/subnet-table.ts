// The subnet table: which node owns which pod CIDR, and how to reach it on the underlay.
// Every source (the static file, the Kubernetes API) produces this same shape.
import type { Cidr } from './cidr.js';

export interface NodeLease {
  name: string;
  /** IPv4 pod CIDR; undefined on a node of an IPv6-only cluster. */
  podCIDR: Cidr | undefined;
  /** IPv6 pod CIDR (a /64 in a dual-stack cluster); undefined without IPv6. */
  podCIDRv6: Cidr | undefined;
  /** Underlay addresses VXLAN datagrams for this node go to (IPv4 dotted quad, IPv6 text); at least one. */
  publicIP: string | undefined;
  publicIPv6: string | undefined;
  /** Inner destination MAC of IPv4 packets for this node: its VTEP MAC (flannel.1's). */
  vtepMAC: Buffer;
  /** Inner destination MAC of IPv6 packets (flannel-v6.<VNI>'s); vtepMAC where a node has one only. */
  vtepMACv6: Buffer;
}

export interface SubnetTable {
  /** The cluster networks, routed through vxroute's device; at least one. */
  network: Cidr | undefined;
  networkV6: Cidr | undefined;
  /** Every node, ours included, sorted by name. */
  nodes: NodeLease[];
}

/** Our own lease, or undefined when the table has no node of that name. */
export function findNode(table: SubnetTable, name: string): NodeLease | undefined {
  return table.nodes.find((n) => n.name === name);
}
