// /debug/peers written in pieces: the pieces joined are one JSON PeersView, whatever the number of peers.
import { describe, expect, it } from 'vitest';
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';
import { parseCidr } from '../subnets/cidr.js';
import type { NodeLease } from '../subnets/subnet-table.js';
import { debugPeersJson, type PeersView } from './debug-peers.js';
import type { DatapathView } from './datapath-view.js';

function lease(i: number): NodeLease {
  const mac = Buffer.from([0x0a, 0x58, 0, 0, i >> 8, i & 255]);
  return { name: `n${i}`, podCIDR: parseCidr(`10.244.${i >> 5}.${(i & 31) * 8}/29`), podCIDRv6: undefined, publicIP: `192.0.2.${i % 250}`, publicIPv6: undefined, vtepMAC: mac, vtepMACv6: mac };
}

function view(nodes: number): DatapathView {
  const table = { network: parseCidr('10.244.0.0/16'), networkV6: undefined, nodes: Array.from({ length: nodes }, (_, i) => lease(i)) };
  const counters = { at: 0, peers: [{ name: 'n1', txPackets: 3, txBytes: 300, rxPackets: 2, rxBytes: 200, lastSeen: 1000 }] } as unknown as CounterSnapshot;
  return { table, version: 7, counters: () => counters } as unknown as DatapathView;
}

describe('/debug/peers as pieces of JSON', () => {
  it.each([1, 2, 257, 513, 1000])('%i nodes: one PeersView with every peer once, in table order, with its counters', (nodes) => {
    const pieces = [...debugPeersJson('n0', view(nodes))];
    const peers = JSON.parse(pieces.join('')) as PeersView;
    expect(peers).toMatchObject({ at: '1970-01-01T00:00:00.000Z', tableVersion: 7, network: '10.244.0.0/16', networkV6: null, self: { name: 'n0', podCIDR: '10.244.0.0/29', vtepMAC: '0a:58:00:00:00:00' } });
    expect(peers.peers.map((p) => p.name)).toEqual(Array.from({ length: nodes - 1 }, (_, i) => `n${i + 1}`));
    if (nodes > 1) expect(peers.peers[0]).toEqual({ name: 'n1', podCIDR: '10.244.0.8/29', podCIDRv6: null, publicIP: '192.0.2.1', publicIPv6: null, vtepMAC: '0a:58:00:00:00:01', vtepMACv6: '0a:58:00:00:00:01', txPackets: 3, txBytes: 300, rxPackets: 2, rxBytes: 200, lastSeen: '1970-01-01T00:00:01.000Z' });
    expect(pieces.length).toBe(2 + Math.floor((nodes - 1) / 256)); // the head, one per 256 rows, the rest and the close
  });
});
