// /debug/peers written in pieces: the pieces joined are one JSON PeersView, whatever the number of
// peers, and the very text JSON.stringify makes of that PeersView built whole.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatMac } from '../address/mac-text.js';
import type { PeerCounters } from '../datapath/counter-snapshot.js';
import { parseCidr } from '../subnets/cidr.js';
import type { NodeLease, SubnetTable } from '../subnets/subnet-table.js';
import { debugPeersJson, type NodeRow, type PeersView } from './debug-peers.js';
import type { DatapathView } from './datapath-view.js';

function lease(i: number): NodeLease {
  const mac = Buffer.from([0x0a, 0x58, 0, 0, i >> 8, i & 255]);
  const dual = i % 3 === 0;
  return {
    name: `n${i}`,
    podCIDR: parseCidr(`10.244.${i >> 5}.${(i & 31) * 8}/29`),
    podCIDRv6: dual ? parseCidr(`fd00:10:244:${i.toString(16)}::/64`) : undefined,
    publicIP: `192.0.2.${i % 250}`,
    publicIPv6: dual ? `2001:db8::${i.toString(16)}` : undefined,
    vtepMAC: mac,
    vtepMACv6: dual ? Buffer.from([0x0a, 0x58, 6, 0, i >> 8, i & 255]) : mac,
  };
}

/** Counters for every other node; n1 seen at 1 s; the rest have no peer id. */
function countersOf(name: string): Omit<PeerCounters, 'name'> | undefined {
  const i = Number.parseInt(name.slice(1), 10);
  if (i % 2 === 0) return undefined;
  return { txPackets: 3 * i, txBytes: 300 * i, rxPackets: 2 * i, rxBytes: 200 * i + 0.5, lastSeen: i === 1 ? 1000 : i % 5 === 0 ? null : 1_700_000_000_000 + i };
}

function view(table: SubnetTable): DatapathView {
  return {
    table,
    version: 7,
    peerCounters: (name: string, into: PeerCounters) => {
      const c = countersOf(name);
      if (c) Object.assign(into, c);
      return c !== undefined;
    },
  } as unknown as DatapathView;
}

const tableOf = (nodes: number): SubnetTable => ({ network: parseCidr('10.244.0.0/16'), networkV6: undefined, nodes: Array.from({ length: nodes }, (_, i) => lease(i)).sort((a, b) => (a.name < b.name ? -1 : 1)) });

/** The PeersView built whole, as /debug/peers was before it was streamed. */
function whole(nodeName: string, table: SubnetTable): PeersView {
  const row = (n: NodeLease): NodeRow => ({ name: n.name, podCIDR: n.podCIDR?.text ?? null, podCIDRv6: n.podCIDRv6?.text ?? null, publicIP: n.publicIP ?? null, publicIPv6: n.publicIPv6 ?? null, vtepMAC: formatMac(n.vtepMAC), vtepMACv6: formatMac(n.vtepMACv6) });
  const self = table.nodes.find((n) => n.name === nodeName);
  return {
    at: new Date().toISOString(),
    tableVersion: 7,
    network: table.network?.text ?? null,
    networkV6: table.networkV6?.text ?? null,
    self: self && row(self),
    peers: table.nodes
      .filter((n) => n.name !== nodeName)
      .map((n) => {
        const c = countersOf(n.name);
        return { ...row(n), txPackets: c?.txPackets ?? 0, txBytes: c?.txBytes ?? 0, rxPackets: c?.rxPackets ?? 0, rxBytes: c?.rxBytes ?? 0, lastSeen: c?.lastSeen ? new Date(c.lastSeen).toISOString() : null };
      }),
  };
}

describe('/debug/peers as pieces of JSON', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it.each([1, 2, 257, 513, 1000])('%i nodes: one PeersView with every peer once, in table order, with its counters', (nodes) => {
    const table = tableOf(nodes);
    const pieces = [...debugPeersJson('n0', view(table))];
    const text = pieces.join('');
    expect(text).toBe(JSON.stringify(whole('n0', table)));
    const peers = JSON.parse(text) as PeersView;
    expect(peers).toMatchObject({ at: '1970-01-01T00:00:00.000Z', tableVersion: 7, network: '10.244.0.0/16', networkV6: null, self: { name: 'n0', podCIDR: '10.244.0.0/29', vtepMAC: '0a:58:00:00:00:00' } });
    expect(peers.peers.map((p) => p.name)).toEqual(table.nodes.slice(1).map((n) => n.name));
    if (nodes > 1) expect(peers.peers[0]).toEqual({ name: 'n1', podCIDR: '10.244.0.8/29', podCIDRv6: null, publicIP: '192.0.2.1', publicIPv6: null, vtepMAC: '0a:58:00:00:00:01', vtepMACv6: '0a:58:00:00:00:01', txPackets: 3, txBytes: 300, rxPackets: 2, rxBytes: 200.5, lastSeen: '1970-01-01T00:00:01.000Z' });
    expect(pieces.length).toBe(2 + Math.floor((nodes - 1) / 256)); // the head, one per 256 rows, the rest and the close
  });

  it('leaves self out when our node is not in the table, and escapes names', () => {
    const table = tableOf(4);
    table.nodes.push({ ...lease(5), name: 'n5 "quoted" \\ name' });
    const text = [...debugPeersJson('elsewhere', view(table))].join('');
    expect(text).toBe(JSON.stringify(whole('elsewhere', table)));
    expect(JSON.parse(text)).not.toHaveProperty('self');
  });
});
