// fast-check arbitraries for the datapath's property tests: wire packets built field by field
// (VXLAN, Ethernet, ARP, IPv4, IPv6 with extension headers, TCP, UDP, ICMP, ICMPv6 and ND),
// valid as generated, then corrupted where parsers look (lengths, IHL, next headers, flags, VNI,
// truncation). Pure random bytes rarely get past a stage's first check; these reach the last.
import fc from 'fast-check';
import { internetChecksum, pseudoHeaderSumV6 } from '../src/packet/checksum.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../src/packet/constants.js';
import { parseIpv4, parseIpv6 } from '../src/address/ip-text.js';
import { parseMac } from '../src/address/mac-text.js';
import { A, B, C, STATION_A, STATION_B, STATION_B_V4, STATION_B_V6, STATION_C, VNI } from './stage-worlds.js';

/** RFC 768 / RFC 793 IPv4 pseudo-header sum; addresses are host-order 32-bit numbers. */
function pseudoHeaderSumV4(src: number, dst: number, proto: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + length;
}

/** Bytes from a seed (xorshift32): big payloads cost one integer to generate and shrink. */
export function seededBytes(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  let x = seed | 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const byte = fc.integer({ min: 0, max: 255 });
const word16 = fc.integer({ min: 0, max: 0xffff });

/** Payload lengths: mostly short, some near the underlays' limits (1430 and 1450 inner bytes). */
const payload = fc
  .record({
    len: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 64 }) }, { weight: 2, arbitrary: fc.integer({ min: 65, max: 600 }) }, { weight: 2, arbitrary: fc.integer({ min: 1350, max: 1480 }) }),
    seed: fc.integer(),
  })
  .map(({ len, seed }) => seededBytes(len, seed));

const v4 = (s: string): number => parseIpv4(s);
/** IPv4 addresses: pods of each node, one no node owns, and the special ones. */
const ipv4Address = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(A.podV4, B.podV4, C.podV4, '10.244.9.0/24'), byte).map(([p, h]) => (v4(p.split('/')[0]) | h) >>> 0) },
  { weight: 2, arbitrary: fc.constantFrom(0, 0xffffffff, v4('224.0.0.5'), v4('239.1.1.1'), v4('127.0.0.1'), v4(STATION_B_V4)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);

const v6 = (s: string): Buffer => parseIpv6(s);
const ipv6Address = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(fc.constantFrom(A.podV6, B.podV6, C.podV6, 'fd00:10:244:9::/64'), word16).map(([p, h]) => {
      const a = v6(p.split('/')[0]);
      a.writeUInt16BE(h, 14);
      return a;
    }),
  },
  { weight: 2, arbitrary: fc.constantFrom('::', '::1', 'ff02::1', 'ff02::1:ff00:5', 'fe80::1', STATION_B_V6).map(v6) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)) },
);

/** A transport header and payload; its checksum is filled in by the IP builder (`sum` at `at`). */
interface Transport {
  bytes: Buffer;
  /** Offset of the checksum field, or -1 for none. */
  checksumAt: number;
  /** Whether the IP pseudo-header is part of the checksum (TCP, UDP, ICMPv6). */
  pseudo: boolean;
}

const tcp = fc.record({ srcPort: word16, dstPort: word16, seq: fc.integer({ min: 0, max: 0xffffffff }), dataOffset: fc.oneof({ weight: 4, arbitrary: fc.constant(5) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }), flags: byte, body: payload, options: fc.integer() }).map((t): Transport => {
  const hl = Math.max(t.dataOffset, 5) * 4;
  const b = Buffer.alloc(hl + t.body.length);
  b.writeUInt16BE(t.srcPort, 0);
  b.writeUInt16BE(t.dstPort, 2);
  b.writeUInt32BE(t.seq, 4);
  b[12] = t.dataOffset << 4;
  b[13] = t.flags;
  b.writeUInt16BE(0xffff, 14);
  seededBytes(hl - 20, t.options).copy(b, 20);
  t.body.copy(b, hl);
  return { bytes: b, checksumAt: 16, pseudo: true };
});

const udp = fc.record({ srcPort: word16, dstPort: word16, body: payload }).map((u): Transport => {
  const b = Buffer.alloc(8 + u.body.length);
  b.writeUInt16BE(u.srcPort, 0);
  b.writeUInt16BE(u.dstPort, 2);
  b.writeUInt16BE(b.length & 0xffff, 4);
  u.body.copy(b, 8);
  return { bytes: b, checksumAt: 6, pseudo: true };
});

/** ICMP (`v6` false) or ICMPv6 messages: echo, errors (no error is answered with one), anything. */
function icmp(v6Message: boolean): fc.Arbitrary<Transport> {
  const types = v6Message ? [1, 2, 3, 4, 128, 129] : [0, 3, 4, 5, 8, 11, 12];
  return fc.record({ type: fc.oneof(fc.constantFrom(...types), byte), code: fc.oneof(fc.constant(0), byte), rest: fc.integer({ min: 0, max: 0xffffffff }), body: payload }).map((m): Transport => {
    const b = Buffer.alloc(8 + m.body.length);
    b[0] = m.type;
    b[1] = m.code;
    b.writeUInt32BE(m.rest, 4);
    m.body.copy(b, 8);
    return { bytes: b, checksumAt: 2, pseudo: v6Message };
  });
}

const opaque = payload.map((body): Transport => ({ bytes: body, checksumAt: -1, pseudo: false }));

function transportFor(protocol: number, v6Message: boolean): fc.Arbitrary<Transport> {
  if (protocol === IPPROTO_TCP) return tcp;
  if (protocol === IPPROTO_UDP) return udp;
  if (protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6) return icmp(v6Message);
  return opaque;
}

/** A valid IPv4 packet (RFC 791 §3.1): options, flags and fragment offsets, TCP/UDP/ICMP or other. */
export const ipv4Packet: fc.Arbitrary<Buffer> = fc
  .record({
    ihl: fc.oneof({ weight: 5, arbitrary: fc.constant(5) }, { weight: 1, arbitrary: fc.integer({ min: 6, max: 15 }) }),
    tos: byte,
    id: word16,
    df: fc.boolean(),
    mf: fc.boolean(),
    fragOffset: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 0x1fff }) }),
    ttl: byte,
    protocol: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP) }, { weight: 1, arbitrary: byte }),
    src: ipv4Address,
    dst: ipv4Address,
    options: fc.integer(),
  })
  .chain((h) => transportFor(h.protocol, false).map((t) => buildIpv4(h, t)));

function buildIpv4(h: { ihl: number; tos: number; id: number; df: boolean; mf: boolean; fragOffset: number; ttl: number; protocol: number; src: number; dst: number; options: number }, t: Transport): Buffer {
  const hl = h.ihl * 4;
  const total = Math.min(hl + t.bytes.length, 0xffff);
  const b = Buffer.alloc(total);
  b[0] = 0x40 | h.ihl;
  b[1] = h.tos;
  b.writeUInt16BE(total, 2);
  b.writeUInt16BE(h.id, 4);
  b.writeUInt16BE((h.df ? 0x4000 : 0) | (h.mf ? 0x2000 : 0) | h.fragOffset, 6);
  b[8] = h.ttl;
  b[9] = h.protocol;
  b.writeUInt32BE(h.src, 12);
  b.writeUInt32BE(h.dst, 16);
  seededBytes(hl - 20, h.options).copy(b, 20);
  b.writeUInt16BE(internetChecksum(b, 0, 20 + (hl - 20)), 10);
  t.bytes.copy(b, hl, 0, total - hl);
  if (t.checksumAt >= 0 && t.checksumAt + 2 <= total - hl) {
    const len = total - hl;
    b.writeUInt16BE(internetChecksum(b, hl, len, t.pseudo ? pseudoHeaderSumV4(h.src, h.dst, h.protocol, len) : 0), hl + t.checksumAt);
  }
  return b;
}

/** IPv6 extension headers (RFC 8200 §4): Hop-by-Hop, Routing, Fragment, AH, Destination Options. */
const extension = fc.record({ type: fc.constantFrom(0, 43, 44, 51, 60), units: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }), fill: fc.integer() });

/** A valid IPv6 packet (RFC 8200 §3), with a chain of up to four extension headers. */
export const ipv6Packet: fc.Arbitrary<Buffer> = fc
  .record({
    flow: fc.integer({ min: 0, max: 0x0fffffff }),
    hopLimit: fc.oneof(fc.constantFrom(64, 255), byte),
    src: ipv6Address,
    dst: ipv6Address,
    extensions: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(extension, { maxLength: 4 }) }),
    upper: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, 59) }, { weight: 1, arbitrary: byte }),
  })
  .chain((h) => transportFor(h.upper, true).map((t) => buildIpv6(h.flow, h.hopLimit, h.src, h.dst, h.extensions, h.upper, t)));

function buildIpv6(flow: number, hopLimit: number, src: Buffer, dst: Buffer, extensions: readonly { type: number; units: number; fill: number }[], upper: number, t: Transport): Buffer {
  const parts: Buffer[] = [];
  for (let k = 0; k < extensions.length; k++) {
    const e = extensions[k];
    const len = e.type === 44 ? 8 : e.type === 51 ? (e.units * 2 + 2) * 4 : (e.units + 1) * 8;
    const x = seededBytes(len, e.fill);
    x[0] = k + 1 < extensions.length ? extensions[k + 1].type : upper;
    if (e.type !== 44) x[1] = e.type === 51 ? e.units * 2 : e.units;
    parts.push(x);
  }
  const ext = Buffer.concat(parts);
  const payloadLength = Math.min(ext.length + t.bytes.length, 0xffff - 40);
  const b = Buffer.alloc(40 + payloadLength);
  b.writeUInt32BE((0x6 << 28) | flow, 0);
  b.writeUInt16BE(payloadLength, 4);
  b[6] = extensions.length > 0 ? extensions[0].type : upper;
  b[7] = hopLimit;
  src.copy(b, 8);
  dst.copy(b, 24);
  ext.copy(b, 40);
  const at = 40 + ext.length;
  t.bytes.copy(b, at, 0, b.length - at);
  const len = b.length - at;
  if (t.checksumAt >= 0 && t.checksumAt + 2 <= len) {
    b.writeUInt16BE(internetChecksum(b, at, len, t.pseudo ? pseudoHeaderSumV6(b, 8, 24, upper, len) : 0), at + t.checksumAt);
  }
  return b;
}

/** Neighbour solicitations and advertisements (RFC 4861 §4.3, §4.4) with link-layer address options. */
export const ndPacket: fc.Arbitrary<Buffer> = fc
  .record({
    type: fc.oneof({ weight: 3, arbitrary: fc.constant(135) }, { weight: 1, arbitrary: fc.constant(136) }),
    src: fc.oneof(fc.constantFrom('fd00:10:244:1::5', '::', STATION_B_V6, 'fe80::5').map(v6), ipv6Address),
    dst: fc.oneof(fc.constantFrom('ff02::1:ff00:5', STATION_B_V6, 'ff02::1').map(v6), ipv6Address),
    target: fc.oneof({ weight: 3, arbitrary: fc.constant(v6(STATION_B_V6)) }, fc.constantFrom('fd00:10:244:3::7', 'ff02::1', 'fd00:10:244:1::5').map(v6), ipv6Address),
    options: fc.array(fc.record({ type: fc.oneof(fc.constantFrom(1, 2), byte), units: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) }), mac: fc.constantFrom(STATION_A, STATION_B, STATION_C) }), { maxLength: 3 }),
  })
  .map((m) => {
    const opts = m.options.map((o) => {
      const x = Buffer.alloc(Math.max(o.units, 1) * 8);
      x[0] = o.type;
      x[1] = o.units;
      o.mac.copy(x, 2);
      return x;
    });
    const body = Buffer.alloc(24);
    body[0] = m.type;
    m.target.copy(body, 8);
    const icmpBytes = Buffer.concat([body, ...opts]);
    return buildIpv6(0, 255, m.src, m.dst, [], IPPROTO_ICMPV6, { bytes: icmpBytes, checksumAt: 2, pseudo: true });
  });

/** ARP for IPv4 over Ethernet (RFC 826): requests for stations behind peers, gratuitous ones, others. */
export const arpBody: fc.Arbitrary<Buffer> = fc
  .record({
    htype: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: word16 }),
    ptype: fc.oneof({ weight: 5, arbitrary: fc.constant(ETHERTYPE_IPV4) }, { weight: 1, arbitrary: word16 }),
    hlen: fc.oneof({ weight: 5, arbitrary: fc.constant(6) }, { weight: 1, arbitrary: byte }),
    plen: fc.oneof({ weight: 5, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: byte }),
    op: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.constant(2) }, { weight: 1, arbitrary: word16 }),
    sha: fc.constantFrom(STATION_A, STATION_B, STATION_C, Buffer.alloc(6)),
    spa: fc.oneof(fc.constantFrom(v4('10.244.1.5'), 0, v4(STATION_B_V4)), ipv4Address),
    tha: fc.constantFrom(Buffer.alloc(6), STATION_B),
    tpa: fc.oneof({ weight: 3, arbitrary: fc.constant(v4(STATION_B_V4)) }, fc.constantFrom(v4('10.244.3.7'), v4('224.0.0.1')), ipv4Address),
  })
  .map((a) => {
    const b = Buffer.alloc(28);
    b.writeUInt16BE(a.htype, 0);
    b.writeUInt16BE(a.ptype, 2);
    b[4] = a.hlen;
    b[5] = a.plen;
    b.writeUInt16BE(a.op, 6);
    a.sha.copy(b, 8);
    b.writeUInt32BE(a.spa, 14);
    a.tha.copy(b, 18);
    b.writeUInt32BE(a.tpa, 24);
    return b;
  });

export const ipPacket = fc.oneof(ipv4Packet, ipv6Packet);

const BROADCAST = parseMac('ff:ff:ff:ff:ff:ff');
const macAddress = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(STATION_A, STATION_B, STATION_C, BROADCAST, parseMac('33:33:ff:00:00:05'), A.mac, A.macV6, B.mac) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.alloc(6), parseMac('01:00:5e:00:00:01')) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 6, maxLength: 6 }).map((a) => Buffer.from(a)) },
);

/** Source MACs: mostly stations (a bridge forwards nothing else), sometimes any address. */
const sourceMac = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(STATION_A, STATION_C, A.mac, parseMac('02:00:00:00:01:06')) }, { weight: 1, arbitrary: macAddress });

function ethernet(dst: Buffer, src: Buffer, etherType: number, body: Buffer): Buffer {
  const b = Buffer.alloc(14 + body.length);
  dst.copy(b, 0);
  src.copy(b, 6);
  b.writeUInt16BE(etherType, 12);
  body.copy(b, 14);
  return b;
}

/** Ethernet II frames as a bridge hands them to the TAP: IPv4, IPv6, ND, ARP, or another EtherType. */
export const ethernetFrame: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(macAddress, sourceMac, ipv4Packet).map(([d, s, p]) => ethernet(d, s, ETHERTYPE_IPV4, p)),
  fc.tuple(macAddress, sourceMac, ipv6Packet).map(([d, s, p]) => ethernet(d, s, ETHERTYPE_IPV6, p)),
  fc.tuple(macAddress, sourceMac, ndPacket).map(([d, s, p]) => ethernet(d, s, ETHERTYPE_IPV6, p)),
  fc.tuple(macAddress, sourceMac, arpBody).map(([d, s, p]) => ethernet(d, s, ETHERTYPE_ARP, p)),
  fc.tuple(macAddress, sourceMac, word16, payload).map(([d, s, t, p]) => ethernet(d, s, t, p)),
);

/** The inner frames router mode carries: to A's VTEP MAC of the packet's family (or another), from a peer's. */
export const routedFrame: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: ipv4Packet.map((p) => ethernet(A.mac, B.mac, ETHERTYPE_IPV4, p)) },
  { weight: 4, arbitrary: ipv6Packet.map((p) => ethernet(A.macV6, C.macV6, ETHERTYPE_IPV6, p)) },
  { weight: 1, arbitrary: fc.tuple(macAddress, fc.constantFrom(ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_ARP), ipPacket).map(([d, t, p]) => ethernet(d, B.mac, t, p)) },
);

/** A VXLAN datagram (RFC 7348 §5) around `frame`: the I flag and our VNI, mostly. */
export function vxlanDatagram(frame: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .record({
      flags: fc.oneof({ weight: 6, arbitrary: fc.constant(0x08) }, { weight: 1, arbitrary: byte }),
      vni: fc.oneof({ weight: 6, arbitrary: fc.constant(VNI) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffff }) }),
      reserved: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer() }),
      frame,
    })
    .map((d) => {
      const b = Buffer.alloc(8 + d.frame.length);
      b.writeInt32BE(d.reserved & 0x00ffffff, 0);
      b[0] = d.flags;
      b.writeUInt32BE(((d.vni << 8) | (d.reserved & 0xff)) >>> 0, 4);
      d.frame.copy(b, 8);
      return b;
    });
}

/** One corruption where a parser looks: a byte, a 16-bit length or port, a bit, a cut (anywhere, or a few bytes off the end), or bytes appended. */
type Mutation =
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'word'; at: number; value: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'trim'; cut: number }
  | { kind: 'extend'; extra: Uint8Array };

/** Header offsets: everything up to VXLAN + Ethernet + IPv6 + a few extension headers. */
const headerOffset = fc.nat({ max: 127 });
const interestingByte = fc.oneof(fc.constantFrom(0, 1, 0x08, 0x40, 0x45, 0x4f, 0x46, 0x60, 0x80, 0xff, 0, 6, 17, 43, 44, 51, 58, 59, 60, 135, 136, 255), byte);
const interestingWord = fc.oneof(fc.constantFrom(0, 1, 7, 8, 19, 20, 39, 40, 0x0800, 0x86dd, 0x0806, 0x7fff, 0xffff), word16);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: headerOffset, value: interestingByte }),
  fc.record({ kind: fc.constant('word' as const), at: headerOffset, value: interestingWord }),
  fc.record({ kind: fc.constant('flip' as const), at: headerOffset, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.oneof(fc.nat({ max: 127 }), fc.nat({ max: 1600 })) }),
  fc.record({ kind: fc.constant('trim' as const), cut: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);

/** The bytes a cut removed from a packet: what a parser reading past its end would hope to find. */
const cutOff = new WeakMap<Buffer, Buffer>();

/** What was cut off the end of a generated packet, if anything. */
export function tailOf(packet: Buffer): Buffer | undefined {
  return cutOff.get(packet);
}

function cut(b: Buffer, keep: number): Buffer {
  const kept = Buffer.from(b.subarray(0, keep));
  cutOff.set(kept, Buffer.concat([b.subarray(keep), cutOff.get(b) ?? Buffer.alloc(0)]));
  return kept;
}

function mutate(packet: Buffer, mutations: Mutation[]): Buffer {
  let b: Buffer = Buffer.from(packet);
  for (const m of mutations) {
    if (m.kind === 'truncate') b = cut(b, Math.min(m.keep, b.length));
    else if (m.kind === 'trim') b = cut(b, Math.max(0, b.length - m.cut));
    else if (m.kind === 'extend') b = Buffer.concat([b, m.extra]);
    else if (b.length === 0) continue;
    else if (m.kind === 'byte') b[m.at % b.length] = m.value;
    else if (m.kind === 'flip') b[m.at % b.length] ^= 1 << m.bit;
    else if (b.length >= 2) b.writeUInt16BE(m.value, m.at % (b.length - 1));
  }
  return b;
}

/** What a stage is fed: random bytes, valid packets from `valid`, and those packets corrupted. */
export function hostile(valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 160 }).map((a) => Buffer.from(a)) },
    { weight: 3, arbitrary: valid },
    { weight: 6, arbitrary: fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([p, ms]) => mutate(p, ms)) },
  );
}
