// Neighbour Discovery (RFC 4861): finding solicitations and advertisements in an Ethernet frame,
// their link-layer address options, and writing the advertisement that answers a solicitation.
import { internetChecksum, pseudoHeaderSumV6 } from './checksum.js';
import { ETHERTYPE_IPV6, ETH_HEADER_LEN, IPPROTO_ICMPV6, IPV6_HEADER_LEN, MAC_LEN } from './constants.js';
import { IPV6_DST, IPV6_SRC } from './ipv6.js';

export const ND_NEIGHBOUR_SOLICIT = 135;
export const ND_NEIGHBOUR_ADVERT = 136;
/** Offset of the target address in both messages (§4.3, §4.4), and of their options. */
export const ND_TARGET = 8;
const ND_OPTIONS = 24;
export const ND_OPT_SOURCE_LLADDR = 1;
export const ND_OPT_TARGET_LLADDR = 2;
const NA_SOLICITED = 0x40;
const NA_OVERRIDE = 0x20;
/** §7.1.1: a node accepts ND messages only with hop limit 255 (they cannot have been routed). */
const ND_HOP_LIMIT = 255;
const ADVERT_LEN = ND_OPTIONS + 8;

/**
 * If the frame at buf[frame .. frame+len] is an IPv6 neighbour solicitation or advertisement
 * (ICMPv6 right after the fixed header, hop limit 255, code 0, whole, checksum valid), returns
 * the offset of its ICMPv6 header; else -1.
 */
export function findNdMessage(buf: Buffer, frame: number, len: number): number {
  const ip = frame + ETH_HEADER_LEN;
  if (len < ETH_HEADER_LEN + IPV6_HEADER_LEN + ND_OPTIONS) return -1;
  if (buf[ip] >>> 4 !== 6 || buf[ip + 6] !== IPPROTO_ICMPV6 || buf[ip + 7] !== ND_HOP_LIMIT) return -1;
  const icmp = ip + IPV6_HEADER_LEN;
  const payload = (buf[ip + 4] << 8) | buf[ip + 5];
  if (payload < ND_OPTIONS || ETH_HEADER_LEN + IPV6_HEADER_LEN + payload > len) return -1;
  const type = buf[icmp];
  if ((type !== ND_NEIGHBOUR_SOLICIT && type !== ND_NEIGHBOUR_ADVERT) || buf[icmp + 1] !== 0) return -1;
  if (internetChecksum(buf, icmp, payload, pseudoHeaderSumV6(buf, ip + IPV6_SRC, ip + IPV6_DST, IPPROTO_ICMPV6, payload)) !== 0) return -1;
  return icmp;
}

/** Offset of the MAC in the first link-layer address option of `type` (§4.6.1), or -1. */
export function ndLinkLayerOption(buf: Buffer, icmp: number, end: number, type: number): number {
  for (let at = icmp + ND_OPTIONS; at + 2 <= end; ) {
    const units = buf[at + 1];
    if (units === 0 || at + units * 8 > end) return -1; // §4.6: a zero length is invalid
    if (buf[at] === type && units === 1) return at + 2;
    at += units * 8;
  }
  return -1;
}

/** Whether the 16 bytes at buf[off] are the unspecified address :: (a duplicate address probe's source). */
export function isUnspecifiedV6(buf: Uint8Array, off: number): boolean {
  for (let k = 0; k < 16; k++) if (buf[off + k] !== 0) return false;
  return true;
}

/**
 * Writes at out[at] the Ethernet frame that answers the solicitation in the frame at buf[frame]
 * (ICMPv6 at buf[icmp]): from `mac`, which owns the target, a solicited, override advertisement
 * with a target link-layer address option (§7.2.4). Returns its length.
 */
export function writeNeighbourAdvert(out: Buffer, at: number, buf: Buffer, frame: number, icmp: number, mac: Uint8Array): number {
  const reqIp = frame + ETH_HEADER_LEN;
  for (let k = 0; k < MAC_LEN; k++) {
    out[at + k] = buf[frame + MAC_LEN + k]; // to the soliciting station
    out[at + MAC_LEN + k] = mac[k];
  }
  out.writeUInt16BE(ETHERTYPE_IPV6, at + 12);
  const ip = at + ETH_HEADER_LEN;
  out.writeUInt32BE(0x60000000, ip);
  out.writeUInt16BE(ADVERT_LEN, ip + 4);
  out[ip + 6] = IPPROTO_ICMPV6;
  out[ip + 7] = ND_HOP_LIMIT;
  buf.copy(out, ip + IPV6_SRC, icmp + ND_TARGET, icmp + ND_TARGET + 16); // from the target address
  buf.copy(out, ip + IPV6_DST, reqIp + IPV6_SRC, reqIp + IPV6_SRC + 16);
  const na = ip + IPV6_HEADER_LEN;
  out.fill(0, na, na + ADVERT_LEN);
  out[na] = ND_NEIGHBOUR_ADVERT;
  out[na + 4] = NA_SOLICITED | NA_OVERRIDE;
  buf.copy(out, na + ND_TARGET, icmp + ND_TARGET, icmp + ND_TARGET + 16);
  out[na + ND_OPTIONS] = ND_OPT_TARGET_LLADDR;
  out[na + ND_OPTIONS + 1] = 1;
  for (let k = 0; k < MAC_LEN; k++) out[na + ND_OPTIONS + 2 + k] = mac[k];
  out.writeUInt16BE(internetChecksum(out, na, ADVERT_LEN, pseudoHeaderSumV6(out, ip + IPV6_SRC, ip + IPV6_DST, IPPROTO_ICMPV6, ADVERT_LEN)), na + 2);
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + ADVERT_LEN;
}
