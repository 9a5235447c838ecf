// Hand-made VXLAN frames for the drop tests, built with our codecs; what the daemon makes of
// them is read back from its counters.
import { parseIpv4, parseIpv6 } from '../src/address/ip-text.js';
import { parseMac } from '../src/address/mac-text.js';
import { ENCAP_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_UDP, VXLAN_HEADER_LEN } from '../src/packet/constants.js';
import { writeIpv6Header } from '../src/packet/ipv6.js';
import { writeEthernetHeader } from '../src/packet/ethernet.js';
import { writeIpv4Header } from '../src/packet/ipv4.js';
import { writeUdpHeader } from './udp-header.js';
import { writeVxlanHeader } from '../src/packet/vxlan.js';

export interface FrameSpec {
  vni?: number;
  flags?: number;
  dstMac: string;
  srcMac: string;
  etherType?: number;
  src: string;
  dst: string;
  /** UDP payload bytes of the inner packet. */
  payload?: number;
}

/** VXLAN header + inner Ethernet + inner IPv4/UDP to port 9, as the kernel would send it. */
export function vxlanFrame(f: FrameSpec): Buffer {
  const payload = f.payload ?? 72;
  const ipLen = 20 + 8 + payload;
  const buf = Buffer.alloc(ENCAP_LEN + ipLen, 0x5a);
  writeVxlanHeader(buf, 0, f.vni ?? 1);
  if (f.flags !== undefined) buf[0] = f.flags;
  writeEthernetHeader(buf, VXLAN_HEADER_LEN, parseMac(f.dstMac), parseMac(f.srcMac), f.etherType ?? ETHERTYPE_IPV4);
  writeIpv4Header(buf, ENCAP_LEN, ipLen, 1, 64, IPPROTO_UDP, parseIpv4(f.src), parseIpv4(f.dst), true);
  writeUdpHeader(buf, ENCAP_LEN + 20, 40000, 9, payload);
  return buf;
}

/** VXLAN header + inner Ethernet (IPv6) + `inner`, the raw bytes of an IPv6 packet, true or not. */
export function vxlanFrameV6(f: Pick<FrameSpec, 'dstMac' | 'srcMac'>, inner: Buffer): Buffer {
  const buf = Buffer.alloc(ENCAP_LEN + inner.length);
  writeVxlanHeader(buf, 0, 1);
  writeEthernetHeader(buf, VXLAN_HEADER_LEN, parseMac(f.dstMac), parseMac(f.srcMac), ETHERTYPE_IPV6);
  inner.copy(buf, ENCAP_LEN);
  return buf;
}

/** An IPv6 header claiming `payloadLength` bytes after it, then `rest` (extension headers, payload). */
export function ipv6Packet(src: string, dst: string, nextHeader: number, payloadLength: number, rest: Buffer): Buffer {
  const buf = Buffer.alloc(40 + rest.length);
  writeIpv6Header(buf, 0, payloadLength, nextHeader, 64, parseIpv6(src), parseIpv6(dst));
  rest.copy(buf, 40);
  return buf;
}
