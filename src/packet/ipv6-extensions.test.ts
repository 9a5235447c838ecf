// The IPv6 extension-header walk and the ICMPv6 errors built on it.
import { describe, expect, it } from 'vitest';
import { parseIpv6 } from '../address/ip-text.js';
import { internetChecksum, pseudoHeaderSumV6 } from './checksum.js';
import { icmpv6ErrorAllowed, writeIcmpv6Error, ICMPV6_PACKET_TOO_BIG } from './icmpv6.js';
import { ipv6UpperLayer, writeIpv6Header, IPV6_BAD_CHAIN, IPV6_DST, IPV6_SRC, IPV6_TRUNCATED } from './ipv6.js';

const SRC = parseIpv6('fd00:10:244:1::2');
const DST = parseIpv6('fd00:10:244:2::2');

function packet(next: number, rest: number[]): Buffer {
  const b = Buffer.alloc(40 + rest.length);
  writeIpv6Header(b, 0, rest.length, next, 64, SRC, DST);
  Buffer.from(rest).copy(b, 40);
  return b;
}
const opts = (next: number) => [next, 0, 1, 4, 0, 0, 0, 0]; // 8-byte options header with PadN

describe('IPv6 extension headers', () => {
  const out = new Int32Array(1);
  it('finds the upper layer behind hop-by-hop, routing, fragment and destination options', () => {
    const routing = [44, 0, 0, 0, 0, 0, 0, 0]; // → fragment
    const fragment = [60, 0, 0, 0, 0, 0, 0, 0]; // → destination options
    const udp = [1, 2, 3, 4, 0, 8, 0, 0];
    const p = packet(0, [...opts(43), ...routing, ...fragment, ...opts(17), ...udp]);
    expect(ipv6UpperLayer(p, 0, p.length, out)).toBe(40 + 32);
    expect(out[0]).toBe(17);
  });

  it('refuses hop-by-hop anywhere but first, and chains that run past the packet', () => {
    const late = packet(60, [...opts(0), ...opts(17)]);
    expect(ipv6UpperLayer(late, 0, late.length, out)).toBe(IPV6_BAD_CHAIN);
    const cut = packet(44, [17, 0, 0, 0]);
    expect(ipv6UpperLayer(cut, 0, cut.length, out)).toBe(-IPV6_TRUNCATED);
    const long = packet(60, [17, 200, 0, 0, 0, 0, 0, 0]); // claims 1608 bytes
    expect(ipv6UpperLayer(long, 0, long.length, out)).toBe(-IPV6_TRUNCATED);
  });
});

describe('ICMPv6 errors', () => {
  it('writes Packet Too Big with the MTU, our source, and a checksum that verifies', () => {
    const offending = packet(17, Array(1400).fill(7));
    const out = Buffer.alloc(1280);
    const ours = parseIpv6('fd00:10:244:1::');
    const len = writeIcmpv6Error(out, 0, ICMPV6_PACKET_TOO_BIG, 0, 1430, ours, offending, 0, offending.length);
    expect(len).toBe(1280); // RFC 4443 §2.4(c): no more than the minimum MTU
    expect(out.subarray(IPV6_SRC, IPV6_SRC + 16)).toEqual(ours);
    expect(out.subarray(IPV6_DST, IPV6_DST + 16)).toEqual(SRC);
    expect([out[40], out[41], out.readUInt32BE(44)]).toEqual([2, 0, 1430]);
    const seed = pseudoHeaderSumV6(out, IPV6_SRC, IPV6_DST, 58, len - 40);
    expect(internetChecksum(out, 40, len - 40, seed)).toBe(0);
  });

  it('never answers an ICMPv6 error, an unspecified source, or (except Packet Too Big) a multicast destination', () => {
    const error = packet(58, [1, 0, 0, 0, 0, 0, 0, 0]);
    expect(icmpv6ErrorAllowed(error, 0, error.length, 1)).toBe(false);
    const echo = packet(58, [128, 0, 0, 0, 0, 0, 0, 0]);
    expect(icmpv6ErrorAllowed(echo, 0, echo.length, 1)).toBe(true);
    const anon = packet(17, Array(8).fill(0));
    anon.fill(0, IPV6_SRC, IPV6_SRC + 16);
    expect(icmpv6ErrorAllowed(anon, 0, anon.length, 1)).toBe(false);
    const mcast = packet(17, Array(8).fill(0));
    mcast[IPV6_DST] = 0xff;
    expect(icmpv6ErrorAllowed(mcast, 0, mcast.length, 1)).toBe(false);
    expect(icmpv6ErrorAllowed(mcast, 0, mcast.length, ICMPV6_PACKET_TOO_BIG)).toBe(true);
  });
});
