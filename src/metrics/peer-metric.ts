// The per-peer metrics, written as Prometheus text straight from each peer's counters, one pass
// over the peers per family, in pieces, and kept nowhere. Through prom-client each scrape of 5,000 peers made
// 25,000 sample objects with their label objects and lines (11 MB of garbage per scrape, measured
// in docs/decisions.md), and a Counter per peer would keep them between scrapes.
import type { PeerCounters } from '../datapath/counter-snapshot.js';

interface PeerFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  /** The peer's value, or undefined for no sample. */
  pick(p: PeerCounters): number | undefined;
}

const FAMILIES: readonly PeerFamily[] = [
  { name: 'vxroute_tx_packets_total', help: 'Packets encapsulated and sent to a peer node.', type: 'counter', pick: (p) => p.txPackets },
  { name: 'vxroute_tx_bytes_total', help: 'Bytes of inner IP packets sent to a peer node.', type: 'counter', pick: (p) => p.txBytes },
  { name: 'vxroute_rx_packets_total', help: 'Packets received from a peer node and delivered to the TUN.', type: 'counter', pick: (p) => p.rxPackets },
  { name: 'vxroute_rx_bytes_total', help: 'Bytes of inner IP packets received from a peer node.', type: 'counter', pick: (p) => p.rxBytes },
  { name: 'vxroute_peer_last_seen_timestamp_seconds', help: 'When a datagram from the peer node was last accepted (Unix time).', type: 'gauge', pick: (p) => (p.lastSeen === null ? undefined : p.lastSeen / 1000) },
];

/** About how many characters a piece of the text holds: written to the socket before the next is made. */
const PIECE_CHARS = 64 * 1024;

/**
 * The five per-peer families in the text format, each after a blank line (as prom-client
 * separates families), in pieces of about `pieceChars`: the scrape's text is never whole in
 * memory (1.2 MB at 5,000 peers, and as much again as the Buffer written). Each family is one
 * pass over `rows()`, so each family holds its own moment of the counters.
 */
export function* peerMetricsPieces(rows: () => Iterable<PeerCounters>, pieceChars = PIECE_CHARS): Generator<string> {
  for (const f of FAMILIES) {
    let piece = `\n# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
    for (const p of rows()) {
      const value = f.pick(p);
      if (value === undefined) continue;
      piece += `${f.name}{peer="${labelValue(p.name)}"} ${value}\n`;
      if (piece.length >= pieceChars) {
        yield piece;
        piece = '';
      }
    }
    if (piece !== '') yield piece;
  }
}

/** A label value escaped as the text format wants (a node name has none of these characters, but it is the API's text). */
function labelValue(s: string): string {
  return /[\\"\n]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : s;
}
