// IP packets built field by field for the connection-tracking tests: only what the flow reader
// reads is meaningful (checksums are left zero; nothing here reaches a kernel).
import { parseIpv4, parseIpv6 } from '../src/address/ip-text.js';

export const TCP = 6;
export const UDP = 17;
export const SCTP = 132;
export const ICMP = 1;
export const ICMPV6 = 58;

export interface Fragment {
  id: number;
  /** Fragment offset in 8-byte units. */
  offset: number;
  more: boolean;
}

export function ipv4(src: string, dst: string, protocol: number, payload: Buffer, fragment?: Fragment): Buffer {
  const p = Buffer.alloc(20 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  if (fragment) {
    p.writeUInt16BE(fragment.id, 4);
    p.writeUInt16BE((fragment.more ? 0x2000 : 0) | fragment.offset, 6);
  }
  p[8] = 64;
  p[9] = protocol;
  p.writeUInt32BE(parseIpv4(src) >>> 0, 12);
  p.writeUInt32BE(parseIpv4(dst) >>> 0, 16);
  payload.copy(p, 20);
  return p;
}

/** `extensions`: [next header, bytes] pairs put between the fixed header and the payload, in order. */
export function ipv6(src: string, dst: string, protocol: number, payload: Buffer, extensions: Array<[number, Buffer]> = []): Buffer {
  const chain = extensions.map(([type]) => type);
  const parts: Buffer[] = [];
  extensions.forEach(([, body], k) => {
    const h = Buffer.from(body);
    h[0] = k + 1 < chain.length ? chain[k + 1] : protocol;
    parts.push(h);
  });
  const rest = Buffer.concat([...parts, payload]);
  const p = Buffer.alloc(40 + rest.length);
  p.writeUInt32BE(0x60000000, 0);
  p.writeUInt16BE(rest.length, 4);
  p[6] = chain.length > 0 ? chain[0] : protocol;
  p[7] = 64;
  Buffer.from(parseIpv6(src)).copy(p, 8);
  Buffer.from(parseIpv6(dst)).copy(p, 24);
  rest.copy(p, 40);
  return p;
}

/** An IPv6 Destination Options header of 8 bytes (next header filled by ipv6()). */
export const destOptions = (): [number, Buffer] => [60, Buffer.from([0, 0, 1, 4, 0, 0, 0, 0])];
/** An IPv6 Fragment header (RFC 8200 §4.5). */
export function fragmentHeader(f: Fragment): [number, Buffer] {
  const h = Buffer.alloc(8);
  h.writeUInt16BE((f.offset << 3) | (f.more ? 1 : 0), 2);
  h.writeUInt32BE(f.id >>> 0, 4);
  return [44, h];
}

export function tcp(srcPort: number, dstPort: number, flags: number, data = 0): Buffer {
  const h = Buffer.alloc(20 + data);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  h[12] = 5 << 4;
  h[13] = flags;
  return h;
}

export function udp(srcPort: number, dstPort: number, data = 0): Buffer {
  const h = Buffer.alloc(8 + data);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  h.writeUInt16BE(8 + data, 4);
  return h;
}

export function sctp(srcPort: number, dstPort: number): Buffer {
  const h = Buffer.alloc(12 + 20);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  h[12] = 1; // INIT
  return h;
}

/** ICMP or ICMPv6 echo: type 8/0 (IPv4) or 128/129 (IPv6). */
export function echo(type: number, id: number, seq = 1): Buffer {
  const h = Buffer.alloc(8 + 16);
  h[0] = type;
  h.writeUInt16BE(id, 4);
  h.writeUInt16BE(seq, 6);
  return h;
}

/** An ICMP(v6) error of `type`/`code` quoting `quoted` (cut to `keep` bytes). */
export function icmpError(type: number, code: number, quoted: Buffer, keep = quoted.length): Buffer {
  const h = Buffer.alloc(8 + Math.min(keep, quoted.length));
  h[0] = type;
  h[1] = code;
  quoted.copy(h, 8, 0, Math.min(keep, quoted.length));
  return h;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;
