// A node running the kernel's VXLAN device, programmed as flannel's vxlan backend programs it
// (flannel pkg/backend/vxlan: device.go and vxlan_network.go): one device `flannel.1`, no
// learning, and per remote node a route via its VTEP address (onlink), a permanent neighbour
// entry mapping that address to its VTEP MAC, and an FDB entry sending that MAC to its underlay IP.
// With Backend.DirectRouting, a peer whose underlay IP the kernel reaches without a gateway gets
// a plain route to its pod subnet via that IP instead (vxlan_network.go, ip.DirectRouting).
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

/** flannel.1, or with `family` 6 flannel-v6.1: the device and flannel's address on it (the subnet's network address). */
export async function createFlannelDevice(ns: string, d: FlannelDevice, family: 4 | 6 = 4): Promise<void> {
  const device = family === 4 ? FLANNEL_DEVICE : FLANNEL_DEVICE_V6;
  await inNs(ns, 'ip', [
    'link', 'add', device, 'address', d.vtepMAC, 'type', 'vxlan', 'id', String(d.vni),
    'local', d.localIP, 'dev', d.underlayDev, 'dstport', String(d.port), 'nolearning',
  ]);
  const address = family === 4 ? ['addr', 'add', `${d.address}/32`, 'dev', device] : ['-6', 'addr', 'add', `${d.address}/128`, 'dev', device, 'nodad'];
  await inNs(ns, 'ip', address);
  await inNs(ns, 'ip', ['link', 'set', device, 'up']);
}

/**
 * flannel's handling of a node lease being added (or changed), per family (AddARP/AddV6ARP,
 * AddFDB/AddV6FDB, and the onlink route via the peer's subnet address): all replace operations.
 */
async function programPeer(ns: string, family: 4 | 6, podCIDR: string, publicIP: string, vtepMAC: string): Promise<void> {
  const device = family === 4 ? FLANNEL_DEVICE : FLANNEL_DEVICE_V6;
  const ip = family === 4 ? [] : ['-6'];
  const vtepIP = podCIDR.split('/')[0];
  await inNs(ns, 'ip', [...ip, 'neigh', 'replace', vtepIP, 'lladdr', vtepMAC, 'dev', device, 'nud', 'permanent']);
  await inNs(ns, 'bridge', ['fdb', 'replace', vtepMAC, 'dev', device, 'dst', publicIP, 'self', 'permanent']);
  await inNs(ns, 'ip', [...ip, 'route', 'replace', podCIDR, 'via', vtepIP, 'dev', device, 'onlink']);
}

export function addFlannelPeer(ns: string, p: FlannelPeer): Promise<void> {
  return programPeer(ns, 4, p.podCIDR, p.publicIP, p.vtepMAC);
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

export function addFlannelPeerV6(ns: string, p: FlannelPeerV6): Promise<void> {
  return programPeer(ns, 6, p.podCIDRv6, p.publicIPv6, p.vtepMACv6);
}

/** flannel's ip.DirectRouting: the kernel's route to `publicIP` is one route with no gateway. */
export async function directRoutingOK(ns: string, publicIP: string): Promise<boolean> {
  const routes = JSON.parse(await inNs(ns, 'ip', ['-j', 'route', 'get', publicIP])) as { gateway?: string }[];
  return routes.length === 1 && routes[0].gateway === undefined;
}

/** flannel's directRoute for a lease (RouteReplace of Dst: pod subnet, Gw: public IP), either family. */
export async function addFlannelDirectPeer(ns: string, podCIDR: string, publicIP: string): Promise<void> {
  await inNs(ns, 'ip', ['route', 'replace', podCIDR, 'via', publicIP]);
}
