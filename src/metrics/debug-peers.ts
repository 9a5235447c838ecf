// /debug/peers: the subnet table as the shards see it, each node with its live counters.
import { formatMac } from '../address/mac-text.js';
import type { DatapathView } from './datapath-view.js';

export interface NodeRow {
  name: string;
  podCIDR: string | null;
  podCIDRv6: string | null;
  publicIP: string | null;
  publicIPv6: string | null;
  vtepMAC: string;
  vtepMACv6: string;
}

export interface PeerRow extends NodeRow {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** ISO time a datagram from it was last accepted, or null. */
  lastSeen: string | null;
}

export interface PeersView {
  at: string;
  tableVersion: number;
  network: string | null;
  networkV6: string | null;
  self: NodeRow | undefined;
  peers: PeerRow[];
}

export function debugPeers(nodeName: string, d: DatapathView): PeersView {
  const counters = d.counters();
  const byName = new Map(counters.peers.map((p) => [p.name, p]));
  const row = (n: (typeof d.table.nodes)[number]): NodeRow => ({
    name: n.name,
    podCIDR: n.podCIDR?.text ?? null,
    podCIDRv6: n.podCIDRv6?.text ?? null,
    publicIP: n.publicIP ?? null,
    publicIPv6: n.publicIPv6 ?? null,
    vtepMAC: formatMac(n.vtepMAC),
    vtepMACv6: formatMac(n.vtepMACv6),
  });
  const self = d.table.nodes.find((n) => n.name === nodeName);
  return {
    at: new Date(counters.at).toISOString(),
    tableVersion: d.version,
    network: d.table.network?.text ?? null,
    networkV6: d.table.networkV6?.text ?? null,
    self: self && row(self),
    peers: d.table.nodes
      .filter((n) => n.name !== nodeName)
      .map((n) => {
        const c = byName.get(n.name);
        return {
          ...row(n),
          txPackets: c?.txPackets ?? 0,
          txBytes: c?.txBytes ?? 0,
          rxPackets: c?.rxPackets ?? 0,
          rxBytes: c?.rxBytes ?? 0,
          lastSeen: c?.lastSeen ? new Date(c.lastSeen).toISOString() : null,
        };
      }),
  };
}
