// The version nibble shared by IPv4 (RFC 791 §3.1) and IPv6 (RFC 8200 §3).
export function ipVersion(buf: Buffer, off: number): number {
  return buf[off] >>> 4;
}
