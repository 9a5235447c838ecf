// Encapsulation and decapsulation over a real batch layout, without devices.
import { describe, expect, it } from 'vitest';
import { ENCAP_LEN, HEADROOM, IPPROTO_UDP } from '../packet/constants.js';
import { internetChecksum } from '../packet/checksum.js';
import { writeIpv4Header } from '../packet/ipv4.js';
import { writeIpv6Header } from '../packet/ipv6.js';
import { parseIpv6 } from '../address/ip-text.js';
import { parseCidr } from '../subnets/cidr.js';
import { CounterLayout, ShardCounters } from './counters.js';
import { decapsulate, RX_OFFSET } from './decapsulate.js';
import { Drop } from './drop-reasons.js';
import { encapsulate } from './encapsulate.js';
import { IcmpReplies } from './icmp-replies.js';
import { PacketBatch } from './packet-batch.js';
import { RouteLookup } from './route-lookup.js';
import { allocateTable, SharedTableReader, SharedTableWriter } from './shared-table.js';

const ip = (s: string) => Buffer.from(s.split('.').map(Number)).readUInt32BE(0);
const OWN_MAC = Buffer.from('0a580af40100', 'hex');
const PEER_MAC = Buffer.from('0a580af40200', 'hex');
const SLOT = 2048;

function world(maxInnerV4 = 1450) {
  const sab = allocateTable(8);
  const route = (cidr: string, underlay: number[], peerId: number) => {
    const c = parseCidr(cidr);
    return { family: c.family, prefix: c.addr, prefixLen: c.prefixLen, underlayFamily: 4 as const, underlay: Buffer.from(underlay), vtepMAC: PEER_MAC, peerId };
  };
  // Peer 1 (192.0.2.2) owns 10.244.2.0/24 and fd00:10:244:2::/64; peer 2 (192.0.2.3) 10.244.3.0/24.
  new SharedTableWriter(sab).publish([
    route('10.244.2.0/24', [192, 0, 2, 2], 1),
    route('fd00:10:244:2::/64', [192, 0, 2, 2], 1),
    route('10.244.3.0/24', [192, 0, 2, 3], 2),
  ]);
  const routes = new RouteLookup();
  routes.rebuild(new SharedTableReader(sab).snapshot()!);
  const layout = new CounterLayout(1, 4);
  const block = layout.block(layout.allocate(), 0);
  const counters = new ShardCounters(block, layout);
  const icmp = new IcmpReplies(8, ip('10.244.1.0'), new Uint8Array(16));
  icmp.tick(1000);
  return { routes, counters, block, layout, icmp, vni: 1, ownMac: OWN_MAC, ownMacV6: OWN_MAC, maxInnerV4, maxInnerV6: 0 };
}

/** An IPv4/UDP packet with `payload` bytes at buf[off]; returns its length. */
function udpPacket(buf: Buffer, off: number, src: string, dst: string, payload: number): number {
  const total = 20 + 8 + payload;
  writeIpv4Header(buf, off, total, 7, 64, IPPROTO_UDP, ip(src), ip(dst), true);
  buf.writeUInt16BE(40000, off + 20);
  buf.writeUInt16BE(5001, off + 22);
  buf.writeUInt16BE(8 + payload, off + 24);
  buf.writeUInt16BE(0, off + 26);
  buf.fill(0xab, off + 28, off + total);
  return total;
}

describe('encapsulate', () => {
  it('writes VXLAN and inner Ethernet in front of the packet and counts every drop', () => {
    const ctx = world();
    const b = new PacketBatch(8, SLOT);
    b.sizes[0] = udpPacket(b.slab, HEADROOM, '10.244.1.2', '10.244.2.3', 100);
    b.sizes[1] = udpPacket(b.slab, SLOT + HEADROOM, '10.244.1.2', '10.244.9.9', 10); // no route
    b.slab.fill(0x45, 2 * SLOT + HEADROOM, 2 * SLOT + HEADROOM + 10);
    b.sizes[2] = 10; // truncated IPv4
    b.slab[3 * SLOT + HEADROOM] = 0x60;
    b.slab[3 * SLOT + HEADROOM + 6] = 59; // No Next Header
    b.sizes[3] = 40; // IPv6 to ::, which no node owns
    b.sizes[4] = 0;

    const out = encapsulate(b, 5, ctx);
    expect(out).toBe(1);
    expect(b.outOffsets[0]).toBe(HEADROOM - ENCAP_LEN);
    expect(b.outLengths[0]).toBe(128 + ENCAP_LEN);
    expect(b.outAddrs[0]).toBe(ip('192.0.2.2'));
    const head = b.slab.subarray(HEADROOM - ENCAP_LEN, HEADROOM);
    expect(head.toString('hex')).toBe('0800000000000100' + PEER_MAC.toString('hex') + OWN_MAC.toString('hex') + '0800');

    expect(ctx.block[Drop.no_route]).toBe(2);
    expect(ctx.block[Drop.malformed_inner]).toBe(2);
    expect(ctx.block[ctx.layout.peerSlot(1, 0)]).toBe(1);
    expect(ctx.block[ctx.layout.peerSlot(1, 1)]).toBe(128);

    // The no-route packet is answered with ICMP net unreachable from our TUN address.
    expect(ctx.icmp.count).toBe(1);
    const reply = ctx.icmp.slab.subarray(ctx.icmp.offsets[0], ctx.icmp.offsets[0] + ctx.icmp.lengths[0]);
    expect(reply.readUInt32BE(12)).toBe(ip('10.244.1.0'));
    expect(reply.readUInt32BE(16)).toBe(ip('10.244.1.2'));
    expect([reply[20], reply[21]]).toEqual([3, 0]);
    expect(internetChecksum(reply, 0, 20)).toBe(0);
    expect(internetChecksum(reply, 20, reply.length - 20)).toBe(0);
  });

  it('quotes only the IPv4 datagram in its ICMP error, not what the read had after it', () => {
    // Found by encapsulate.property.test.ts: a 21-byte read of a 20-byte datagram was quoted whole.
    const ctx = world();
    const b = new PacketBatch(1, SLOT);
    const total = udpPacket(b.slab, HEADROOM, '10.244.1.2', '10.244.9.9', 10);
    b.slab.fill(0xee, HEADROOM + total, HEADROOM + total + 8);
    b.sizes[0] = total + 8;
    expect(encapsulate(b, 1, ctx)).toBe(0);
    expect(ctx.icmp.count).toBe(1);
    expect(ctx.icmp.lengths[0]).toBe(20 + 8 + total);
  });

  it('drops what would not fit the underlay', () => {
    const ctx = world(100);
    const b = new PacketBatch(1, SLOT);
    b.sizes[0] = udpPacket(b.slab, HEADROOM, '10.244.1.2', '10.244.2.3', 100);
    expect(encapsulate(b, 1, ctx)).toBe(0);
    expect(ctx.block[Drop.oversize]).toBe(1);
  });
});

describe('decapsulate', () => {
  /** A VXLAN datagram as the kernel sends it, received into slot i; returns its length. */
  function datagram(b: PacketBatch, i: number, from: string, patch?: (d: Buffer) => void): number {
    const base = i * SLOT + RX_OFFSET;
    const len = udpPacket(b.slab, base + ENCAP_LEN, '10.244.2.3', '10.244.1.2', 30) + ENCAP_LEN;
    Buffer.from('0800000000000100', 'hex').copy(b.slab, base);
    OWN_MAC.copy(b.slab, base + 8);
    PEER_MAC.copy(b.slab, base + 14);
    b.slab.writeUInt16BE(0x0800, base + 20);
    patch?.(b.slab.subarray(base, base + len));
    b.sizes[i] = len;
    b.addrs[i * 4] = ip(from);
    return len;
  }

  it('delivers a valid frame in place and drops each fault under its own reason', () => {
    const ctx = world();
    const b = new PacketBatch(16, SLOT);
    const good = datagram(b, 0, '192.0.2.2');
    datagram(b, 1, '192.0.2.99');
    datagram(b, 2, '192.0.2.2', (d) => (d[0] = 0));
    datagram(b, 3, '192.0.2.2', (d) => (d[6] = 2));
    datagram(b, 4, '192.0.2.2', (d) => (d[8] = 0xff));
    datagram(b, 5, '192.0.2.2', (d) => d.writeUInt16BE(0x0806, 20));
    datagram(b, 6, '192.0.2.2', (d) => (d[22] = 0x43)); // IHL 3
    datagram(b, 7, '192.0.2.2');
    b.sizes[7] = 30; // cut inside the inner IPv4 header
    datagram(b, 8, '192.0.2.2');
    b.sizes[8] = -1; // larger than the slot
    datagram(b, 9, '192.0.2.2', (d) => d.writeUInt16BE(0x86dd, 20)); // says IPv6, carries IPv4

    const out = decapsulate(b, 10, ctx, 4);
    expect(out).toBe(1);
    expect(b.outOffsets[0]).toBe(HEADROOM);
    expect(b.outLengths[0]).toBe(good - ENCAP_LEN);
    const d = ctx.block;
    expect([d[Drop.unknown_source], d[Drop.bad_vxlan_flags], d[Drop.wrong_vni], d[Drop.wrong_dst_mac], d[Drop.bad_ethertype]]).toEqual([1, 1, 1, 1, 1]);
    expect(d[Drop.malformed_inner]).toBe(2);
    expect(d[Drop.truncated]).toBe(1);
    expect(d[Drop.oversize_datagram]).toBe(1);
    expect(d[ctx.layout.peerSlot(1, 2)]).toBe(1);
    expect(d[ctx.layout.peerSlot(1, 3)]).toBe(good - ENCAP_LEN);
  });

  it('delivers only inner sources of the sending peer, its .0 included; the rest is spoofed_source', () => {
    const ctx = world();
    const b = new PacketBatch(16, SLOT);
    const from = (i: number, src: string) => datagram(b, i, '192.0.2.2', (d) => {
      d.writeUInt32BE(ip(src), ENCAP_LEN + 12);
      d.writeUInt16BE(0, ENCAP_LEN + 10);
      d.writeUInt16BE(internetChecksum(d, ENCAP_LEN, 20), ENCAP_LEN + 10);
    });
    from(0, '10.244.2.3'); // a pod of peer 1
    from(1, '10.244.2.0'); // peer 1's VTEP (flannel.1): its host, its ICMP errors
    from(2, '10.244.3.4'); // a pod of peer 2
    from(3, '10.244.1.2'); // one of our own pods
    from(4, '192.0.2.2'); // peer 1's underlay address
    from(5, '8.8.8.8'); // the world
    const v6 = (i: number, src: string) => {
      const base = i * SLOT + RX_OFFSET;
      datagram(b, i, '192.0.2.2', (d) => d.writeUInt16BE(0x86dd, 20));
      writeIpv6Header(b.slab, base + ENCAP_LEN, 8, 59, 64, parseIpv6(src), parseIpv6('fd00:10:244:1::2'));
      b.sizes[i] = ENCAP_LEN + 48;
    };
    v6(6, 'fd00:10:244:2::5'); // a pod of peer 1
    v6(7, 'fd00:10:244:2::'); // peer 1's flannel-v6.1 address
    v6(8, 'fd00:10:244:3::5'); // a prefix no node owns
    v6(9, 'fe80::1'); // link-local
    v6(10, 'fd00:10:244:1::9'); // ours

    expect(decapsulate(b, 11, ctx, 4)).toBe(4);
    expect(Array.from(b.outOffsets.subarray(0, 4))).toEqual([0, 1, 6, 7].map((i) => i * SLOT + HEADROOM));
    expect(ctx.block[Drop.spoofed_source]).toBe(7);
    expect(ctx.block[ctx.layout.peerSlot(1, 2)]).toBe(4);
    expect(ctx.block[ctx.layout.peerSlot(2, 2)]).toBe(0);
  });

  it('counts every truncation of a valid frame as truncated', () => {
    const ctx = world();
    const b = new PacketBatch(128, SLOT);
    const full = datagram(b, 0, '192.0.2.2');
    for (let len = 0; len < full; len++) {
      datagram(b, len, '192.0.2.2');
      b.sizes[len] = len;
    }
    expect(decapsulate(b, full, ctx, 4)).toBe(0);
    expect(ctx.block[Drop.truncated]).toBe(full);
  });
});
