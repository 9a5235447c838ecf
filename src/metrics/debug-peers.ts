// /debug/peers: the subnet table as the shards see it, each node with its live counters. With
// thousands of nodes the answer is megabytes: it is written as JSON text a few hundred rows at a
// time, each row's text made straight from the table's lease and the counter blocks (read into one
// reused record), so that neither a PeersView nor a counter snapshot of every peer is ever built.
import { formatMac } from '../address/mac-text.js';
import type { PeerCounters } from '../datapath/counter-snapshot.js';
import type { NodeLease } from '../subnets/subnet-table.js';
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

/**
 * The JSON text of a PeersView, in pieces: the table as it is when called, each row's counters as
 * they are when its piece is made. The same text JSON.stringify makes of the PeersView.
 */
export function* debugPeersJson(nodeName: string, d: DatapathView): Generator<string> {
  const table = d.table;
  const self = table.nodes.find((n) => n.name === nodeName);
  yield `{"at":"${new Date().toISOString()}","tableVersion":${d.version},"network":${text(table.network)},"networkV6":${text(table.networkV6)}${self ? `,"self":{${nodeFields(self)}}` : ''},"peers":[`;
  const c: PeerCounters = { name: '', txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, lastSeen: null };
  let chunk = '';
  let rows = 0;
  for (const n of table.nodes) {
    if (n.name === nodeName) continue;
    if (!d.peerCounters(n.name, c)) {
      c.txPackets = c.txBytes = c.rxPackets = c.rxBytes = 0;
      c.lastSeen = null;
    }
    const lastSeen = c.lastSeen ? `"${new Date(c.lastSeen).toISOString()}"` : 'null';
    chunk += `${rows === 0 ? '' : ','}{${nodeFields(n)},"txPackets":${c.txPackets},"txBytes":${c.txBytes},"rxPackets":${c.rxPackets},"rxBytes":${c.rxBytes},"lastSeen":${lastSeen}}`;
    if (++rows % ROWS_PER_CHUNK === 0) {
      yield chunk;
      chunk = '';
    }
  }
  yield `${chunk}]}`;
}

/** A NodeRow's members, in its order. */
function nodeFields(n: NodeLease): string {
  return `"name":${JSON.stringify(n.name)},"podCIDR":${text(n.podCIDR)},"podCIDRv6":${text(n.podCIDRv6)},"publicIP":${text(n.publicIP)},"publicIPv6":${text(n.publicIPv6)},"vtepMAC":"${formatMac(n.vtepMAC)}","vtepMACv6":"${formatMac(n.vtepMACv6)}"`;
}

/** A string member's value, or null. */
function text(x: { text: string } | string | undefined): string {
  return x === undefined ? 'null' : JSON.stringify(typeof x === 'string' ? x : x.text);
}
