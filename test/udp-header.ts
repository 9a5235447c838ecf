// UDP header (RFC 768), for the tests' hand-built packets: the daemon never writes one (the kernel
// adds the outer UDP header on sendmmsg).
import { internetChecksum } from '../src/packet/checksum.js';
import { UDP_HEADER_LEN } from '../src/packet/constants.js';

/** RFC 768 / RFC 793 IPv4 pseudo-header sum; addresses are host-order 32-bit numbers. */
function pseudoHeaderSumV4(src: number, dst: number, proto: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + length;
}

export function udpSrcPort(buf: Buffer, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}
export function udpDstPort(buf: Buffer, off: number): number {
  return (buf[off + 2] << 8) | buf[off + 3];
}
export function udpLength(buf: Buffer, off: number): number {
  return (buf[off + 4] << 8) | buf[off + 5];
}
export function udpChecksum(buf: Buffer, off: number): number {
  return (buf[off + 6] << 8) | buf[off + 7];
}

/** Writes the header with checksum 0 ("not computed", allowed over IPv4: RFC 768). */
export function writeUdpHeader(buf: Buffer, off: number, srcPort: number, dstPort: number, payloadLength: number): void {
  buf.writeUInt16BE(srcPort, off);
  buf.writeUInt16BE(dstPort, off + 2);
  buf.writeUInt16BE(UDP_HEADER_LEN + payloadLength, off + 4);
  buf.writeUInt16BE(0, off + 6);
}

/** Fills in the IPv4 UDP checksum of the datagram at buf[off .. off+udpLength]; 0 is sent as 0xffff. */
export function setUdpChecksumV4(buf: Buffer, off: number, src: number, dst: number): void {
  const len = udpLength(buf, off);
  buf.writeUInt16BE(0, off + 6);
  const sum = internetChecksum(buf, off, len, pseudoHeaderSumV4(src, dst, 17, len));
  buf.writeUInt16BE(sum === 0 ? 0xffff : sum, off + 6);
}
