// A table change remakes only the changed peers' route records; the table it publishes is the
// one a rebuild from nothing gives, in the shared table as the shards read it.
import { describe, expect, it } from 'vitest';
import { parseStaticTable } from '../subnets/static-file.js';
import type { NodeLease, SubnetTable } from '../subnets/subnet-table.js';
import { PeerIds } from './peer-ids.js';
import { routesFromTable, type PeerRoutesCache } from './routes-from-table.js';
import { allocateTable, SharedTableReader, SharedTableWriter } from './shared-table.js';

const own = { v4: true, v6: true };

function table(count: number): SubnetTable {
  return parseStaticTable({
    networks: ['10.244.0.0/16', 'fd00:10:244::/56'],
    nodes: Array.from({ length: count }, (_, k) => ({
      name: `n${String(k).padStart(3, '0')}`,
      podCIDRs: [`10.244.${k}.0/24`, `fd00:10:244:${k.toString(16)}::/64`],
      publicIP: `192.0.2.${k + 1}`,
      publicIPv6: `2001:db8::${(k + 1).toString(16)}`,
      vtepMAC: `0a:58:c0:00:02:${(k + 1).toString(16).padStart(2, '0')}`,
    })),
  });
}

/** `t` with node `i`'s lease replaced by a new object: a new VTEP MAC and underlay address, as after a flanneld restart elsewhere. */
function withChanged(t: SubnetTable, i: number): SubnetTable {
  const n = t.nodes[i];
  const changed: NodeLease = { ...n, publicIP: '198.51.100.7', vtepMAC: Buffer.from('0a58c6336407', 'hex') };
  return { ...t, nodes: t.nodes.map((x, j) => (j === i ? changed : x)) };
}

/** What the shards read after `routes` are published. */
function published(routes: Parameters<SharedTableWriter['publish']>[0]) {
  const sab = allocateTable(1024);
  new SharedTableWriter(sab).publish(routes);
  const { version: _, ...rest } = new SharedTableReader(sab).snapshot()!;
  return rest;
}

describe('routesFromTable across a change', () => {
  it('remakes only the changed peer and publishes what a full rebuild does', () => {
    const peers = new PeerIds(64);
    const cache: PeerRoutesCache = new WeakMap();
    const before = table(40);
    const first = routesFromTable(before, 'n000', peers, own, undefined, cache);
    expect(first.made).toBe(39);
    expect(first.routes).toHaveLength(39 * 4); // per peer: two pod prefixes, two source records

    const after = withChanged(before, 17);
    const next = routesFromTable(after, 'n000', peers, own, undefined, cache);
    expect(next.made).toBe(1);
    // Every unchanged peer's records are the very objects of the first table; the changed one's are new.
    const changedId = peers.get('n017');
    for (let i = 0; i < next.routes.length; i++) {
      if (next.routes[i].peerId === changedId) expect(first.routes).not.toContain(next.routes[i]);
      else expect(next.routes[i]).toBe(first.routes[i]);
    }
    const changed = next.routes.filter((r) => r.peerId === changedId);
    expect(changed.map((r) => r.vtepMAC.toString('hex'))).toEqual(['0a58c6336407', after.nodes[17].vtepMACv6.toString('hex'), '0a58c6336407', '0a58c6336407']);
    expect(changed.filter((r) => r.underlayFamily === 4).map((r) => [...r.underlay])).toEqual([[198, 51, 100, 7], [198, 51, 100, 7]]);

    const rebuilt = routesFromTable(after, 'n000', peers, own);
    expect(rebuilt.made).toBe(39);
    expect(published(next.routes)).toEqual(published(rebuilt.routes));
  });

  it('remakes a peer whose pod CIDR became direct, and one whose peer id changed hands', () => {
    const peers = new PeerIds(64);
    const cache: PeerRoutesCache = new WeakMap();
    const t = table(5);
    routesFromTable(t, 'n000', peers, own, undefined, cache);
    const direct = routesFromTable(t, 'n000', peers, own, new Set(['10.244.3.0/24']), cache);
    expect(direct.made).toBe(1);
    expect(direct.routes.some((r) => r.family === 4 && r.prefix[2] === 3)).toBe(false);
    expect(published(direct.routes)).toEqual(published(routesFromTable(t, 'n000', new PeerIds(64), own, new Set(['10.244.3.0/24'])).routes));

    // The same lease objects under other peer ids (ids handed out afresh, in another order): remade with them.
    const ids = new PeerIds(64);
    const renumbered = routesFromTable({ ...t, nodes: [...t.nodes].reverse() }, 'n000', ids, own, undefined, cache);
    expect(renumbered.made).toBe(4);
    for (const r of renumbered.routes) expect(ids.get(t.nodes.find((n) => r.vtepMAC.equals(n.vtepMAC) || r.vtepMAC.equals(n.vtepMACv6))!.name)).toBe(r.peerId);
  });
});
