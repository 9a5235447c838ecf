// The part of flanneld a kernel node needs, reduced to what the test bed drives by hand: publish
// this node's lease annotations as flannel's kube subnet manager does, and program flannel.1
// from the other nodes' annotations as flannel's vxlan backend does on each lease event. It
// reads the annotations with flannel's own names and JSON keys, independently of vxroute's
// parser, so that a mistake there cannot hide here.
import { addFlannelPeer, addFlannelPeerV6, removeFlannelPeer, type FlannelPeer, type FlannelPeerV6 } from './kernel-vxlan.js';
import type { KubeApiServer, NodeObject } from './kube-api-server.js';
import type { LabNode } from './lab.js';

const PREFIX = 'flannel.alpha.coreos.com/';

export class KernelFlanneld {
  /** Peers programmed into flannel.1, by node name. */
  private readonly programmed = new Map<string, FlannelPeer>();
  private readonly programmedV6 = new Map<string, FlannelPeerV6>();

  constructor(
    private readonly api: KubeApiServer,
    private readonly node: LabNode,
    /** The families flannel runs with (net-conf.json's EnableIPv4 / EnableIPv6). */
    private readonly families: (4 | 6)[] = [4],
  ) {}

  /** flannel's AcquireLease: the four lease annotations on our Node. */
  publish(): void {
    const current = this.api.getNode(this.node.name);
    if (!current) throw new Error(`node ${this.node.name} is not in the API`);
    current.metadata.annotations = {
      ...current.metadata.annotations,
      [`${PREFIX}backend-type`]: 'vxlan',
      ...(this.families.includes(4) ? { [`${PREFIX}backend-data`]: JSON.stringify({ VNI: 1, VtepMAC: this.node.vtepMAC }), [`${PREFIX}public-ip`]: this.node.publicIP } : {}),
      ...(this.families.includes(6) ? { [`${PREFIX}backend-v6-data`]: JSON.stringify({ VNI: 1, VtepMAC: this.node.vtepMACv6 }), [`${PREFIX}public-ipv6`]: this.node.publicIPv6 } : {}),
      [`${PREFIX}kube-subnet-manager`]: 'true',
    };
    this.api.upsertNode(current);
  }

  /** One pass of flannel's lease watch over flannel-v6.1 (entries are replaced, never removed here). */
  async syncV6(): Promise<FlannelPeerV6[]> {
    for (const n of this.api.listNodes()) {
      const peer = leaseV6Of(n);
      if (!peer || n.metadata.name === this.node.name) continue;
      await addFlannelPeerV6(this.node.ns, peer);
      this.programmedV6.set(n.metadata.name, peer);
    }
    return [...this.programmedV6.values()];
  }

  /** One pass of flannel's lease watch: add or replace every peer's entries, remove the departed. */
  async sync(): Promise<FlannelPeer[]> {
    const seen = new Set<string>();
    for (const n of this.api.listNodes()) {
      const peer = leaseOf(n);
      if (!peer || n.metadata.name === this.node.name) continue;
      seen.add(n.metadata.name);
      const before = this.programmed.get(n.metadata.name);
      if (before && before.podCIDR === peer.podCIDR && before.publicIP === peer.publicIP && before.vtepMAC === peer.vtepMAC) continue;
      if (before) await removeFlannelPeer(this.node.ns, before);
      await addFlannelPeer(this.node.ns, peer);
      this.programmed.set(n.metadata.name, peer);
    }
    for (const [name, peer] of this.programmed) {
      if (seen.has(name)) continue;
      await removeFlannelPeer(this.node.ns, peer);
      this.programmed.delete(name);
    }
    return [...this.programmed.values()];
  }
}

/** flannel's nodeToLease for the vxlan backend, or undefined for a node it would not use. */
function leaseOf(n: NodeObject): FlannelPeer | undefined {
  const a = n.metadata.annotations ?? {};
  if (a[`${PREFIX}kube-subnet-manager`] !== 'true' || a[`${PREFIX}backend-type`] !== 'vxlan') return undefined;
  const data = JSON.parse(a[`${PREFIX}backend-data`] ?? 'null') as { VNI?: number; VtepMAC?: string } | null;
  const publicIP = a[`${PREFIX}public-ip`]; // the owner copies public-ip-overwrite here (kube.go)
  const podCIDR = n.spec?.podCIDR;
  if (data?.VNI !== 1 || !data.VtepMAC || !publicIP || !podCIDR) return undefined;
  return { podCIDR, publicIP, vtepMAC: data.VtepMAC };
}

/** The IPv6 half of flannel's nodeToLease: backend-v6-data, public-ipv6 and the IPv6 entry of spec.podCIDRs. */
function leaseV6Of(n: NodeObject): FlannelPeerV6 | undefined {
  const a = n.metadata.annotations ?? {};
  if (a[`${PREFIX}kube-subnet-manager`] !== 'true' || a[`${PREFIX}backend-type`] !== 'vxlan') return undefined;
  const data = JSON.parse(a[`${PREFIX}backend-v6-data`] ?? 'null') as { VNI?: number; VtepMAC?: string } | null;
  const publicIPv6 = a[`${PREFIX}public-ipv6`];
  const podCIDRv6 = n.spec?.podCIDRs?.find((c) => c.includes(':'));
  if (data?.VNI !== 1 || !data.VtepMAC || !publicIPv6 || !podCIDRv6) return undefined;
  return { podCIDRv6, publicIPv6, vtepMACv6: data.VtepMAC };
}
