// MAC addresses as text ("0a:58:c0:00:02:01"), for tables, flags and debug views.
import { MAC_LEN } from '../packet/constants.js';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Parses "aa:bb:cc:dd:ee:ff"; throws an Error naming the text if it is not one. */
export function parseMac(text: string): Buffer {
  if (!MAC_RE.test(text)) throw new Error(`"${text}" is not a MAC address (expected e.g. 0a:58:0a:f4:01:01)`);
  return Buffer.from(text.replaceAll(':', ''), 'hex');
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac.subarray(0, MAC_LEN), (b) => b.toString(16).padStart(2, '0')).join(':');
}
