// Differential property: after every step of a random sequence of node changes (leases added,
// replaced or removed, a batch at a time, the changed names told with some unchanged ones among
// them), the records TableRoutes keeps are those a build from nothing gives for the same table,
// in the same order, each under the peer id its node holds; ids are distinct and a freed id is
// given again only when none is fresh (capacity 7 for up to 7 peers, so reuse happens).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test/property-runs.js';
import { parseCidr } from '../subnets/cidr.js';
import type { NodeLease, SubnetTable } from '../subnets/subnet-table.js';
import { PeerIds } from './peer-ids.js';
import { routesFromTable, TableRoutes } from './routes-from-table.js';
import type { RouteRecord } from './shared-table.js';

const SELF = 'n3';
const NAMES = ['n0', 'n1', 'n2', SELF, 'n4', 'n5', 'n6', 'n7'];
const own = { v4: true, v6: true };

const lease = (name: string) =>
  fc.record({
    v4: fc.option(fc.constantFrom('10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'), { nil: undefined }),
    v6: fc.option(fc.constantFrom('fd00:10:244:1::/64', 'fd00:10:244:2::/64'), { nil: undefined }),
    // Few underlay addresses: peers share them, so the order of source records decides which peer a source maps to.
    ip4: fc.option(fc.constantFrom('192.0.2.1', '192.0.2.2'), { nil: undefined }),
    ip6: fc.option(fc.constantFrom('2001:db8::1', '2001:db8::2'), { nil: undefined }),
    mac: fc.integer({ min: 0, max: 255 }),
  }).map(({ v4, v6, ip4, ip6, mac }): NodeLease => ({
    name,
    podCIDR: v4 === undefined ? undefined : parseCidr(v4),
    podCIDRv6: v6 === undefined ? undefined : parseCidr(v6),
    publicIP: ip4,
    publicIPv6: ip6,
    vtepMAC: Buffer.from([0x0a, 0x58, 0, 0, 4, mac]),
    vtepMACv6: Buffer.from([0x0a, 0x58, 0, 0, 6, mac]),
  }));

/** One batch: some nodes set (a new lease object) or removed, and some names told as changed that are not. */
const batch = fc.record({
  ops: fc.array(fc.constantFrom(...NAMES).chain((name) => fc.option(lease(name), { nil: undefined, freq: 3 }).map((l) => ({ name, lease: l }))), { minLength: 1, maxLength: 3 }),
  extra: fc.subarray(NAMES, { maxLength: 2 }),
});

/** Records as text, each naming its peer's node instead of its id. */
function named(routes: readonly RouteRecord[], peers: PeerIds): string[] {
  const names = new Map([...peers.entries()].map(([name, id]) => [id, name]));
  return routes.map((r) => `${names.get(r.peerId)} ${r.family} ${r.prefix.toString('hex')}/${r.prefixLen} via ${r.underlayFamily} ${r.underlay.toString('hex')} ${r.vtepMAC.toString('hex')}`);
}

describe('TableRoutes.update', () => {
  it('equals a build from nothing after any sequence of changes', () => {
    fc.assert(
      fc.property(fc.subarray(['10.244.2.0/24', 'fd00:10:244:1::/64']), fc.array(batch, { minLength: 1, maxLength: 30 }), (directList, batches) => {
        const direct = new Set(directList);
        const current = new Map<string, NodeLease>();
        const peers = new PeerIds(7);
        const routes = new TableRoutes(SELF, peers, own);
        const tableOf = (): SubnetTable => ({ network: parseCidr('10.244.0.0/16'), networkV6: undefined, nodes: [...current.values()].sort((a, b) => (a.name < b.name ? -1 : 1)) });
        routes.rebuild(tableOf(), direct);
        const freed = new Set<number>();
        for (const { ops, extra } of batches) {
          const before = new Map([...peers.entries()]);
          for (const { name, lease: l } of ops) {
            if (l) current.set(name, l);
            else current.delete(name);
          }
          const table = tableOf();
          const change = routes.update(table, [...ops.map((o) => o.name), ...extra], direct);

          const scratchIds = new PeerIds(7);
          expect(named(routes.routes, peers)).toEqual(named(routesFromTable(table, SELF, scratchIds, own, direct).routes, scratchIds));
          // Ids: one per peer, distinct, kept by every node that stayed; a reused id was freed before.
          const ids = new Map([...peers.entries()]);
          expect([...ids.keys()].sort()).toEqual(table.nodes.map((n) => n.name).filter((n) => n !== SELF));
          expect(new Set(ids.values()).size).toBe(ids.size);
          for (const [name, id] of ids) if (before.has(name)) expect(id).toBe(before.get(name));
          for (const id of change.released) expect([...before.values()]).toContain(id);
          for (const id of change.released) freed.add(id);
          for (const id of change.reused) expect(freed).toContain(id); // given again only after it was freed
        }
      }),
      { numRuns: propertyRuns(500) },
    );
  });
});
