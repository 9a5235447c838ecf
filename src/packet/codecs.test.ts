// The codecs against bytes the Linux kernel put on the wire (test/fixtures, made by capture.sh):
// every field reads back as the kernel wrote it, and what we write is byte-for-byte the kernel's.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../address/ip-text.js';
import { formatMac, parseMac } from '../address/mac-text.js';
import { readPcap } from '../../test/pcap.js';
import { foldSum, internetChecksum, onesComplementSum, pseudoHeaderSumV6 } from './checksum.js';
import { ENCAP_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_UDP, VXLAN_PORT } from './constants.js';
import { isMulticastMac, readEtherType, writeEthernetHeader, macEquals } from './ethernet.js';
import { icmpErrorAllowed, writeIcmpv4Error, ICMP_DEST_UNREACH, ICMPV4_ERROR_MAX } from './icmp.js';
import { ipVersion } from './ip.js';
import { ipv4Dst, ipv4HeaderLength, ipv4Protocol, ipv4Src, ipv4TotalLength, validateIpv4, writeIpv4Header, IPV4_BAD_IHL, IPV4_BAD_LENGTH, IPV4_BAD_VERSION, IPV4_OK, IPV4_TRUNCATED } from './ipv4.js';
import { ipv6PayloadLength, validateIpv6, writeIpv6Header, IPV6_BAD_VERSION, IPV6_DST, IPV6_OK, IPV6_SRC, IPV6_TRUNCATED } from './ipv6.js';
import { setUdpChecksumV4, udpChecksum, udpDstPort, udpLength, udpSrcPort } from '../../test/udp-header.js';
import { readVxlanFlags, readVxlanVni, writeVxlanHeader, VXLAN_FLAG_I } from './vxlan.js';

const fixture = (name: string): Buffer[] => {
  const pcap = readPcap(new URL(`../../test/fixtures/${name}`, import.meta.url));
  expect(pcap.linkType).toBe(1); // Ethernet
  return pcap.packets;
};

// Offsets in a captured frame: outer Ethernet, outer IPv4 (no options), UDP, VXLAN, inner.
const OUTER_IP = 14;
const UDP = OUTER_IP + 20;
const VXLAN = UDP + 8;
const INNER_ETH = VXLAN + 8;
const INNER_IP = VXLAN + ENCAP_LEN;

function checkOuter(frame: Buffer): void {
  expect(readEtherType(frame, 0)).toBe(ETHERTYPE_IPV4);
  expect(validateIpv4(frame, OUTER_IP, frame.length - OUTER_IP)).toBe(IPV4_OK);
  expect(ipv4Protocol(frame, OUTER_IP)).toBe(IPPROTO_UDP);
  expect(internetChecksum(frame, OUTER_IP, ipv4HeaderLength(frame, OUTER_IP))).toBe(0);
  expect(formatIpv4(ipv4Src(frame, OUTER_IP))).toMatch(/^192\.0\.2\.[12]$/);
  expect(udpDstPort(frame, UDP)).toBe(VXLAN_PORT);
  expect(udpSrcPort(frame, UDP)).toBeGreaterThan(0);
  expect(udpLength(frame, UDP)).toBe(ipv4TotalLength(frame, OUTER_IP) - 20);
  // Linux sends the outer UDP checksum unless the device has `noudpcsum` (then 0, RFC 768).
  const sent = udpChecksum(frame, UDP);
  const copy = Buffer.from(frame);
  setUdpChecksumV4(copy, UDP, ipv4Src(frame, OUTER_IP), ipv4Dst(frame, OUTER_IP));
  expect(sent === 0 || sent === udpChecksum(copy, UDP)).toBe(true);
  expect(sent).not.toBe(0); // these fixtures were captured with the default, udpcsum
  expect(readVxlanFlags(frame, VXLAN)).toBe(VXLAN_FLAG_I);
  expect(readVxlanVni(frame, VXLAN)).toBe(1);
}

/** Our VXLAN + inner Ethernet header for the frame's fields: must equal the kernel's 22 bytes. */
function reencodeHeaders(frame: Buffer): Buffer {
  const out = Buffer.alloc(ENCAP_LEN, 0xee);
  writeVxlanHeader(out, 0, readVxlanVni(frame, VXLAN));
  const dst = frame.subarray(INNER_ETH, INNER_ETH + 6);
  const src = frame.subarray(INNER_ETH + 6, INNER_ETH + 12);
  writeEthernetHeader(out, 8, dst, src, readEtherType(frame, INNER_ETH));
  return out;
}

const MAC1 = '0a:58:c0:00:02:01';
const MAC2 = '0a:58:c0:00:02:02';

describe('kernel VXLAN frames (fixtures)', () => {
  it('reads the ICMP echo request and reply field by field, and re-encodes them byte for byte', () => {
    const [request, reply] = fixture('kernel-vxlan-icmp.pcap');
    for (const [frame, srcMac, dstMac, src, dst] of [
      [request, MAC1, MAC2, '10.244.1.0', '10.244.2.0'],
      [reply, MAC2, MAC1, '10.244.2.0', '10.244.1.0'],
    ] as const) {
      checkOuter(frame);
      expect(formatMac(frame.subarray(INNER_ETH + 6, INNER_ETH + 12))).toBe(srcMac);
      expect(macEquals(frame, INNER_ETH, parseMac(dstMac))).toBe(true);
      expect(readEtherType(frame, INNER_ETH)).toBe(ETHERTYPE_IPV4);
      expect(reencodeHeaders(frame)).toEqual(frame.subarray(VXLAN, INNER_IP));

      expect(ipVersion(frame, INNER_IP)).toBe(4);
      expect(validateIpv4(frame, INNER_IP, frame.length - INNER_IP)).toBe(IPV4_OK);
      expect(ipv4TotalLength(frame, INNER_IP)).toBe(frame.length - INNER_IP);
      expect(formatIpv4(ipv4Src(frame, INNER_IP))).toBe(src);
      expect(formatIpv4(ipv4Dst(frame, INNER_IP))).toBe(dst);
      expect(ipv4Protocol(frame, INNER_IP)).toBe(IPPROTO_ICMP);
      expect(internetChecksum(frame, INNER_IP, 20)).toBe(0);
      expect(internetChecksum(frame, INNER_IP + 20, ipv4TotalLength(frame, INNER_IP) - 20)).toBe(0);

      // Our IPv4 header writer, fed the kernel's field values, writes the kernel's 20 bytes.
      const ours = Buffer.alloc(20);
      const df = (frame[INNER_IP + 6] & 0x40) !== 0;
      writeIpv4Header(ours, 0, ipv4TotalLength(frame, INNER_IP), frame.readUInt16BE(INNER_IP + 4), frame[INNER_IP + 8], IPPROTO_ICMP, parseIpv4(src), parseIpv4(dst), df);
      expect(ours).toEqual(frame.subarray(INNER_IP, INNER_IP + 20));
    }
  });

  it('reproduces the kernel UDP checksum and its ICMP port-unreachable error', () => {
    const [datagram, unreachable] = fixture('kernel-vxlan-udp.pcap');
    checkOuter(datagram);
    checkOuter(unreachable);
    expect(reencodeHeaders(datagram)).toEqual(datagram.subarray(VXLAN, INNER_IP));
    expect(reencodeHeaders(unreachable)).toEqual(unreachable.subarray(VXLAN, INNER_IP));

    const udp = INNER_IP + 20;
    expect(udpSrcPort(datagram, udp)).toBe(7777);
    expect(udpDstPort(datagram, udp)).toBe(9999);
    expect(datagram.subarray(udp + 8, udp + udpLength(datagram, udp)).toString()).toBe('vxroute fixture');
    const copy = Buffer.from(datagram);
    copy.writeUInt16BE(0x1234, udp + 6);
    setUdpChecksumV4(copy, udp, ipv4Src(datagram, INNER_IP), ipv4Dst(datagram, INNER_IP));
    expect(udpChecksum(copy, udp)).toBe(udpChecksum(datagram, udp));

    // The kernel's ICMP error about that datagram; ours about the same datagram has the same ICMP bytes.
    const icmpLen = ipv4TotalLength(unreachable, INNER_IP) - 20;
    const out = Buffer.alloc(ICMPV4_ERROR_MAX);
    const len = writeIcmpv4Error(out, 0, ICMP_DEST_UNREACH, 3, 0, parseIpv4('10.244.2.0'), datagram, INNER_IP, ipv4TotalLength(datagram, INNER_IP));
    expect(len).toBe(20 + icmpLen);
    expect(out.subarray(20, len)).toEqual(unreachable.subarray(INNER_IP + 20, INNER_IP + 20 + icmpLen));
    expect(internetChecksum(out, 0, 20)).toBe(0);
    expect(ipv4Src(out, 0)).toBe(ipv4Src(unreachable, INNER_IP));
    expect(ipv4Dst(out, 0)).toBe(ipv4Dst(unreachable, INNER_IP));
    // …and we would not answer the kernel's error with another error (RFC 1122 §3.2.2).
    expect(icmpErrorAllowed(unreachable, INNER_IP, ipv4TotalLength(unreachable, INNER_IP))).toBe(false);
    expect(icmpErrorAllowed(datagram, INNER_IP, ipv4TotalLength(datagram, INNER_IP))).toBe(true);
  });

  it('reads IPv6 inside VXLAN and verifies the ICMPv6 checksum over the pseudo-header', () => {
    const [request, reply] = fixture('kernel-vxlan-icmpv6.pcap');
    for (const [frame, src, dst] of [
      [request, 'fd00:10:244:1::', 'fd00:10:244:2::'],
      [reply, 'fd00:10:244:2::', 'fd00:10:244:1::'],
    ] as const) {
      checkOuter(frame);
      expect(readEtherType(frame, INNER_ETH)).toBe(ETHERTYPE_IPV6);
      expect(reencodeHeaders(frame)).toEqual(frame.subarray(VXLAN, INNER_IP));
      expect(ipVersion(frame, INNER_IP)).toBe(6);
      expect(validateIpv6(frame, INNER_IP, frame.length - INNER_IP)).toBe(IPV6_OK);
      expect(formatIpv6(frame, INNER_IP + IPV6_SRC)).toBe(src);
      expect(formatIpv6(frame, INNER_IP + IPV6_DST)).toBe(dst);
      expect(frame[INNER_IP + 6]).toBe(IPPROTO_ICMPV6); // Next Header
      const plen = ipv6PayloadLength(frame, INNER_IP);
      expect(40 + plen).toBe(frame.length - INNER_IP);
      expect(internetChecksum(frame, INNER_IP + 40, plen, pseudoHeaderSumV6(frame, INNER_IP + IPV6_SRC, INNER_IP + IPV6_DST, IPPROTO_ICMPV6, plen))).toBe(0);

      // Everything after the flow label is ours byte for byte.
      const ours = Buffer.alloc(40);
      writeIpv6Header(ours, 0, plen, IPPROTO_ICMPV6, frame[INNER_IP + 7], parseIpv6(src), parseIpv6(dst));
      expect(ours.subarray(4)).toEqual(frame.subarray(INNER_IP + 4, INNER_IP + 40));
    }
  });
});

describe('checksum', () => {
  it('matches the RFC 1071 §3 example', () => {
    const bytes = Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(onesComplementSum(bytes, 0, 8)).toBe(0x2ddf0);
    expect(foldSum(onesComplementSum(bytes, 0, 8))).toBe(0xddf2);
    expect(internetChecksum(bytes, 0, 8)).toBe(0x220d);
  });
});

describe('header validation', () => {
  const packet = (): Buffer => {
    const b = Buffer.alloc(60);
    writeIpv4Header(b, 0, 60, 1, 64, IPPROTO_UDP, parseIpv4('10.244.1.2'), parseIpv4('10.244.2.2'), true);
    return b;
  };

  it('IPv4: each status', () => {
    const b = packet();
    expect(validateIpv4(b, 0, 60)).toBe(IPV4_OK);
    for (let len = 0; len < 20; len++) expect(validateIpv4(b, 0, len)).toBe(IPV4_TRUNCATED);
    expect(validateIpv4(b, 0, 59)).toBe(IPV4_TRUNCATED); // total length says 60
    const v5 = packet();
    v5[0] = 0x55;
    expect(validateIpv4(v5, 0, 60)).toBe(IPV4_BAD_VERSION);
    const ihl4 = packet();
    ihl4[0] = 0x44;
    expect(validateIpv4(ihl4, 0, 60)).toBe(IPV4_BAD_IHL);
    const short = packet();
    short.writeUInt16BE(19, 2);
    expect(validateIpv4(short, 0, 60)).toBe(IPV4_BAD_LENGTH);
    const options = packet();
    options[0] = 0x4f; // 60-byte header: fits exactly
    expect(validateIpv4(options, 0, 60)).toBe(IPV4_OK);
    expect(validateIpv4(options, 0, 40)).toBe(IPV4_TRUNCATED);
  });

  it('IPv6: each status', () => {
    const b = Buffer.alloc(48);
    writeIpv6Header(b, 0, 8, IPPROTO_UDP, 64, parseIpv6('fd00:10:244:1::2'), parseIpv6('fd00:10:244:2::2'));
    expect(validateIpv6(b, 0, 48)).toBe(IPV6_OK);
    expect(validateIpv6(b, 0, 47)).toBe(IPV6_TRUNCATED);
    expect(validateIpv6(b, 0, 39)).toBe(IPV6_TRUNCATED);
    b[0] = 0x40;
    expect(validateIpv6(b, 0, 48)).toBe(IPV6_BAD_VERSION);
  });
});

describe('ICMP errors', () => {
  const original = (size: number, src = '10.244.1.2', dst = '10.244.99.1', proto = IPPROTO_UDP): Buffer => {
    const b = randomBytes(size);
    writeIpv4Header(b, 0, size, 7, 64, proto, parseIpv4(src), parseIpv4(dst), true);
    return b;
  };

  it('caps the error at 576 bytes, quotes the start of the packet, and gets both checksums right', () => {
    const big = original(1400);
    const out = Buffer.alloc(ICMPV4_ERROR_MAX);
    const len = writeIcmpv4Error(out, 0, ICMP_DEST_UNREACH, 0, 0, parseIpv4('10.244.1.0'), big, 0, big.length);
    expect(len).toBe(576);
    expect(ipv4TotalLength(out, 0)).toBe(576);
    expect(internetChecksum(out, 0, 20)).toBe(0);
    expect(internetChecksum(out, 20, len - 20)).toBe(0);
    expect([out[20], out[21]]).toEqual([3, 0]);
    expect(out.subarray(28, len)).toEqual(big.subarray(0, len - 28));
    expect(formatIpv4(ipv4Dst(out, 0))).toBe('10.244.1.2');
  });

  it('is not sent about errors, unspecified or multicast sources, multicast destinations, or later fragments', () => {
    expect(icmpErrorAllowed(original(60), 0, 60)).toBe(true);
    const err = original(60, '10.244.1.2', '10.244.99.1', IPPROTO_ICMP);
    err[20] = ICMP_DEST_UNREACH;
    expect(icmpErrorAllowed(err, 0, 60)).toBe(false);
    const echo = original(60, '10.244.1.2', '10.244.99.1', IPPROTO_ICMP);
    echo[20] = 8;
    expect(icmpErrorAllowed(echo, 0, 60)).toBe(true);
    expect(icmpErrorAllowed(original(60, '0.0.0.0'), 0, 60)).toBe(false);
    expect(icmpErrorAllowed(original(60, '224.0.0.5'), 0, 60)).toBe(false);
    expect(icmpErrorAllowed(original(60, '10.244.1.2', '239.1.1.1'), 0, 60)).toBe(false);
    const fragment = original(60);
    fragment.writeUInt16BE(0x0010, 6); // offset 16 × 8 bytes
    expect(icmpErrorAllowed(fragment, 0, 60)).toBe(false);
  });
});
