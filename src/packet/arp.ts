// ARP for IPv4 over Ethernet (RFC 826): the 28-byte body after the Ethernet header.
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN, MAC_LEN } from './constants.js';

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
/** Offsets within the body: operation, sender MAC and IPv4 address, target MAC and IPv4 address. */
export const ARP_OP = 6;
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;
const HTYPE_ETHERNET = 1;

/** Whether buf[off .. off+len] is an ARP body for IPv4 over Ethernet (hardware 1, protocol 0x0800, lengths 6 and 4). */
export function isIpv4OverEthernetArp(buf: Uint8Array, off: number, len: number): boolean {
  return (
    len >= ARP_LEN &&
    ((buf[off] << 8) | buf[off + 1]) === HTYPE_ETHERNET &&
    ((buf[off + 2] << 8) | buf[off + 3]) === ETHERTYPE_IPV4 &&
    buf[off + 4] === MAC_LEN &&
    buf[off + 5] === 4
  );
}

export function arpOp(buf: Uint8Array, off: number): number {
  return (buf[off + ARP_OP] << 8) | buf[off + ARP_OP + 1];
}

/**
 * Writes at out[at] the Ethernet frame that answers the ARP request in the frame at buf[frame]:
 * `mac` has the requested address. Returns its length (42 bytes; the kernel pads short frames).
 */
export function writeArpReply(out: Buffer, at: number, buf: Uint8Array, frame: number, mac: Uint8Array): number {
  const req = frame + ETH_HEADER_LEN;
  for (let k = 0; k < MAC_LEN; k++) {
    out[at + k] = buf[req + ARP_SHA + k];
    out[at + MAC_LEN + k] = mac[k];
  }
  out.writeUInt16BE(ETHERTYPE_ARP, at + 12);
  const body = at + ETH_HEADER_LEN;
  out.writeUInt16BE(HTYPE_ETHERNET, body);
  out.writeUInt16BE(ETHERTYPE_IPV4, body + 2);
  out[body + 4] = MAC_LEN;
  out[body + 5] = 4;
  out.writeUInt16BE(ARP_REPLY, body + ARP_OP);
  for (let k = 0; k < MAC_LEN; k++) out[body + ARP_SHA + k] = mac[k];
  for (let k = 0; k < 4; k++) out[body + ARP_SPA + k] = buf[req + ARP_TPA + k];
  for (let k = 0; k < MAC_LEN; k++) out[body + ARP_THA + k] = buf[req + ARP_SHA + k];
  for (let k = 0; k < 4; k++) out[body + ARP_TPA + k] = buf[req + ARP_SPA + k];
  return ETH_HEADER_LEN + ARP_LEN;
}
