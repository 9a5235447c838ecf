// IPv4 header (RFC 791 §3.1). Addresses are host-order unsigned 32-bit numbers; their text is
// src/address/'s.
import { IPV4_HEADER_MIN } from './constants.js';
import { internetChecksum } from './checksum.js';

export const IPV4_OK = 0;
/** Shorter than its header, or than its Total Length says. */
export const IPV4_TRUNCATED = 1;
export const IPV4_BAD_VERSION = 2;
/** IHL below 5 words. */
export const IPV4_BAD_IHL = 3;
/** Total Length below the header length. */
export const IPV4_BAD_LENGTH = 4;

const FLAG_DF = 0x4000;
const FRAG_OFFSET_MASK = 0x1fff;

export function ipv4HeaderLength(buf: Buffer, off: number): number {
  return (buf[off] & 0x0f) << 2;
}
export function ipv4TotalLength(buf: Buffer, off: number): number {
  return (buf[off + 2] << 8) | buf[off + 3];
}
export function ipv4Protocol(buf: Buffer, off: number): number {
  return buf[off + 9];
}
export function ipv4Src(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off + 12);
}
export function ipv4Dst(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off + 16);
}
/** True for a fragment other than the first: its payload has no transport header. */
export function ipv4IsLaterFragment(buf: Buffer, off: number): boolean {
  return (((buf[off + 6] << 8) | buf[off + 7]) & FRAG_OFFSET_MASK) !== 0;
}

/** Checks the header of the packet in buf[off .. off+len]; returns IPV4_OK or the problem. */
export function validateIpv4(buf: Buffer, off: number, len: number): number {
  if (len < IPV4_HEADER_MIN) return IPV4_TRUNCATED;
  if (buf[off] >>> 4 !== 4) return IPV4_BAD_VERSION;
  const ihl = ipv4HeaderLength(buf, off);
  if (ihl < IPV4_HEADER_MIN) return IPV4_BAD_IHL;
  const total = ipv4TotalLength(buf, off);
  if (total < ihl) return IPV4_BAD_LENGTH;
  if (ihl > len || total > len) return IPV4_TRUNCATED;
  return IPV4_OK;
}

/** Writes a 20-byte header without options, checksum included. */
export function writeIpv4Header(
  buf: Buffer, off: number, totalLength: number, id: number, ttl: number, protocol: number,
  src: number, dst: number, dontFragment: boolean,
): void {
  buf[off] = 0x45;
  buf[off + 1] = 0;
  buf.writeUInt16BE(totalLength, off + 2);
  buf.writeUInt16BE(id & 0xffff, off + 4);
  buf.writeUInt16BE(dontFragment ? FLAG_DF : 0, off + 6);
  buf[off + 8] = ttl;
  buf[off + 9] = protocol;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  buf.writeUInt32BE(src >>> 0, off + 12);
  buf.writeUInt32BE(dst >>> 0, off + 16);
  buf.writeUInt16BE(internetChecksum(buf, off, IPV4_HEADER_MIN), off + 10);
}
