// Addresses as the policy compares them: 16 bytes, IPv4 as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2),
// the form the datapath's FlowQuery carries. A prefix keeps its family: an IPv6 prefix never
// matches an IPv4 address, even ::/0.
import ipaddr from 'ipaddr.js';

export interface MappedPrefix {
  family: 4 | 6;
  /** 16 bytes, bits past the prefix cleared. */
  addr: Uint8Array;
  /** In the 128-bit space: an IPv4 /n is 96 + n. */
  bits: number;
}

/** "10.244.1.2" or "fd00::2" → 16 bytes; undefined when it is neither. */
export function mappedAddress(text: string): Uint8Array | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return Uint8Array.from(ipaddr.IPv4.parse(text).toIPv4MappedAddress().toByteArray());
  if (ipaddr.IPv6.isValid(text) && !text.includes('%') && !ipaddr.IPv4.isValid(text)) return Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray());
  return undefined;
}

export function isMappedIpv4(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

export function addressKey(a: Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, 16).toString('hex');
}

/** A CIDR as the API accepts it (host bits may be set; they are cleared), or undefined. */
export function parsePrefix(text: string): MappedPrefix | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  const addr = mappedAddress(text.slice(0, slash));
  if (!addr) return undefined;
  const family = ipaddr.IPv4.isValidFourPartDecimal(text.slice(0, slash)) ? 4 : 6;
  if (len > (family === 4 ? 32 : 128)) return undefined;
  const bits = family === 4 ? 96 + len : len;
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    addr[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { family, addr, bits };
}

export function prefixContains(p: MappedPrefix, a: Uint8Array): boolean {
  if ((p.family === 4) !== isMappedIpv4(a)) return false;
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, p.bits - i * 8));
    if (keep === 0) return true;
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((a[i] & mask) !== p.addr[i]) return false;
  }
  return true;
}

/** Whether `inner` is a strict subset of `outer` (what the API asks of an ipBlock's except). */
export function prefixStrictlyInside(inner: MappedPrefix, outer: MappedPrefix): boolean {
  return inner.family === outer.family && inner.bits > outer.bits && prefixContains(outer, inner.addr);
}

export function formatPrefix(p: MappedPrefix): string {
  return p.family === 4 ? `${p.addr.slice(12).join('.')}/${p.bits - 96}` : `${new ipaddr.IPv6(Array.from(p.addr)).toRFC5952String()}/${p.bits}`;
}
