// CIDR prefixes of either family, parsed once at the control plane's edge.
import { isIPv4, isIPv6 } from 'node:net';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../address/ip-text.js';

export interface Cidr {
  family: 4 | 6;
  /** Network address, 4 or 16 bytes. */
  addr: Buffer;
  prefixLen: number;
  /** Canonical text, e.g. "10.244.1.0/24". */
  text: string;
}

/** Parses "a.b.c.d/n" or "x::/n"; host bits must be zero. Throws an Error naming the text. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const ip = slash < 0 ? '' : text.slice(0, slash);
  const lenText = slash < 0 ? '' : text.slice(slash + 1);
  const family = isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : 0;
  if (family === 0 || !/^\d{1,3}$/.test(lenText)) {
    throw new Error(`"${text}" is not a CIDR (expected e.g. 10.244.1.0/24)`);
  }
  const prefixLen = Number(lenText);
  const bits = family === 4 ? 32 : 128;
  if (prefixLen > bits) throw new Error(`"${text}": prefix length ${prefixLen} is over ${bits}`);
  const addr = family === 4 ? ipv4Bytes(parseIpv4(ip)) : parseIpv6(ip);
  const network = maskBytes(addr, prefixLen);
  if (!network.equals(addr)) {
    throw new Error(`"${text}" has host bits set (did you mean ${formatCidrAddr(family, network)}/${prefixLen}?)`);
  }
  return { family, addr, prefixLen, text: `${formatCidrAddr(family, addr)}/${prefixLen}` };
}

/** True when the two prefixes share at least one address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const len = Math.min(a.prefixLen, b.prefixLen);
  return maskBytes(a.addr, len).equals(maskBytes(b.addr, len));
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefixLen >= outer.prefixLen && cidrOverlaps(outer, inner);
}

function maskBytes(addr: Buffer, prefixLen: number): Buffer {
  const out = Buffer.alloc(addr.length);
  for (let i = 0; i < addr.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = addr[i] & ((0xff00 >> bits) & 0xff);
  }
  return out;
}

function ipv4Bytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

function formatCidrAddr(family: 4 | 6, addr: Buffer): string {
  return family === 4 ? formatIpv4(addr.readUInt32BE(0)) : formatIpv6(addr, 0);
}
