// ICMP errors the router originates: RFC 792 messages, within the limits of RFC 1122 §3.2.2
// and RFC 1812 §4.3.2.
import { IPPROTO_ICMP, IPV4_HEADER_MIN } from './constants.js';
import { internetChecksum } from './checksum.js';
import { ipv4Dst, ipv4IsLaterFragment, ipv4Protocol, ipv4Src, ipv4HeaderLength, writeIpv4Header } from './ipv4.js';

export const ICMP_DEST_UNREACH = 3;
export const ICMP_NET_UNREACH = 0;
export const ICMP_FRAG_NEEDED = 4;

const ICMP_HEADER_LEN = 8;
/** RFC 1812 §4.3.2.3: an ICMP error carries as much of the offending packet as fits in 576 bytes. */
export const ICMPV4_ERROR_MAX = 576;
const ERROR_TTL = 64;

/** Message types that are themselves errors; no error is sent about them (RFC 1122 §3.2.2). */
function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** A unicast, non-zero, non-loopback source we may address an error to (RFC 1122 §3.2.2, §3.2.1.3). */
function isUnicastHost(addr: number): boolean {
  const first = addr >>> 24;
  return addr !== 0 && addr !== 0xffffffff && first !== 127 && first < 224;
}

/** Whether RFC 1122 §3.2.2 lets us answer the (already validated) IPv4 packet at buf[off] with an error. */
export function icmpErrorAllowed(buf: Buffer, off: number, len: number): boolean {
  if (!isUnicastHost(ipv4Src(buf, off)) || ipv4Dst(buf, off) >>> 28 === 0xe || ipv4IsLaterFragment(buf, off)) return false;
  if (ipv4Protocol(buf, off) !== IPPROTO_ICMP) return true;
  const icmp = off + ipv4HeaderLength(buf, off);
  return icmp >= off + len || !isIcmpError(buf[icmp]);
}

/**
 * Writes at out[at] an IPv4 packet from `source` to the sender of the packet in
 * buf[off .. off+len], carrying ICMP type/code, the 4-byte `rest` field (e.g. the next-hop MTU
 * of "fragmentation needed", RFC 1191 §4) and the start of the offending packet. Returns its length.
 */
export function writeIcmpv4Error(
  out: Buffer, at: number, type: number, code: number, rest: number, source: number,
  buf: Buffer, off: number, len: number,
): number {
  const quoted = Math.min(len, ICMPV4_ERROR_MAX - IPV4_HEADER_MIN - ICMP_HEADER_LEN);
  const total = IPV4_HEADER_MIN + ICMP_HEADER_LEN + quoted;
  const icmp = at + IPV4_HEADER_MIN;
  out[icmp] = type;
  out[icmp + 1] = code;
  out.writeUInt16BE(0, icmp + 2);
  out.writeUInt32BE(rest >>> 0, icmp + 4);
  buf.copy(out, icmp + ICMP_HEADER_LEN, off, off + quoted);
  out.writeUInt16BE(internetChecksum(out, icmp, ICMP_HEADER_LEN + quoted), icmp + 2);
  writeIpv4Header(out, at, total, 0, ERROR_TTL, IPPROTO_ICMP, source, ipv4Src(buf, off), false);
  return total;
}
