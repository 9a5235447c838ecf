// Ethernet II header (IEEE 802.3 §3.1.1): dst MAC, src MAC, EtherType.
import { MAC_LEN } from './constants.js';

export function writeEthernetHeader(buf: Buffer, off: number, dst: Uint8Array, src: Uint8Array, etherType: number): void {
  for (let i = 0; i < MAC_LEN; i++) {
    buf[off + i] = dst[i];
    buf[off + MAC_LEN + i] = src[i];
  }
  buf[off + 12] = etherType >>> 8;
  buf[off + 13] = etherType & 0xff;
}

/** The EtherType of the frame that starts at `off`. */
export function readEtherType(buf: Buffer, off: number): number {
  return (buf[off + 12] << 8) | buf[off + 13];
}

/** Whether the 6 bytes at buf[off] equal `mac`. */
export function macEquals(buf: Buffer, off: number, mac: Uint8Array): boolean {
  for (let i = 0; i < MAC_LEN; i++) if (buf[off + i] !== mac[i]) return false;
  return true;
}

/** Whether the MAC at buf[off] can be a station's: not a group address, not all zeros. */
export function isStationMac(buf: Uint8Array, off: number): boolean {
  if ((buf[off] & 1) === 1) return false;
  return (buf[off] | buf[off + 1] | buf[off + 2] | buf[off + 3] | buf[off + 4] | buf[off + 5]) !== 0;
}

/** The I/G bit: the low bit of the first octet marks group (multicast/broadcast) addresses. */
export function isMulticastMac(mac: Uint8Array): boolean {
  return (mac[0] & 1) === 1;
}
