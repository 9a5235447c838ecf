// A Kubernetes Node as a lease of the subnet table, read as flannel reads it
// (flannel pkg/subnet/kube/kube.go: nodeToLease) plus the fallbacks a mixed cluster needs.
import type { V1Node } from '@kubernetes/client-node';
import { isIPv4 } from 'node:net';
import { cidrContains, parseCidr, type Cidr } from './cidr.js';
import { Annotation, BACKEND_VXLAN, parseBackendData } from './flannel-annotations.js';
import type { NodeLease } from './subnet-table.js';
import { vtepMacFromName } from './vtep-mac.js';

/** A lease, or why the node is not (yet) one. */
export type LeaseResult = { lease: NodeLease } | { skip: string };

/** The node's IPv4 pod CIDR: the IPv4 entry of spec.podCIDRs, else spec.podCIDR. */
export function podCidrV4(node: V1Node): Cidr | undefined {
  const texts = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  for (const text of texts) {
    try {
      const cidr = parseCidr(text);
      if (cidr.family === 4) return cidr;
    } catch {
      // a malformed entry is reported as a missing pod CIDR
    }
  }
  return undefined;
}

/** The underlay address: public-ip-overwrite, then public-ip, then the node's InternalIP. */
export function underlayAddress(node: V1Node): string | undefined {
  const a = node.metadata?.annotations ?? {};
  for (const candidate of [a[Annotation.publicIPOverwrite], a[Annotation.publicIP]]) {
    if (candidate !== undefined && isIPv4(candidate)) return candidate;
  }
  return node.status?.addresses?.find((x) => x.type === 'InternalIP' && isIPv4(x.address))?.address;
}

/** A peer as our datapath sees it: only nodes that run flannel's vxlan backend (or vxroute) on our VNI. */
export function peerLease(node: V1Node, network: Cidr, vni: number): LeaseResult {
  const name = node.metadata?.name ?? '';
  const a = node.metadata?.annotations ?? {};
  if (a[Annotation.kubeSubnetManager] !== 'true') return { skip: 'no flannel or vxroute on it yet (no kube-subnet-manager annotation)' };
  if (a[Annotation.backendType] !== BACKEND_VXLAN) return { skip: `backend-type is ${JSON.stringify(a[Annotation.backendType] ?? '')}, not vxlan` };
  let data;
  try {
    data = parseBackendData(a[Annotation.backendData] ?? '');
  } catch (err) {
    return { skip: (err as Error).message };
  }
  if (data.vni !== vni) return { skip: `its VNI is ${data.vni}, ours ${vni}` };
  const podCIDR = podCidrV4(node);
  if (!podCIDR) return { skip: 'no IPv4 pod CIDR in spec.podCIDR(s)' };
  if (!cidrContains(network, podCIDR)) return { skip: `pod CIDR ${podCIDR.text} is outside the network ${network.text}` };
  const publicIP = underlayAddress(node);
  if (!publicIP) return { skip: 'no public-ip annotation and no InternalIP' };
  // IPv4 only for now: the IPv6 lease annotations (backend-v6-data, public-ipv6) are not read yet.
  return { lease: { name, podCIDR, podCIDRv6: undefined, publicIP, publicIPv6: undefined, vtepMAC: data.vtepMAC, vtepMACv6: data.vtepMAC } };
}

/**
 * Our own lease. Our VTEP MAC is the one our annotation already carries (so that peers keep
 * their entries across a restart, as flannel does), else one derived from the node name.
 */
export function ownLease(node: V1Node, network: Cidr, vni: number, publicIPFlag: string | undefined): LeaseResult {
  const name = node.metadata?.name ?? '';
  const podCIDR = podCidrV4(node);
  if (!podCIDR) return { skip: `our node ${name} has no IPv4 pod CIDR yet (spec.podCIDR); waiting for the controller manager to assign one` };
  if (!cidrContains(network, podCIDR)) return { skip: `our pod CIDR ${podCIDR.text} is outside the network ${network.text} of net-conf.json` };
  const a = node.metadata?.annotations ?? {};
  const overwrite = a[Annotation.publicIPOverwrite];
  const publicIP = overwrite !== undefined && isIPv4(overwrite) ? overwrite : publicIPFlag ?? underlayAddress(node);
  if (!publicIP) return { skip: `our node ${name} has no InternalIP; pass --public-ip` };
  let vtepMAC = vtepMacFromName(name);
  try {
    const data = parseBackendData(a[Annotation.backendData] ?? '');
    if (data.vni === vni && a[Annotation.backendType] === BACKEND_VXLAN) vtepMAC = data.vtepMAC;
  } catch {
    // nothing published yet: a fresh MAC
  }
  return { lease: { name, podCIDR, podCIDRv6: undefined, publicIP, publicIPv6: undefined, vtepMAC, vtepMACv6: vtepMAC } };
}
