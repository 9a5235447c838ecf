// Differential property: after every step of a random sequence of node changes (a lease set,
// replaced or removed, pod CIDRs drawn from a small space so that they overlap often), the
// LeaseTable kept one change at a time holds exactly the leases, and leaves out exactly the nodes,
// that a decision from scratch over all current leases gives: first claim wins, our node first,
// then by name; and it names every node whose kept lease changed (what the datapath then touches).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../test/property-runs.js';
import { cidrOverlaps, parseCidr, type Cidr } from './cidr.js';
import { LeaseTable } from './lease-table.js';
import type { NodeLease } from './subnet-table.js';

const OWN = 'n3';
const NAMES = ['n0', 'n1', 'n2', OWN, 'n4', 'n5', 'n6', 'n7'];
const MAC = Buffer.alloc(6);

const v4 = fc.constantFrom(...['10.244.0.0/22', '10.244.0.0/23', '10.244.2.0/23', '10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24', '10.244.1.0/25', '10.244.1.128/25'].map(parseCidr));
const v6 = fc.constantFrom(...['fd00:10:244::/56', 'fd00:10:244::/64', 'fd00:10:244:1::/64', 'fd00:10:244:1::/80', 'fd00:10:244:100::/56'].map(parseCidr));

type Step = { name: string; lease: { podCIDR: Cidr | undefined; podCIDRv6: Cidr | undefined } | undefined };
const step: fc.Arbitrary<Step> = fc.record({
  name: fc.constantFrom(...NAMES),
  lease: fc.option(
    fc.record({ podCIDR: fc.option(v4, { nil: undefined }), podCIDRv6: fc.option(v6, { nil: undefined }) }).filter((l) => l.podCIDR !== undefined || l.podCIDRv6 !== undefined),
    { nil: undefined, freq: 4 },
  ),
});

/** The decision from nothing: in claim order, a lease is kept unless a kept one overlaps it. */
function fromScratch(leases: NodeLease[]): { kept: NodeLease[]; left: string[] } {
  const order = [...leases].sort((a, b) => (a.name === OWN ? -1 : b.name === OWN ? 1 : a.name < b.name ? -1 : 1));
  const kept: NodeLease[] = [];
  const left: string[] = [];
  for (const l of order) {
    const clash = kept.some((k) => (['podCIDR', 'podCIDRv6'] as const).some((key) => l[key] && k[key] && cidrOverlaps(l[key], k[key])));
    if (clash) left.push(l.name);
    else kept.push(l);
  }
  return { kept: kept.sort((a, b) => (a.name < b.name ? -1 : 1)), left: left.sort() };
}

describe('LeaseTable', () => {
  it('kept one change at a time, holds what a decision from scratch holds', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const leftNow = new Map<string, string>();
        const table = new LeaseTable(OWN, { left: (name, why) => leftNow.set(name, why), back: (name) => leftNow.delete(name) });
        const current = new Map<string, NodeLease>();
        let keptBefore = new Map<string, NodeLease>();
        for (const s of steps) {
          const lease = s.lease && { name: s.name, ...s.lease, publicIP: '192.0.2.1', publicIPv6: undefined, vtepMAC: MAC, vtepMACv6: MAC };
          if (lease) current.set(s.name, lease);
          else {
            current.delete(s.name);
            leftNow.delete(s.name); // a node gone is no longer left out
          }
          table.set(s.name, lease);
          const expected = fromScratch([...current.values()]);
          const nodes = table.nodes();
          expect(nodes.map((n) => n.name)).toEqual(expected.kept.map((n) => n.name));
          nodes.forEach((n, i) => expect(n).toBe(expected.kept[i])); // the lease objects themselves
          expect([...leftNow.keys()].sort()).toEqual(expected.left);
          // Every node whose kept lease came, went or was replaced is named (cascades included).
          const keptNow = new Map(nodes.map((n) => [n.name, n]));
          const changed = table.takeChanged();
          for (const name of new Set([...keptBefore.keys(), ...keptNow.keys()])) if (keptBefore.get(name) !== keptNow.get(name)) expect(changed).toContain(name);
          keptBefore = keptNow;
        }
      }),
      { numRuns: propertyRuns(1000) },
    );
  });

  it('says which kept node a left-out one overlaps, and hands out tables that later changes leave alone', () => {
    const left: string[] = [];
    const table = new LeaseTable('own', { left: (name, why) => left.push(`${name}: ${why}`), back: (name) => left.push(`${name} back`) });
    const lease = (name: string, cidr: string): NodeLease => ({ name, podCIDR: parseCidr(cidr), podCIDRv6: undefined, publicIP: '192.0.2.1', publicIPv6: undefined, vtepMAC: MAC, vtepMACv6: MAC });
    table.set('b', lease('b', '10.244.1.0/24'));
    table.set('own', lease('own', '10.244.0.0/23'));
    const before = table.nodes();
    table.set('a', lease('a', '10.244.2.0/24'));
    table.set('own', undefined);
    expect(before.map((n) => n.name)).toEqual(['own']);
    expect(table.nodes().map((n) => n.name)).toEqual(['a', 'b']);
    expect(left).toEqual(['b back', 'own back', 'b: pod CIDR 10.244.1.0/24 overlaps 10.244.0.0/23 of own', 'a back', 'b back']);
  });
});
