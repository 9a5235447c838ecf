// IP addresses as text, for the control plane's edges (tables, flags, logs, debug views): parsed
// and formatted by ipaddr.js. The datapath never calls these; it keeps addresses as numbers and
// bytes (src/packet/).
import ipaddr from 'ipaddr.js';

/** "a.b.c.d" (four decimal parts, no leading zeros) → host-order number; throws on anything else. */
export function parseIpv4(text: string): number {
  if (!ipaddr.IPv4.isValidFourPartDecimal(text)) throw new Error(`"${text}" is not an IPv4 address`);
  const [a, b, c, d] = ipaddr.IPv4.parse(text).octets;
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export function formatIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** Any RFC 4291 §2.2 text form (no zone) → 16 bytes; throws on anything else. */
export function parseIpv6(text: string): Buffer {
  if (!ipaddr.IPv6.isValid(text) || text.includes('%')) throw new Error(`"${text}" is not an IPv6 address`);
  return Buffer.from(ipaddr.IPv6.parse(text).toByteArray());
}

/** RFC 5952 canonical text of the 16 bytes at buf[off]. */
export function formatIpv6(buf: Uint8Array, off: number): string {
  return new ipaddr.IPv6(Array.from(buf.subarray(off, off + 16))).toRFC5952String();
}

/** The 16 bytes at buf[0] as text: an IPv4-mapped address (RFC 4291 §2.5.5.2) as IPv4's. */
export function formatMappedIp(buf: Uint8Array): string {
  const ip = new ipaddr.IPv6(Array.from(buf.subarray(0, 16)));
  return ip.isIPv4MappedAddress() ? ip.toIPv4Address().toString() : ip.toRFC5952String();
}
