// ICMPv6 errors the router originates (RFC 4443 §3), within the limits of RFC 4443 §2.4.
import { internetChecksum, pseudoHeaderSumV6 } from './checksum.js';
import { IPPROTO_ICMPV6, IPV6_HEADER_LEN } from './constants.js';
import { IPV6_DST, IPV6_SRC, ipv6UpperLayer, writeIpv6Header } from './ipv6.js';

export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_NO_ROUTE = 0;

const ICMPV6_HEADER_LEN = 8;
/** RFC 4443 §2.4(c): an error carries as much of the offending packet as fits in the IPv6 minimum MTU. */
export const ICMPV6_ERROR_MAX = 1280;
const ERROR_HOP_LIMIT = 64;
const upper = new Int32Array(1);

/**
 * Whether RFC 4443 §2.4(e) lets us answer the (validated) IPv6 packet at buf[off .. off+len]:
 * not about an ICMPv6 error, nor to an unspecified or multicast source; to a multicast
 * destination only with Packet Too Big.
 */
export function icmpv6ErrorAllowed(buf: Buffer, off: number, len: number, type: number): boolean {
  const src = off + IPV6_SRC;
  if (buf[src] === 0xff) return false;
  let unspecified = true;
  for (let k = 0; k < 16 && unspecified; k++) unspecified = buf[src + k] === 0;
  if (unspecified) return false;
  if (buf[off + IPV6_DST] === 0xff && type !== ICMPV6_PACKET_TOO_BIG) return false;
  const at = ipv6UpperLayer(buf, off, off + len, upper);
  if (at < 0) return false;
  return upper[0] !== IPPROTO_ICMPV6 || at >= off + len || buf[at] >= 128; // informational messages may be answered
}

/**
 * Writes at out[at] an IPv6 packet from `source` (16 bytes) to the sender of the packet in
 * buf[off .. off+len], with ICMPv6 type/code, the 4-byte `rest` field (the MTU of Packet Too Big)
 * and the start of the offending packet. Returns its length.
 */
export function writeIcmpv6Error(
  out: Buffer, at: number, type: number, code: number, rest: number, source: Uint8Array,
  buf: Buffer, off: number, len: number,
): number {
  const quoted = Math.min(len, ICMPV6_ERROR_MAX - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN);
  const payload = ICMPV6_HEADER_LEN + quoted;
  writeIpv6Header(out, at, payload, IPPROTO_ICMPV6, ERROR_HOP_LIMIT, source, source);
  buf.copy(out, at + IPV6_DST, off + IPV6_SRC, off + IPV6_SRC + 16); // to the offending packet's source
  const icmp = at + IPV6_HEADER_LEN;
  out[icmp] = type;
  out[icmp + 1] = code;
  out.writeUInt16BE(0, icmp + 2);
  out.writeUInt32BE(rest >>> 0, icmp + 4);
  buf.copy(out, icmp + ICMPV6_HEADER_LEN, off, off + quoted);
  const seed = pseudoHeaderSumV6(out, at + IPV6_SRC, at + IPV6_DST, IPPROTO_ICMPV6, payload);
  out.writeUInt16BE(internetChecksum(out, icmp, payload, seed), icmp + 2);
  return IPV6_HEADER_LEN + payload;
}
