// A node running the kernel's VXLAN device, programmed as flannel's vxlan backend programs it
// (flannel pkg/backend/vxlan: device.go and vxlan_network.go): one device `flannel.1`, no
// learning, and per remote node a route via its VTEP address (onlink), a permanent neighbour
// entry mapping that address to its VTEP MAC, and an FDB entry sending that MAC to its underlay IP.
import { inNs } from './netns.js';

export const FLANNEL_DEVICE = 'flannel.1';

export interface FlannelDevice {
  vni: number;
  port: number;
  /** Underlay device and address the VXLAN socket uses. */
  underlayDev: string;
  localIP: string;
  vtepMAC: string;
  /** The pod subnet's network address, flannel's /32 on flannel.1. */
  address: string;
}

export interface FlannelPeer {
  podCIDR: string;
  publicIP: string;
  vtepMAC: string;
}

export async function createFlannelDevice(ns: string, d: FlannelDevice): Promise<void> {
  await inNs(ns, 'ip', [
    'link', 'add', FLANNEL_DEVICE, 'address', d.vtepMAC, 'type', 'vxlan', 'id', String(d.vni),
    'local', d.localIP, 'dev', d.underlayDev, 'dstport', String(d.port), 'nolearning',
  ]);
  await inNs(ns, 'ip', ['addr', 'add', `${d.address}/32`, 'dev', FLANNEL_DEVICE]);
  await inNs(ns, 'ip', ['link', 'set', FLANNEL_DEVICE, 'up']);
}

/** flannel's handling of a node lease being added (or changed): all three are replace operations. */
export async function addFlannelPeer(ns: string, p: FlannelPeer): Promise<void> {
  const vtepIP = p.podCIDR.split('/')[0];
  await inNs(ns, 'ip', ['neigh', 'replace', vtepIP, 'lladdr', p.vtepMAC, 'dev', FLANNEL_DEVICE, 'nud', 'permanent']);
  await inNs(ns, 'bridge', ['fdb', 'replace', p.vtepMAC, 'dev', FLANNEL_DEVICE, 'dst', p.publicIP, 'self', 'permanent']);
  await inNs(ns, 'ip', ['route', 'replace', p.podCIDR, 'via', vtepIP, 'dev', FLANNEL_DEVICE, 'onlink']);
}

export async function removeFlannelPeer(ns: string, p: FlannelPeer): Promise<void> {
  const vtepIP = p.podCIDR.split('/')[0];
  await inNs(ns, 'ip', ['route', 'del', p.podCIDR, 'dev', FLANNEL_DEVICE]);
  await inNs(ns, 'ip', ['neigh', 'del', vtepIP, 'dev', FLANNEL_DEVICE]);
  await inNs(ns, 'bridge', ['fdb', 'del', p.vtepMAC, 'dev', FLANNEL_DEVICE, 'dst', p.publicIP, 'self']);
}

/** flannel's IPv6 device (vxlan.go: `flannel-v6.<VNI>`): the same, over the IPv6 underlay. */
export const FLANNEL_DEVICE_V6 = 'flannel-v6.1';

export interface FlannelPeerV6 {
  podCIDRv6: string;
  publicIPv6: string;
  vtepMACv6: string;
}

export async function createFlannelDeviceV6(ns: string, d: FlannelDevice): Promise<void> {
  await inNs(ns, 'ip', [
    'link', 'add', FLANNEL_DEVICE_V6, 'address', d.vtepMAC, 'type', 'vxlan', 'id', String(d.vni),
    'local', d.localIP, 'dev', d.underlayDev, 'dstport', String(d.port), 'nolearning',
  ]);
  await inNs(ns, 'ip', ['-6', 'addr', 'add', `${d.address}/128`, 'dev', FLANNEL_DEVICE_V6, 'nodad']);
  await inNs(ns, 'ip', ['link', 'set', FLANNEL_DEVICE_V6, 'up']);
}

/** flannel's AddV6ARP, AddV6FDB and the onlink route via the peer's IPv6 subnet address. */
export async function addFlannelPeerV6(ns: string, p: FlannelPeerV6): Promise<void> {
  const vtepIP = p.podCIDRv6.split('/')[0];
  await inNs(ns, 'ip', ['-6', 'neigh', 'replace', vtepIP, 'lladdr', p.vtepMACv6, 'dev', FLANNEL_DEVICE_V6, 'nud', 'permanent']);
  await inNs(ns, 'bridge', ['fdb', 'replace', p.vtepMACv6, 'dev', FLANNEL_DEVICE_V6, 'dst', p.publicIPv6, 'self', 'permanent']);
  await inNs(ns, 'ip', ['-6', 'route', 'replace', p.podCIDRv6, 'via', vtepIP, 'dev', FLANNEL_DEVICE_V6, 'onlink']);
}
