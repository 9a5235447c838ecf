// /debug/peers: the subnet table as the shards see it, each node with its live counters. With
// thousands of nodes the answer is megabytes: it is written as JSON text a few hundred rows at a
// time, so that no PeersView of every peer is ever built and kept while it is serialised.
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

/** Rows per piece of text: big enough that writing is cheap, small enough that nothing piles up. */
const ROWS_PER_CHUNK = 256;

/** The JSON text of a PeersView, in pieces; counters and table as they are when it is called. */
export function* debugPeersJson(nodeName: string, d: DatapathView): Generator<string> {
  const counters = d.counters();
  const table = d.table;
  const byName = new Map(counters.peers.map((p) => [p.name, p]));
  const row = (n: (typeof table.nodes)[number]): NodeRow => ({
    name: n.name,
    podCIDR: n.podCIDR?.text ?? null,
    podCIDRv6: n.podCIDRv6?.text ?? null,
    publicIP: n.publicIP ?? null,
    publicIPv6: n.publicIPv6 ?? null,
    vtepMAC: formatMac(n.vtepMAC),
    vtepMACv6: formatMac(n.vtepMACv6),
  });
  const self = table.nodes.find((n) => n.name === nodeName);
  const head: Omit<PeersView, 'peers'> = {
    at: new Date(counters.at).toISOString(),
    tableVersion: d.version,
    network: table.network?.text ?? null,
    networkV6: table.networkV6?.text ?? null,
    self: self && row(self),
  };
  yield `${JSON.stringify(head).slice(0, -1)},"peers":[`;
  let rows: string[] = [];
  let first = true;
  for (const n of table.nodes) {
    if (n.name === nodeName) continue;
    const c = byName.get(n.name);
    const peer: PeerRow = {
      ...row(n),
      txPackets: c?.txPackets ?? 0,
      txBytes: c?.txBytes ?? 0,
      rxPackets: c?.rxPackets ?? 0,
      rxBytes: c?.rxBytes ?? 0,
      lastSeen: c?.lastSeen ? new Date(c.lastSeen).toISOString() : null,
    };
    rows.push(JSON.stringify(peer));
    if (rows.length === ROWS_PER_CHUNK) {
      yield `${first ? '' : ','}${rows.join(',')}`;
      first = false;
      rows = [];
    }
  }
  yield `${first || rows.length === 0 ? '' : ','}${rows.join(',')}]}`;
}
