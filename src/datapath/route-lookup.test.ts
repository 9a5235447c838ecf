import { describe, expect, it } from 'vitest';
import { parseIpv6 } from '../address/ip-text.js';
import { parseCidr } from '../subnets/cidr.js';
import { Int32Map } from './int32-map.js';
import { RouteLookup } from './route-lookup.js';
import { allocateTable, SharedTableReader, SharedTableWriter, type RouteRecord } from './shared-table.js';

function route(cidr: string, underlay: string, peerId: number, mac = [2, 0, 0, 0, 0, peerId]): RouteRecord {
  const c = parseCidr(cidr);
  return {
    family: c.family,
    prefix: c.addr,
    prefixLen: c.prefixLen,
    underlayFamily: 4,
    underlay: Buffer.from(underlay.split('.').map(Number)),
    vtepMAC: Buffer.from(mac),
    peerId,
  };
}

const ip = (s: string) => Buffer.from(s.split('.').map(Number)).readUInt32BE(0);

describe('Int32Map', () => {
  it('stores any int32 key, including unsigned addresses above 2^31', () => {
    const m = new Int32Map(1000);
    for (let i = 0; i < 1000; i++) m.set((0xc0000000 + i * 256) | 0, i);
    for (let i = 0; i < 1000; i++) expect(m.get(0xc0000000 + i * 256)).toBe(i);
    expect(m.get(0xc0000001)).toBe(-1);
    m.set(0xc0000000, 7);
    expect(m.get(0xc0000000)).toBe(7);
  });
});

describe('shared table and longest-prefix match', () => {
  it('finds the longest prefix and the peer of an underlay source', () => {
    const sab = allocateTable(16);
    const writer = new SharedTableWriter(sab);
    const reader = new SharedTableReader(sab);
    const v = writer.publish([route('10.244.0.0/16', '192.0.2.9', 9), route('10.244.2.0/24', '192.0.2.2', 2), route('10.244.2.128/25', '192.0.2.3', 3)]);
    expect(v % 2).toBe(0);
    const snap = reader.snapshot()!;
    expect(snap.version).toBe(v);
    const lpm = new RouteLookup();
    lpm.rebuild(snap);
    const peerOf = (dst: string) => {
      const r = lpm.lookupV4(ip(dst));
      return r < 0 ? -1 : lpm.peerId[r];
    };
    expect(peerOf('10.244.2.7')).toBe(2);
    expect(peerOf('10.244.2.200')).toBe(3);
    expect(peerOf('10.244.77.1')).toBe(9);
    expect(peerOf('10.245.0.1')).toBe(-1);
    const r = lpm.lookupV4(ip('10.244.2.7'));
    expect(Buffer.from(lpm.macs[r]).toString('hex')).toBe('020000000002');
    expect(lpm.underlay[r * 4]).toBe(ip('192.0.2.2'));
    expect(lpm.peerOfSourceV4(ip('192.0.2.3'))).toBe(3);
    expect(lpm.peerOfSourceV4(ip('192.0.2.99'))).toBe(-1);
  });

  it('scales to 5,000 nodes with every lookup right', () => {
    const routes = Array.from({ length: 5000 }, (_, i) => route(`10.${(i >> 8) + 1}.${i & 255}.0/24`, `192.0.${i >> 8}.${i & 255}`, i));
    const sab = allocateTable(5000);
    new SharedTableWriter(sab).publish(routes);
    const lpm = new RouteLookup();
    lpm.rebuild(new SharedTableReader(sab).snapshot()!);
    for (let i = 0; i < 5000; i++) expect(lpm.peerId[lpm.lookupV4(ip(`10.${(i >> 8) + 1}.${i & 255}.42`))]).toBe(i);
  });

  it('a reader never takes a table the writer is in the middle of', () => {
    const sab = allocateTable(4);
    const writer = new SharedTableWriter(sab);
    writer.publish([route('10.244.1.0/24', '192.0.2.1', 1)]);
    const words = new Int32Array(sab);
    Atomics.add(words, 0, 1); // as if a writer were mid-update
    expect(new SharedTableReader(sab).snapshot()).toBeUndefined();
    Atomics.add(words, 0, 1);
    expect(new SharedTableReader(sab).snapshot()?.count).toBe(1);
    expect(() => writer.publish(Array.from({ length: 5 }, (_, i) => route(`10.244.${i}.0/24`, '192.0.2.1', i)))).toThrow(/capacity 4/);
  });
});

describe('RouteLookup, IPv6', () => {
  const v6 = (cidr: string, underlay: string, peerId: number): RouteRecord => {
    const c = parseCidr(cidr);
    return { family: 6, prefix: c.addr, prefixLen: c.prefixLen, underlayFamily: 6, underlay: parseIpv6(underlay), vtepMAC: Buffer.from([2, 0, 0, 0, 6, peerId]), peerId };
  };
  const build = (routes: RouteRecord[]) => {
    const sab = allocateTable(16_384);
    new SharedTableWriter(sab).publish(routes);
    const r = new RouteLookup();
    r.rebuild(new SharedTableReader(sab).snapshot()!);
    return r;
  };
  const dst = (text: string) => parseIpv6(text);

  it('matches the longest prefix over /64s and others, and finds peers by IPv6 source', () => {
    const r = build([v6('fd00:10:244:1::/64', '2001:db8::1', 1), v6('fd00:10:244:1:8000::/65', '2001:db8::2', 2), v6('fd00:10::/32', '2001:db8::3', 3)]);
    const at = (text: string) => r.lookupV6(dst(text), 0);
    expect(r.peerId[at('fd00:10:244:1::5')]).toBe(1);
    expect(r.peerId[at('fd00:10:244:1:8000::5')]).toBe(2);
    expect(r.peerId[at('fd00:10:ffff::1')]).toBe(3);
    expect(at('fd00:11::1')).toBe(-1);
    const src = dst('2001:db8::2');
    expect(r.peerOfSourceV6(src.readUInt32BE(0), src.readUInt32BE(4), src.readUInt32BE(8), src.readUInt32BE(12))).toBe(2);
    expect(r.peerOfSourceV6(0x20010db8, 0, 0, 9)).toBe(-1);
  });

  it('holds 5,000 nodes’ /64s and finds each', () => {
    const routes = Array.from({ length: 5000 }, (_, i) => v6(`fd00:10:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::/64`, `2001:db8::${(i + 1).toString(16)}`, i));
    const r = build(routes);
    for (let i = 0; i < 5000; i += 7) expect(r.peerId[r.lookupV6(dst(`fd00:10:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::42`), 0)]).toBe(i);
  });
});

describe('a shard adopting table after table', () => {
  // The reader copies into two sets of arrays in turn and the lookup refills its maps in place:
  // after every change each answer is the one a lookup built afresh from that table gives.
  it('answers each table as a fresh lookup does, with the changed node at its new address and MAC, and a removed one gone', () => {
    const sab = allocateTable(1024);
    const writer = new SharedTableWriter(sab);
    const reader = new SharedTableReader(sab);
    const lookup = new RouteLookup();
    const tables: RouteRecord[][] = [];
    let nodes = Array.from({ length: 200 }, (_, k) => route(`10.244.${k}.0/24`, `192.0.2.${k + 1}`, k));
    for (let change = 0; change < 6; change++) {
      tables.push(nodes);
      writer.publish(nodes);
      lookup.rebuild(reader.snapshot()!);
      const fresh = new RouteLookup();
      fresh.rebuild(new SharedTableReader(sab).snapshot()!);
      for (let k = 0; k < 220; k++) {
        const dst = ip(`10.244.${k}.9`);
        const got = lookup.lookupV4(dst);
        expect(got).toBe(fresh.lookupV4(dst));
        if (got < 0) continue;
        expect([...lookup.macs[got]]).toEqual([...fresh.macs[got]]);
        expect(lookup.underlay[got * 4]).toBe(fresh.underlay[got * 4]);
        expect(lookup.peerOfSourceV4(lookup.underlay[got * 4])).toBe(fresh.peerOfSourceV4(fresh.underlay[got * 4]));
      }
      // Next: node `change` gets a new underlay address and VTEP MAC, the last node leaves.
      nodes = nodes.slice(0, -1).map((r, k) => (k === change ? route(`10.244.${k}.0/24`, `198.51.100.${k + 1}`, k, [2, 1, 1, 1, 1, k]) : r));
    }
    // The last table, checked against what it says rather than against another lookup.
    const last = tables[tables.length - 1];
    const r = lookup.lookupV4(ip('10.244.4.9'));
    expect([...lookup.macs[r]]).toEqual([2, 1, 1, 1, 1, 4]);
    expect(lookup.underlay[r * 4]).toBe(ip('198.51.100.5'));
    expect(lookup.lookupV4(ip(`10.244.${last.length}.9`))).toBe(-1);
    expect(lookup.peerOfSourceV4(ip('192.0.2.5'))).toBe(-1);
  });
});
