// A Kubernetes Node as a lease of the subnet table, read as flannel reads it
// (flannel pkg/subnet/kube/kube.go: nodeToLease) plus the fallbacks a mixed cluster needs.
// Each enabled family needs its pod CIDR, underlay address and backend data, as flannel's does:
// IPv4 from backend-data and public-ip, IPv6 from backend-v6-data and public-ipv6.
import type { V1Node } from '@kubernetes/client-node';
import { isIPv4, isIPv6 } from 'node:net';
import { cidrContains, parseCidr, type Cidr } from './cidr.js';
import { Annotation, BACKEND_VXLAN, parseBackendData } from './flannel-annotations.js';
import type { NodeLease } from './subnet-table.js';
import { vtepMacFromName } from './vtep-mac.js';

/** A lease, or why the node is not (yet) one. */
export type LeaseResult = { lease: NodeLease } | { skip: string };

/** The cluster networks of the enabled families (net-conf.json). */
export interface Networks {
  v4: Cidr | undefined;
  v6: Cidr | undefined;
}

/** The node's pod CIDR of `family`: its entry in spec.podCIDRs, else spec.podCIDR. */
export function podCidr(node: V1Node, family: 4 | 6): Cidr | undefined {
  const texts = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  for (const text of texts) {
    try {
      const cidr = parseCidr(text);
      if (cidr.family === family) return cidr;
    } catch {
      // a malformed entry is reported as a missing pod CIDR
    }
  }
  return undefined;
}

/** The underlay address of `family`: public-ip(v6)-overwrite, then public-ip(v6), then the node's InternalIP. */
export function underlayAddress(node: V1Node, family: 4 | 6): string | undefined {
  const a = node.metadata?.annotations ?? {};
  const valid = family === 4 ? isIPv4 : isIPv6;
  const candidates = family === 4 ? [a[Annotation.publicIPOverwrite], a[Annotation.publicIP]] : [a[Annotation.publicIPv6Overwrite], a[Annotation.publicIPv6]];
  for (const candidate of candidates) if (candidate !== undefined && valid(candidate)) return candidate;
  return node.status?.addresses?.find((x) => x.type === 'InternalIP' && valid(x.address))?.address;
}

/** A peer as our datapath sees it: only nodes that run flannel's vxlan backend (or vxroute) on our VNI. */
export function peerLease(node: V1Node, nets: Networks, vni: number): LeaseResult {
  const name = node.metadata?.name ?? '';
  const a = node.metadata?.annotations ?? {};
  if (a[Annotation.kubeSubnetManager] !== 'true') return { skip: 'no flannel or vxroute on it yet (no kube-subnet-manager annotation)' };
  if (a[Annotation.backendType] !== BACKEND_VXLAN) return { skip: `backend-type is ${JSON.stringify(a[Annotation.backendType] ?? '')}, not vxlan` };
  const v4 = nets.v4 ? family(node, 4, nets.v4, vni, Annotation.backendData) : undefined;
  if (v4 && 'skip' in v4) return v4;
  const v6 = nets.v6 ? family(node, 6, nets.v6, vni, Annotation.backendV6Data) : undefined;
  if (v6 && 'skip' in v6) return v6;
  const vtepMAC = v4?.mac ?? v6!.mac;
  return { lease: { name, podCIDR: v4?.podCIDR, podCIDRv6: v6?.podCIDR, publicIP: v4?.publicIP, publicIPv6: v6?.publicIP, vtepMAC, vtepMACv6: v6?.mac ?? vtepMAC } };
}

/** One family of a peer's lease. */
function family(node: V1Node, fam: 4 | 6, network: Cidr, vni: number, dataKey: string): { podCIDR: Cidr; publicIP: string; mac: Buffer } | { skip: string } {
  const a = node.metadata?.annotations ?? {};
  let data;
  try {
    data = parseBackendData(a[dataKey] ?? '');
  } catch (err) {
    return { skip: (err as Error).message };
  }
  if (data.vni !== vni) return { skip: `its VNI is ${data.vni}, ours ${vni}` };
  const podCIDR = podCidr(node, fam);
  if (!podCIDR) return { skip: `no IPv${fam} pod CIDR in spec.podCIDR(s)` };
  if (!cidrContains(network, podCIDR)) return { skip: `pod CIDR ${podCIDR.text} is outside the network ${network.text}` };
  const publicIP = underlayAddress(node, fam);
  if (!publicIP) return { skip: `no ${fam === 4 ? 'public-ip' : 'public-ipv6'} annotation and no IPv${fam} InternalIP` };
  return { podCIDR, publicIP, mac: data.vtepMAC };
}

/**
 * Our own lease. Each family's VTEP MAC is the one our annotation already carries (so that peers
 * keep their entries across a restart, as flannel does), else one derived from the node name.
 */
export function ownLease(node: V1Node, nets: Networks, vni: number, publicIPFlag: string | undefined): LeaseResult {
  const name = node.metadata?.name ?? '';
  const a = node.metadata?.annotations ?? {};
  const own = (fam: 4 | 6, network: Cidr | undefined, dataKey: string): { podCIDR?: Cidr; publicIP?: string; mac: Buffer } | { skip: string } => {
    let mac = vtepMacFromName(name, fam);
    try {
      const data = parseBackendData(a[dataKey] ?? '');
      if (data.vni === vni && a[Annotation.backendType] === BACKEND_VXLAN) mac = data.vtepMAC;
    } catch {
      // nothing published yet: a fresh MAC
    }
    if (!network) return { mac };
    const podCIDR = podCidr(node, fam);
    if (!podCIDR) return { skip: `our node ${name} has no IPv${fam} pod CIDR yet (spec.podCIDRs); waiting for the controller manager to assign one` };
    if (!cidrContains(network, podCIDR)) return { skip: `our pod CIDR ${podCIDR.text} is outside the network ${network.text} of net-conf.json` };
    const overwrite = a[fam === 4 ? Annotation.publicIPOverwrite : Annotation.publicIPv6Overwrite];
    const valid = fam === 4 ? isIPv4 : isIPv6;
    const publicIP = overwrite !== undefined && valid(overwrite) ? overwrite : (fam === 4 ? publicIPFlag : undefined) ?? underlayAddress(node, fam);
    if (!publicIP) return { skip: `our node ${name} has no IPv${fam} InternalIP${fam === 4 ? '; pass --public-ip' : ''}` };
    return { podCIDR, publicIP, mac };
  };
  const v4 = own(4, nets.v4, Annotation.backendData);
  if ('skip' in v4) return v4;
  const v6 = own(6, nets.v6, Annotation.backendV6Data);
  if ('skip' in v6) return v6;
  return { lease: { name, podCIDR: v4.podCIDR, podCIDRv6: v6.podCIDR, publicIP: v4.publicIP, publicIPv6: v6.publicIP, vtepMAC: v4.mac, vtepMACv6: v6.mac } };
}
