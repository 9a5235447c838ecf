import { describe, expect, it } from 'vitest';
import { parseIpv6 } from '../address/ip-text.js';
import { arpOp, isIpv4OverEthernetArp, writeArpReply, ARP_REPLY } from './arp.js';
import { internetChecksum, pseudoHeaderSumV6 } from './checksum.js';
import { findNdMessage, ndLinkLayerOption, writeNeighbourAdvert, ND_NEIGHBOUR_ADVERT, ND_OPT_SOURCE_LLADDR, ND_OPT_TARGET_LLADDR } from './ndp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const requester = hex('0a0000000001');
const owner = hex('0a00000000ee');

/** An ARP request from 10.244.1.2 (0a:00:00:00:00:01) for 10.244.2.2, broadcast, as `arping` sends it. */
const arpRequest = hex(`ffffffffffff 0a0000000001 0806  0001 0800 06 04 0001  0a0000000001 0af40102  000000000000 0af40202`);

function neighbourSolicit(target: string, src = 'fd00:10:244::1:2', hopLimit = 255): Buffer {
  const frame = Buffer.alloc(14 + 40 + 32);
  frame.set(hex('3333ff020002'), 0);
  frame.set(requester, 6);
  frame.writeUInt16BE(0x86dd, 12);
  const ip = 14;
  frame.writeUInt32BE(0x60000000, ip);
  frame.writeUInt16BE(32, ip + 4);
  frame[ip + 6] = 58;
  frame[ip + 7] = hopLimit;
  parseIpv6(src).copy(frame, ip + 8);
  parseIpv6('ff02::1:ff02:2').copy(frame, ip + 24);
  const icmp = ip + 40;
  frame[icmp] = 135;
  parseIpv6(target).copy(frame, icmp + 8);
  frame[icmp + 24] = ND_OPT_SOURCE_LLADDR;
  frame[icmp + 25] = 1;
  requester.copy(frame, icmp + 26);
  frame.writeUInt16BE(internetChecksum(frame, icmp, 32, pseudoHeaderSumV6(frame, ip + 8, ip + 24, 58, 32)), icmp + 2);
  return frame;
}

describe('ARP (RFC 826)', () => {
  it('answers a request with the owner as sender and the asker as target', () => {
    expect(isIpv4OverEthernetArp(arpRequest, 14, arpRequest.length - 14)).toBe(true);
    const out = Buffer.alloc(64);
    const len = writeArpReply(out, 0, arpRequest, 0, owner);
    expect(len).toBe(42);
    expect(out.subarray(0, len).toString('hex')).toBe(
      hex(`0a0000000001 0a00000000ee 0806  0001 0800 06 04 0002  0a00000000ee 0af40202  0a0000000001 0af40102`).toString('hex'),
    );
    expect(arpOp(out, 14)).toBe(ARP_REPLY);
  });

  it('refuses what is not IPv4 over Ethernet', () => {
    const bad = Buffer.from(arpRequest);
    bad[14 + 4] = 8; // hardware length
    expect(isIpv4OverEthernetArp(bad, 14, bad.length - 14)).toBe(false);
    expect(isIpv4OverEthernetArp(arpRequest, 14, 27)).toBe(false);
  });
});

describe('neighbour discovery (RFC 4861)', () => {
  it('finds a solicitation and its source link-layer address', () => {
    const ns = neighbourSolicit('fd00:10:244::2:2');
    const icmp = findNdMessage(ns, 0, ns.length);
    expect(icmp).toBe(54);
    expect(ns.subarray(ndLinkLayerOption(ns, icmp, ns.length, ND_OPT_SOURCE_LLADDR)).subarray(0, 6)).toEqual(requester);
    expect(ndLinkLayerOption(ns, icmp, ns.length, ND_OPT_TARGET_LLADDR)).toBe(-1);
  });

  it('ignores one with a bad checksum, a hop limit below 255, or a zero-length option', () => {
    const sum = neighbourSolicit('fd00:10:244::2:2');
    sum[54 + 2] ^= 1;
    expect(findNdMessage(sum, 0, sum.length)).toBe(-1);
    const routed = neighbourSolicit('fd00:10:244::2:2', 'fd00:10:244::1:2', 254);
    expect(findNdMessage(routed, 0, routed.length)).toBe(-1);
    const zero = neighbourSolicit('fd00:10:244::2:2');
    zero[54 + 25] = 0;
    expect(ndLinkLayerOption(zero, 54, zero.length, ND_OPT_SOURCE_LLADDR)).toBe(-1);
  });

  it('answers with a solicited, override advertisement from the target, checksum valid', () => {
    const ns = neighbourSolicit('fd00:10:244::2:2');
    const out = Buffer.alloc(128);
    const len = writeNeighbourAdvert(out, 0, ns, 0, 54, owner);
    expect(len).toBe(86);
    const na = out.subarray(0, len);
    expect(na.subarray(0, 6)).toEqual(requester);
    expect(na.subarray(6, 12)).toEqual(owner);
    expect(na.subarray(14 + 8, 14 + 24)).toEqual(parseIpv6('fd00:10:244::2:2'));
    expect(na.subarray(14 + 24, 14 + 40)).toEqual(parseIpv6('fd00:10:244::1:2'));
    expect(na[14 + 7]).toBe(255);
    expect([na[54], na[55], na[58]]).toEqual([ND_NEIGHBOUR_ADVERT, 0, 0x60]);
    expect(internetChecksum(na, 54, 32, pseudoHeaderSumV6(na, 14 + 8, 14 + 24, 58, 32))).toBe(0);
    expect(findNdMessage(na, 0, len)).toBe(54);
    expect(na.subarray(ndLinkLayerOption(na, 54, len, ND_OPT_TARGET_LLADDR)).subarray(0, 6)).toEqual(owner);
  });
});
