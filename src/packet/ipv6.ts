// IPv6 fixed header (RFC 8200 §3). Addresses stay as 16 bytes in the buffer; their text is
// src/address/'s.
import { IPV6_HEADER_LEN } from './constants.js';

export const IPV6_OK = 0;
/** Shorter than 40 bytes plus its Payload Length. */
export const IPV6_TRUNCATED = 1;
export const IPV6_BAD_VERSION = 2;

export const IPV6_SRC = 8;
export const IPV6_DST = 24;

export function ipv6PayloadLength(buf: Buffer, off: number): number {
  return (buf[off + 4] << 8) | buf[off + 5];
}

/** Checks the fixed header of the packet in buf[off .. off+len]; returns IPV6_OK or the problem. */
export function validateIpv6(buf: Buffer, off: number, len: number): number {
  if (len < IPV6_HEADER_LEN) return IPV6_TRUNCATED;
  if (buf[off] >>> 4 !== 6) return IPV6_BAD_VERSION;
  if (IPV6_HEADER_LEN + ipv6PayloadLength(buf, off) > len) return IPV6_TRUNCATED;
  return IPV6_OK;
}

/** Writes the fixed header (traffic class and flow label 0); src and dst are 16 bytes each. */
export function writeIpv6Header(
  buf: Buffer, off: number, payloadLength: number, nextHeader: number, hopLimit: number, src: Uint8Array, dst: Uint8Array,
): void {
  buf.writeUInt32BE(0x60000000, off);
  buf.writeUInt16BE(payloadLength, off + 4);
  buf[off + 6] = nextHeader;
  buf[off + 7] = hopLimit;
  // A byte loop: subarray views would allocate two objects per call on the ICMPv6 error path.
  for (let i = 0; i < 16; i++) {
    buf[off + IPV6_SRC + i] = src[i];
    buf[off + IPV6_DST + i] = dst[i];
  }
}

/** The upper-layer header after the extension headers, or a negative IPV6_* problem code. */
export const IPV6_BAD_CHAIN = -3;
const EXT_HOP_BY_HOP = 0;
const EXT_ROUTING = 43;
const EXT_FRAGMENT = 44;
const EXT_AH = 51;
const EXT_DEST_OPTS = 60;
const MAX_EXTENSIONS = 16;

/**
 * Walks the extension headers (RFC 8200 §4) of the packet at buf[off], which carries `end - off`
 * bytes of it, and returns the offset of the upper-layer header with its protocol in `out[0]`;
 * -IPV6_TRUNCATED when a header runs past `end`, IPV6_BAD_CHAIN when Hop-by-Hop is not first
 * (§4.1) or the chain is absurdly long. When `out` has three words, a Fragment header (§4.5) is
 * reported in them too: `out[1]` its offset-and-flags word (fragment offset in 8-byte units << 3,
 * M flag in bit 0; 0 without one) and `out[2]` its Identification.
 */
export function ipv6UpperLayer(buf: Buffer, off: number, end: number, out: Int32Array): number {
  let next = buf[off + 6];
  let at = off + IPV6_HEADER_LEN;
  const fragments = out.length >= 3;
  if (fragments) out[1] = out[2] = 0;
  for (let n = 0; ; n++) {
    if (next !== EXT_HOP_BY_HOP && next !== EXT_ROUTING && next !== EXT_FRAGMENT && next !== EXT_AH && next !== EXT_DEST_OPTS) break;
    if ((next === EXT_HOP_BY_HOP && n > 0) || n === MAX_EXTENSIONS) return IPV6_BAD_CHAIN;
    if (at + 8 > end) return -IPV6_TRUNCATED;
    const len = next === EXT_FRAGMENT ? 8 : next === EXT_AH ? (buf[at + 1] + 2) * 4 : (buf[at + 1] + 1) * 8;
    if (fragments && next === EXT_FRAGMENT) {
      out[1] = (buf[at + 2] << 8) | buf[at + 3];
      out[2] = (buf[at + 4] << 24) | (buf[at + 5] << 16) | (buf[at + 6] << 8) | buf[at + 7];
    }
    next = buf[at];
    at += len;
  }
  if (at > end) return -IPV6_TRUNCATED;
  out[0] = next;
  return at;
}
