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

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

// Parsed addresses by text: a policy change recompiles the world, whose thousands of pod
// addresses rarely change, and ipaddr.js takes microseconds per address. Bounded: cleared when full.
const parsed = new Map<string, Uint8Array | undefined>();
const PARSED_MAX = 1 << 17;

/** "10.244.1.2" or "fd00::2" → 16 bytes (do not modify them: they are shared); undefined when it is neither. */
export function mappedAddress(text: string): Uint8Array | undefined {
  let a = parsed.get(text);
  if (a === undefined && !parsed.has(text)) {
    a = parseMapped(text);
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(text, a);
  }
  return a;
}

function parseMapped(text: string): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = IPV4.exec(text); // four decimal parts, no leading zeros: ipaddr.js's isValidFourPartDecimal
  if (v4) return Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, +v4[1], +v4[2], +v4[3], +v4[4]);
  if (ipaddr.IPv6.isValid(text) && !text.includes('%') && !ipaddr.IPv4.isValid(text)) return Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray());
  return undefined;
}

export function isMappedIpv4(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** A Map key for 16 address bytes: eight 16-bit chars (cheaper than hex). */
export function addressKey(a: Uint8Array): string {
  return String.fromCharCode((a[0] << 8) | a[1], (a[2] << 8) | a[3], (a[4] << 8) | a[5], (a[6] << 8) | a[7], (a[8] << 8) | a[9], (a[10] << 8) | a[11], (a[12] << 8) | a[13], (a[14] << 8) | a[15]);
}

/** A CIDR as the API accepts it (host bits may be set; they are cleared), or undefined. */
export function parsePrefix(text: string): MappedPrefix | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  const parsedAddr = mappedAddress(text.slice(0, slash));
  if (!parsedAddr) return undefined;
  const addr = Uint8Array.from(parsedAddr);
  const family = IPV4.test(text.slice(0, slash)) ? 4 : 6;
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
