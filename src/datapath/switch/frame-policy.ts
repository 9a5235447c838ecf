// NetworkPolicy for Ethernet frames (switch mode): the policy stage judges the IP packet each
// frame carries, at its L3 offset (after one 802.1Q tag, if any). What carries no pod flow passes
// unjudged: ARP and every other EtherType, and the IPv6 link's own control messages, neighbour
// discovery (ICMPv6 133–137, RFC 4861) and multicast listener discovery (130–132, 143; RFC 2710,
// RFC 3810), which bridges that snoop multicast need for the solicited-node groups ND uses. Every
// other IPv4/IPv6 packet is judged on its IP header, whatever its destination MAC: multicast and
// broadcast too (their destination is no pod, so the sender's egress rules decide).
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HEADER_LEN, HEADROOM, IPPROTO_ICMPV6, IPV6_HEADER_LEN, VLAN_TAG_LEN } from '../../packet/constants.js';
import { readEtherType } from '../../packet/ethernet.js';
import { ipv6UpperLayer } from '../../packet/ipv6.js';
import { FORWARDED, type PacketBatch } from '../packet-batch.js';
import { policyStage, type PacketSpans, type PolicyContext } from '../policy/policy-stage.js';

/** IEEE 802.1Q: the tag's EtherType; the frame's own follows the 2-byte tag control field. */
export const ETHERTYPE_VLAN = 0x8100;

const chain = new Int32Array(3);

export class FramePolicy {
  private readonly spans: PacketSpans;

  constructor(
    capacity: number,
    /** Its decider is replaced when a new policy arrives. */
    readonly ctx: PolicyContext,
  ) {
    this.spans = { offsets: new Int32Array(capacity), lengths: new Int32Array(capacity) };
  }

  /**
   * Judges the frames of `b` still FORWARDED (n read, each at HEADROOM, `before` bytes of
   * VXLAN header counted in its size), `out` of them in b's output list; returns its new length.
   */
  apply(b: PacketBatch, n: number, out: number, direction: number, before: number): number {
    locatePackets(b, n, before, this.spans);
    return policyStage(b, n, out, this.ctx, direction, this.spans);
  }
}

/** Fills `spans` with where each FORWARDED frame's IP packet lies; -1 for a frame that passes unjudged. */
export function locatePackets(b: PacketBatch, n: number, before: number, spans: PacketSpans): void {
  const buf = b.slab;
  for (let i = 0; i < n; i++) {
    spans.offsets[i] = -1;
    if (b.verdicts[i] !== FORWARDED) continue;
    const frame = i * b.slotSize + HEADROOM;
    const end = frame + b.sizes[i] - before;
    let l3 = frame + ETH_HEADER_LEN;
    let type = readEtherType(buf, frame);
    if (type === ETHERTYPE_VLAN) {
      if (end < frame + ETH_HEADER_LEN + VLAN_TAG_LEN) continue;
      type = readEtherType(buf, frame + VLAN_TAG_LEN);
      l3 += VLAN_TAG_LEN;
    }
    if (type !== ETHERTYPE_IPV4 && type !== ETHERTYPE_IPV6) continue;
    if (type === ETHERTYPE_IPV6 && isLinkControl(buf, l3, end)) continue;
    spans.offsets[i] = l3;
    spans.lengths[i] = Math.max(0, end - l3);
  }
}

/** Whether the IPv6 packet in buf[off .. end] is an unfragmented ND or MLD message. */
function isLinkControl(buf: Buffer, off: number, end: number): boolean {
  if (end - off < IPV6_HEADER_LEN || buf[off] >>> 4 !== 6) return false;
  const last = Math.min(end, off + IPV6_HEADER_LEN + ((buf[off + 4] << 8) | buf[off + 5]));
  const at = ipv6UpperLayer(buf, off, last, chain);
  // A fragment's first bytes are no ICMPv6 type but for the first one; RFC 6980 forbids fragmented ND anyway.
  if (at < 0 || at >= last || chain[0] !== IPPROTO_ICMPV6 || chain[1] !== 0 || chain[2] !== 0) return false;
  const type = buf[at];
  return (type >= 130 && type <= 137) || type === 143;
}
