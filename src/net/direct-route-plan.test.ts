// DirectRouting's plan: which peers' pod CIDRs go by a kernel route, given the kernel's route
// lookups (injected here), and that the datapath's table then leaves exactly those out.
import { describe, expect, it } from 'vitest';
import { PeerIds } from '../datapath/peer-ids.js';
import { routesFromTable } from '../datapath/routes-from-table.js';
import { parseStaticTable } from '../subnets/static-file.js';
import { planDirectRoutes, type RouteAnswer } from './direct-route-plan.js';

const table = parseStaticTable({
  networks: ['10.244.0.0/16', 'fd00:10:244::/56'],
  nodes: [
    { name: 'n1', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], publicIP: '192.0.2.1', publicIPv6: '2001:db8::1', vtepMAC: '0a:58:c0:00:02:01' },
    // Same subnet as n1, IPv6 written in a long form: the lookup gets the canonical one.
    { name: 'n2', podCIDRs: ['10.244.2.0/24', 'fd00:10:244:2::/64'], publicIP: '192.0.2.2', publicIPv6: '2001:0db8:0:0::2', vtepMAC: '0a:58:c0:00:02:02' },
    // Behind a router: the kernel's route has a gateway.
    { name: 'n3', podCIDRs: ['10.244.3.0/24', 'fd00:10:244:3::/64'], publicIP: '192.0.2.193', publicIPv6: '2001:db8::ff00:3', vtepMAC: '0a:58:c0:00:02:03' },
    // On-link over IPv4 only; its IPv6 address the kernel cannot route at all.
    { name: 'n4', podCIDRs: ['10.244.4.0/24', 'fd00:10:244:4::/64'], publicIP: '192.0.2.4', publicIPv6: '2001:db8:1::4', vtepMAC: '0a:58:c0:00:02:04' },
  ],
});

const kernel = new Map<string, RouteAnswer>([
  ['192.0.2.1', { dev: 'lo', gateway: false, type: 'local' }],
  ['2001:db8::1', { dev: 'lo', gateway: false, type: 'local' }],
  ['192.0.2.2', { dev: 'eth0', gateway: false, type: undefined }],
  ['2001:db8::2', { dev: 'eth0', gateway: false, type: undefined }],
  ['192.0.2.193', { dev: 'eth0', gateway: true, type: undefined }],
  ['2001:db8::ff00:3', { dev: 'eth0', gateway: true, type: undefined }],
  ['192.0.2.4', { dev: 'eth1', gateway: false, type: undefined }],
]);

function lookupRecorder(answers: Map<string, RouteAnswer>) {
  const asked: string[][] = [];
  const lookup = async (addresses: readonly string[]) => {
    asked.push([...addresses]);
    return new Map([...answers].filter(([a]) => addresses.includes(a)));
  };
  return { asked, lookup };
}

describe('planDirectRoutes', () => {
  it('routes directly the peers the kernel reaches without a gateway, per family, via that family’s address', async () => {
    const { asked, lookup } = lookupRecorder(kernel);
    const plan = await planDirectRoutes(table, 'n1', { v4: true, v6: true }, 'vxroute0', lookup);
    expect(plan).toEqual([
      { family: 4, cidr: '10.244.2.0/24', via: '192.0.2.2', dev: 'eth0' },
      { family: 4, cidr: '10.244.4.0/24', via: '192.0.2.4', dev: 'eth1' },
      { family: 6, cidr: 'fd00:10:244:2::/64', via: '2001:db8::2', dev: 'eth0' },
    ]);
    // One batch of lookups, ourselves not among them.
    expect(asked).toHaveLength(1);
    expect(asked[0].sort()).toEqual(['192.0.2.193', '192.0.2.2', '192.0.2.4', '2001:db8:1::4', '2001:db8::2', '2001:db8::ff00:3'].sort());
  });

  it('asks nothing for a family we have no underlay of, and nothing when there are no peers', async () => {
    const { asked, lookup } = lookupRecorder(kernel);
    expect((await planDirectRoutes(table, 'n1', { v4: true, v6: false }, 'vxroute0', lookup)).map((r) => r.cidr)).toEqual(['10.244.2.0/24', '10.244.4.0/24']);
    expect(asked[0].every((a) => !a.includes(':'))).toBe(true);
    const alone = parseStaticTable({ networks: ['10.244.0.0/16'], nodes: [{ name: 'n1', podCIDRs: ['10.244.1.0/24'], publicIP: '192.0.2.1', vtepMAC: '0a:58:c0:00:02:01' }] });
    expect(await planDirectRoutes(alone, 'n1', { v4: true, v6: true }, 'vxroute0', lookup)).toEqual([]);
    expect(asked).toHaveLength(1);
  });

  it('never routes directly a peer the kernel would reach through our own overlay device', async () => {
    const throughUs = new Map(kernel);
    throughUs.set('192.0.2.2', { dev: 'vxroute0', gateway: false, type: undefined });
    const { lookup } = lookupRecorder(throughUs);
    const plan = await planDirectRoutes(table, 'n1', { v4: true, v6: false }, 'vxroute0', lookup);
    expect(plan.map((r) => r.cidr)).toEqual(['10.244.4.0/24']);
  });

  it('the datapath’s table leaves out exactly the direct pod CIDRs and keeps every peer’s source records', async () => {
    const { lookup } = lookupRecorder(kernel);
    const plan = await planDirectRoutes(table, 'n1', { v4: true, v6: true }, 'vxroute0', lookup);
    const own = { v4: true, v6: true };
    const all = routesFromTable(table, 'n1', new PeerIds(16), own).routes;
    const some = routesFromTable(table, 'n1', new PeerIds(16), own, new Set(plan.map((r) => r.cidr))).routes;
    const text = (r: (typeof all)[number]) => (r.family === 0 ? `src ${r.underlay.toString('hex')}` : `${r.family} ${r.prefix.toString('hex')}/${r.prefixLen}`);
    const gone = all.map(text).filter((t) => !some.map(text).includes(t));
    expect(gone.sort()).toEqual(['4 0af40200/24', '4 0af40400/24', '6 fd000010024400020000000000000000/64'].sort());
    expect(some.filter((r) => r.family === 0)).toHaveLength(all.filter((r) => r.family === 0).length);
  });
});
