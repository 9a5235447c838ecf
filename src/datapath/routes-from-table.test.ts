// A table change remakes only the changed peers' route records, told which nodes changed or not;
// the table it publishes is the one a build from nothing gives, in the shared table as the shards read it.
import { describe, expect, it } from 'vitest';
import { parseStaticTable } from '../subnets/static-file.js';
import type { NodeLease, SubnetTable } from '../subnets/subnet-table.js';
import { PeerIds } from './peer-ids.js';
import { routesFromTable, TableRoutes } from './routes-from-table.js';
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

describe('TableRoutes across a change', () => {
  it('remakes only the changed peer and publishes what a build from nothing does, told the change or not', () => {
    for (const told of [true, false]) {
      const peers = new PeerIds(64);
      const routes = new TableRoutes('n000', peers, own);
      const before = table(40);
      expect(routes.rebuild(before).made).toBe(39);
      const first = [...routes.routes];
      expect(first).toHaveLength(39 * 4); // per peer: two pod prefixes, two source records

      const after = withChanged(before, 17);
      expect((told ? routes.update(after, ['n017']) : routes.rebuild(after)).made).toBe(1);
      const next = routes.routes;
      // Every unchanged peer's records are the very objects of the first table; the changed one's are new.
      const changedId = peers.get('n017');
      for (let i = 0; i < next.length; i++) {
        if (next[i].peerId === changedId) expect(first).not.toContain(next[i]);
        else expect(next[i]).toBe(first[i]);
      }
      const changed = next.filter((r) => r.peerId === changedId);
      expect(changed.map((r) => r.vtepMAC.toString('hex'))).toEqual(['0a58c6336407', after.nodes[17].vtepMACv6.toString('hex'), '0a58c6336407', '0a58c6336407']);
      expect(changed.filter((r) => r.underlayFamily === 4).map((r) => [...r.underlay])).toEqual([[198, 51, 100, 7], [198, 51, 100, 7]]);
      expect(published(next)).toEqual(published(routesFromTable(after, 'n000', peers, own).routes));
    }
  });

  it('remakes a peer whose pod CIDR became direct, and one whose peer id changed hands', () => {
    const peers = new PeerIds(64);
    const routes = new TableRoutes('n000', peers, own);
    const t = table(5);
    routes.rebuild(t);
    expect(routes.rebuild(t, new Set(['10.244.3.0/24'])).made).toBe(1);
    expect(routes.routes.some((r) => r.family === 4 && r.prefix[2] === 3)).toBe(false);
    expect(published(routes.routes)).toEqual(published(routesFromTable(t, 'n000', new PeerIds(64), own, new Set(['10.244.3.0/24'])).routes));

    // Peers leave and come back in another order: the ids move, and so are their records remade with them.
    const two = { ...t, nodes: t.nodes.filter((n) => n.name < 'n003') };
    const gone = routes.update(two, ['n003', 'n004'], new Set(['10.244.3.0/24']));
    expect(gone.released).toHaveLength(2);
    expect(gone.made).toBe(0);
    const moved = routes.update(t, ['n004', 'n003'], new Set(['10.244.3.0/24']));
    expect(moved.made).toBe(2);
    for (const r of routes.routes) expect(peers.get(t.nodes.find((n) => r.vtepMAC.equals(n.vtepMAC) || r.vtepMAC.equals(n.vtepMACv6))!.name)).toBe(r.peerId);
  });
});
