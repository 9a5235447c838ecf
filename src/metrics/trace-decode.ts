// A trace entry made readable: the headers of the captured bytes (VXLAN and inner Ethernet for
// a received datagram, then IP and the transport header) and what the datapath did with it.
// The bytes are whatever arrived, so every read is bounds-checked: a short or malformed capture
// decodes as far as it goes.
import { formatIpv4, formatIpv6 } from '../address/ip-text.js';
import { formatMac } from '../address/mac-text.js';
import { Direction } from '../datapath/counters.js';
import { DROP_REASONS, type DropReason } from '../datapath/drop-reasons.js';
import { ANSWERED, FORWARDED } from '../datapath/packet-batch.js';
import type { TraceEntry } from '../datapath/trace-ring.js';
import { ENCAP_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HEADER_LEN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV6_HEADER_LEN, VXLAN_HEADER_LEN } from '../packet/constants.js';
import { IPV6_DST, IPV6_SRC } from '../packet/ipv6.js';
import { readVxlanFlags, readVxlanVni } from '../packet/vxlan.js';

export interface InnerHeaders {
  version: 4 | 6;
  src: string;
  dst: string;
  protocol: number;
  ttl: number;
  length: number;
  srcPort?: number;
  dstPort?: number;
  tcpFlags?: string;
  icmpType?: number;
  icmpCode?: number;
}

export interface TraceRecord {
  time: string;
  worker: number;
  /** to-peer: read from the TUN and sent toward a node; from-peer: received and handed to the TUN. */
  direction: 'to-peer' | 'from-peer';
  /** answered: an ARP request or neighbour solicitation the switch's proxy answered itself. */
  verdict: 'encapsulated' | 'delivered' | 'answered' | 'dropped';
  reason?: DropReason;
  /** Index of the NetworkPolicy that decided the packet's connection (allowed or denied it), when one did. */
  policy?: number;
  /** Its "namespace/name", when the daemon knows it. */
  policyName?: string;
  peer?: string;
  /** Length of the packet (to-peer) or of the VXLAN payload of the datagram (from-peer). */
  length: number;
  /** A whole TSO packet or run, not cut: the segments it stood for; `length` and the headers are its first segment's. */
  segments?: number;
  outer?: { src: string; flags: number; vni: number; innerSrcMac: string; innerDstMac: string; etherType: number };
  /** Switch mode, to-peer: the Ethernet header of the frame read from the TAP. */
  frame?: { srcMac: string; dstMac: string; etherType: number };
  inner?: InnerHeaders;
}

const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG'];

/**
 * `switching`: the daemon runs in switch mode, where a sent frame is kept from the VXLAN header in
 * front of it (written only if the frame went out) and the frame's own Ethernet header follows.
 */
export function decodeEntry(e: TraceEntry, peerName: (id: number) => string | undefined, switching = false, policyName: (index: number) => string | undefined = () => undefined): TraceRecord {
  const fromPeer = e.direction === Direction.udp;
  const r: TraceRecord = {
    time: new Date(e.time).toISOString(),
    worker: e.worker,
    direction: fromPeer ? 'from-peer' : 'to-peer',
    verdict: e.verdict === FORWARDED ? (fromPeer ? 'delivered' : 'encapsulated') : e.verdict === ANSWERED ? 'answered' : 'dropped',
    length: e.length,
  };
  if (e.verdict >= 0) r.reason = DROP_REASONS[e.verdict];
  if (e.segments > 1) r.segments = e.segments;
  if (e.policy >= 0) {
    r.policy = e.policy;
    const name = policyName(e.policy);
    if (name !== undefined) r.policyName = name;
  }
  const peer = e.peer >= 0 ? peerName(e.peer) : undefined;
  if (peer !== undefined) r.peer = peer;
  const b = e.bytes;
  let ip = 0;
  let version = b.length > 0 ? b[0] >> 4 : 0;
  if (fromPeer) {
    if (b.length < VXLAN_HEADER_LEN) return r;
    const eth = VXLAN_HEADER_LEN;
    const hasEth = b.length >= ENCAP_LEN;
    r.outer = {
      src: formatSource(e.source),
      flags: readVxlanFlags(b, 0),
      vni: readVxlanVni(b, 0),
      innerDstMac: hasEth ? formatMac(b.subarray(eth, eth + 6)) : '',
      innerSrcMac: hasEth ? formatMac(b.subarray(eth + 6, eth + 12)) : '',
      etherType: hasEth ? b.readUInt16BE(eth + 12) : 0,
    };
    if (!hasEth) return r;
    ip = eth + ETH_HEADER_LEN;
    version = r.outer.etherType === ETHERTYPE_IPV4 ? 4 : r.outer.etherType === ETHERTYPE_IPV6 ? 6 : 0;
  } else if (switching) {
    const eth = VXLAN_HEADER_LEN;
    if (b.length < eth + ETH_HEADER_LEN) return r;
    r.frame = { dstMac: formatMac(b.subarray(eth, eth + 6)), srcMac: formatMac(b.subarray(eth + 6, eth + 12)), etherType: b.readUInt16BE(eth + 12) };
    ip = eth + ETH_HEADER_LEN;
    version = r.frame.etherType === ETHERTYPE_IPV4 ? 4 : r.frame.etherType === ETHERTYPE_IPV6 ? 6 : 0;
  }
  const inner = decodeIp(b, ip, version);
  if (inner) r.inner = inner;
  return r;
}

function decodeIp(b: Buffer, at: number, version: number): InnerHeaders | undefined {
  let l4: number;
  let h: InnerHeaders;
  if (version === 4 && b.length >= at + 20) {
    h = {
      version: 4,
      src: formatIpv4(b.readUInt32BE(at + 12)),
      dst: formatIpv4(b.readUInt32BE(at + 16)),
      protocol: b[at + 9],
      ttl: b[at + 8],
      length: b.readUInt16BE(at + 2),
    };
    l4 = at + (b[at] & 0x0f) * 4;
    if (b.readUInt16BE(at + 6) & 0x1fff) return h; // a later fragment has no transport header
  } else if (version === 6 && b.length >= at + IPV6_HEADER_LEN) {
    h = {
      version: 6,
      src: formatIpv6(b, at + IPV6_SRC),
      dst: formatIpv6(b, at + IPV6_DST),
      protocol: b[at + 6],
      ttl: b[at + 7],
      length: IPV6_HEADER_LEN + b.readUInt16BE(at + 4),
    };
    l4 = at + IPV6_HEADER_LEN;
  } else {
    return undefined;
  }
  if ((h.protocol === IPPROTO_TCP || h.protocol === IPPROTO_UDP) && b.length >= l4 + 4) {
    h.srcPort = b.readUInt16BE(l4);
    h.dstPort = b.readUInt16BE(l4 + 2);
    if (h.protocol === IPPROTO_TCP && b.length >= l4 + 14) {
      const flags = b[l4 + 13];
      h.tcpFlags = TCP_FLAGS.filter((_, i) => flags & (1 << i)).join(',');
    }
  } else if ((h.protocol === IPPROTO_ICMP || h.protocol === IPPROTO_ICMPV6) && b.length >= l4 + 2) {
    h.icmpType = b[l4];
    h.icmpCode = b[l4 + 1];
  }
  return h;
}

/** An IPv4 source fills word 0 only; an IPv6 one (never ::/96 on an underlay) sets the others. */
function formatSource(w: Uint32Array): string {
  if ((w[1] | w[2] | w[3]) === 0) return formatIpv4(w[0]);
  const b = Buffer.alloc(16);
  for (let k = 0; k < 4; k++) b.writeUInt32BE(w[k], k * 4);
  return formatIpv6(b, 0);
}
