// /debug/peers: the subnet table as the shards see it, each node with its live counters.
import { formatMac } from '../packet/ethernet.js';
import type { DatapathView } from './datapath-view.js';

export interface PeerRow {
  name: string;
  podCIDR: string;
  publicIP: string;
  vtepMAC: string;
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
  network: string;
  self: { name: string; podCIDR: string; publicIP: string; vtepMAC: string } | undefined;
  peers: PeerRow[];
}

export function debugPeers(nodeName: string, d: DatapathView): PeersView {
  const counters = d.counters();
  const byName = new Map(counters.peers.map((p) => [p.name, p]));
  const row = (n: (typeof d.table.nodes)[number]) => ({ name: n.name, podCIDR: n.podCIDR.text, publicIP: n.publicIP, vtepMAC: formatMac(n.vtepMAC) });
  const self = d.table.nodes.find((n) => n.name === nodeName);
  return {
    at: new Date(counters.at).toISOString(),
    tableVersion: d.version,
    network: d.table.network.text,
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
