// The flow an IP packet belongs to, as connection tracking sees it: addresses (IPv4 as
// ::ffff:a.b.c.d, RFC 4291 §2.5.5.2), protocol and ports. ICMP echo's identifier stands for both
// ports (RFC 792, RFC 4443 §4.1), so that a request and its reply are one flow. An ICMP error
// (RFC 792; RFC 4443 §3) carries the start of the packet that caused it: its flow is that quoted
// packet's. Every read is bounds-checked against the packet; nothing is allocated.
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_HEADER_MIN, IPV6_HEADER_LEN } from './constants.js';
import { ipv6UpperLayer, IPV6_DST, IPV6_SRC } from './ipv6.js';

export const IPPROTO_SCTP = 132;

/** A packet of its own flow: the tuple is the packet's. */
export const FLOW_OWN = 0;
/** An ICMP error: the tuple is that of the packet it quotes, as that packet went (its sender first). */
export const FLOW_RELATED = 1;
/** An IP fragment other than the first: no ports; `fragmentId` and the addresses name its datagram. */
export const FLOW_LATER_FRAGMENT = 2;
/** The headers the flow needs are cut short (IP, transport, or the quote of an ICMP error). */
export const FLOW_TRUNCATED = 3;
/** Not an IP packet whose flow can be named: a bad header, or an ICMP error quoting what no connection sends. */
export const FLOW_MALFORMED = 4;

/** Filled by readFlow; one per shard, reused for every packet. */
export class FlowTuple {
  readonly src = new Uint8Array(16);
  readonly dst = new Uint8Array(16);
  protocol = 0;
  srcPort = 0;
  dstPort = 0;
  /** TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10) of the packet itself; 0 otherwise. */
  tcpFlags = 0;
  /** ICMP/ICMPv6 echo request: the packet that opens an echo flow. */
  echoRequest = false;
  /** The first fragment of a fragmented datagram (offset 0, more to come): later ones follow by `fragmentId`. */
  firstFragment = false;
  /** IPv4 Identification or IPv6 Fragment Identification of a fragmented datagram. */
  fragmentId = 0;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;
const ICMP_HEADER_LEN = 8;
const TCP_FLAGS_AT = 13;
const IPV4_MF = 0x2000;
const IPV4_OFFSET = 0x1fff;
const IPV6_FRAG_OFFSET = 0xfff8;
const IPV6_FRAG_M = 1;

const chain = new Int32Array(3);

/** RFC 792: destination unreachable, source quench, redirect, time exceeded, parameter problem. */
function isIcmpv4Error(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** RFC 4443 §3: destination unreachable, packet too big, time exceeded, parameter problem. */
function isIcmpv6Error(type: number): boolean {
  return type >= 1 && type <= 4;
}

/**
 * Reads the flow of the IP packet in buf[off .. off+len] into `t`; returns FLOW_OWN, FLOW_RELATED
 * (ICMP error: `t` is the quoted packet's flow), FLOW_LATER_FRAGMENT, FLOW_TRUNCATED or FLOW_MALFORMED.
 */
export function readFlow(buf: Buffer, off: number, len: number, t: FlowTuple): number {
  t.tcpFlags = 0;
  t.echoRequest = false;
  t.firstFragment = false;
  t.fragmentId = 0;
  if (len < 1 || off + len > buf.length) return FLOW_TRUNCATED;
  const version = buf[off] >>> 4;
  if (version === 4) return readIpv4(buf, off, len, t, false);
  if (version === 6) return readIpv6(buf, off, len, t, false);
  return FLOW_MALFORMED;
}

/** `quoted`: the packet inside an ICMP error, which may be cut anywhere after its first 8 transport bytes. */
function readIpv4(buf: Buffer, off: number, len: number, t: FlowTuple, quoted: boolean): number {
  if (len < IPV4_HEADER_MIN) return FLOW_TRUNCATED;
  if (buf[off] >>> 4 !== 4) return FLOW_MALFORMED;
  const ihl = (buf[off] & 0x0f) << 2;
  const total = (buf[off + 2] << 8) | buf[off + 3];
  if (ihl < IPV4_HEADER_MIN || total < ihl) return FLOW_MALFORMED;
  if (ihl > len || (!quoted && total > len)) return FLOW_TRUNCATED;
  const end = off + (quoted ? Math.min(len, total) : total);
  mapIpv4(buf, off + 12, t.src);
  mapIpv4(buf, off + 16, t.dst);
  const protocol = buf[off + 9];
  const fragment = (buf[off + 6] << 8) | buf[off + 7];
  if ((fragment & IPV4_OFFSET) !== 0) {
    if (quoted) return FLOW_MALFORMED; // a later fragment's quote carries no ports
    t.protocol = protocol;
    t.srcPort = t.dstPort = 0;
    t.fragmentId = (buf[off + 4] << 8) | buf[off + 5];
    return FLOW_LATER_FRAGMENT;
  }
  if ((fragment & IPV4_MF) !== 0) {
    t.firstFragment = true;
    t.fragmentId = (buf[off + 4] << 8) | buf[off + 5];
  }
  return readTransport(buf, off + ihl, end, protocol, t, quoted, 4, off + 12);
}

function readIpv6(buf: Buffer, off: number, len: number, t: FlowTuple, quoted: boolean): number {
  if (len < IPV6_HEADER_LEN) return FLOW_TRUNCATED;
  if (buf[off] >>> 4 !== 6) return FLOW_MALFORMED;
  const total = IPV6_HEADER_LEN + ((buf[off + 4] << 8) | buf[off + 5]);
  if (!quoted && total > len) return FLOW_TRUNCATED;
  const end = off + (quoted ? Math.min(len, total) : total);
  const upper = ipv6UpperLayer(buf, off, end, chain);
  if (upper < 0) return upper === -1 ? FLOW_TRUNCATED : FLOW_MALFORMED;
  for (let k = 0; k < 16; k++) {
    t.src[k] = buf[off + IPV6_SRC + k];
    t.dst[k] = buf[off + IPV6_DST + k];
  }
  const fragment = chain[1];
  if ((fragment & IPV6_FRAG_OFFSET) !== 0) {
    if (quoted) return FLOW_MALFORMED;
    t.protocol = chain[0];
    t.srcPort = t.dstPort = 0;
    t.fragmentId = chain[2];
    return FLOW_LATER_FRAGMENT;
  }
  if ((fragment & IPV6_FRAG_M) !== 0) {
    t.firstFragment = true;
    t.fragmentId = chain[2];
  }
  return readTransport(buf, upper, end, chain[0], t, quoted, 16, off + IPV6_SRC);
}

/**
 * The transport header at buf[at .. end] of a packet whose source address (`width` bytes: 4 or
 * 16) is at buf[srcAt] and its destination right after. A quoted packet needs only its ports (RFC 792 promises 8
 * bytes of it); its own ICMP errors are not followed (an error about an error is never sent).
 */
function readTransport(buf: Buffer, at: number, end: number, protocol: number, t: FlowTuple, quoted: boolean, width: number, srcAt: number): number {
  t.protocol = protocol;
  t.srcPort = t.dstPort = 0;
  const avail = end - at;
  if (protocol === IPPROTO_TCP || protocol === IPPROTO_UDP || protocol === IPPROTO_SCTP) {
    const need = quoted ? 4 : protocol === IPPROTO_TCP ? TCP_FLAGS_AT + 1 : protocol === IPPROTO_UDP ? 8 : 12;
    if (avail < need) return FLOW_TRUNCATED;
    t.srcPort = (buf[at] << 8) | buf[at + 1];
    t.dstPort = (buf[at + 2] << 8) | buf[at + 3];
    if (protocol === IPPROTO_TCP && !quoted) t.tcpFlags = buf[at + TCP_FLAGS_AT];
    return FLOW_OWN;
  }
  const v4 = width === 4;
  // Any other protocol, ICMP over IPv6 and ICMPv6 over IPv4 included, has no ports: one flow per address pair.
  if (protocol !== (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) return FLOW_OWN;
  if (avail < (quoted ? 6 : ICMP_HEADER_LEN)) return FLOW_TRUNCATED;
  const type = buf[at];
  if (v4 ? type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY : type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY) {
    t.srcPort = t.dstPort = (buf[at + 4] << 8) | buf[at + 5];
    t.echoRequest = !quoted && type === (v4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST);
    return FLOW_OWN;
  }
  if (!(v4 ? isIcmpv4Error(type) : isIcmpv6Error(type))) return quoted ? FLOW_MALFORMED : FLOW_OWN;
  if (quoted) return FLOW_MALFORMED;
  if (t.firstFragment) return FLOW_MALFORMED; // an error fits one datagram (576 / 1280 bytes)
  const q = at + ICMP_HEADER_LEN;
  const status = v4 ? readIpv4(buf, q, end - q, t, true) : readIpv6(buf, q, end - q, t, true);
  if (status !== FLOW_OWN) return status;
  // The error goes back to the quoted packet's sender; one sent elsewhere belongs to no connection of it.
  for (let k = 0; k < width; k++) if (buf[srcAt + width + k] !== t.src[16 - width + k]) return FLOW_MALFORMED;
  t.firstFragment = false;
  t.fragmentId = 0;
  return FLOW_RELATED;
}

function mapIpv4(buf: Buffer, at: number, to: Uint8Array): void {
  for (let k = 0; k < 10; k++) to[k] = 0;
  to[10] = to[11] = 0xff;
  to[12] = buf[at];
  to[13] = buf[at + 1];
  to[14] = buf[at + 2];
  to[15] = buf[at + 3];
}
