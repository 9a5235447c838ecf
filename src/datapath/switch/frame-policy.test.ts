// NetworkPolicy on switch mode's frames, both ways: the policy reads the IP packet at the frame's
// L3 offset (one 802.1Q tag or none), lets what carries no pod flow pass unasked, and takes a
// denied frame out of what is sent to peers or written to the TAP, counted.
import { describe, expect, it } from 'vitest';
import { echo, fragmentHeader, ICMPV6, ipv4, ipv6, TCP, tcp, TCP_ACK, TCP_SYN, UDP, udp } from '../../../test/flow-packets.js';
import { addressWords, B, STATION_A, STATION_B, STATION_B_V4, STATION_B_V6, switchWorld, type SwitchWorld } from '../../../test/stage-worlds.js';
import { TestDecider, type Rule } from '../../../test/test-flow-decider.js';
import { parseMac } from '../../address/mac-text.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, HEADROOM, VXLAN_HEADER_LEN } from '../../packet/constants.js';
import { writeVxlanHeader } from '../../packet/vxlan.js';
import { Drop } from '../drop-reasons.js';
import { FORWARDED, PacketBatch } from '../packet-batch.js';
import { allocateConntrack, Conntrack } from '../policy/conntrack.js';
import { FLOW_ALLOW, FLOW_DENY_EGRESS, FLOW_DENY_INGRESS } from '../policy/flow-decider.js';
import { ETHERTYPE_VLAN, FramePolicy } from './frame-policy.js';
import { forwardFrames } from './switch-egress.js';
import { acceptFrames, RX_OFFSET_L2 } from './switch-ingress.js';

const SLOT = 2048;
const BATCH = 16;
const POD_A = '10.244.1.5';
const POD_A_V6 = 'fd00:10:244:1::5';
const BROADCAST = parseMac('ff:ff:ff:ff:ff:ff');
const ALL_NODES_MAC = parseMac('33:33:00:00:00:01');
const denyAll: Rule = () => ({ verdict: FLOW_DENY_EGRESS, policy: 0 });

/** An Ethernet frame from STATION_A (to `dst`), with one 802.1Q tag (VLAN 5) when `tagged`. */
function frame(etherType: number, body: Buffer, dst: Uint8Array = STATION_B, tagged = false): Buffer {
  const tag = tagged ? Buffer.from([ETHERTYPE_VLAN >>> 8, ETHERTYPE_VLAN & 0xff, 0x00, 0x05]) : Buffer.alloc(0);
  const type = Buffer.alloc(2);
  type.writeUInt16BE(etherType);
  return Buffer.concat([dst, STATION_A, tag, type, body]);
}

/** ICMPv6 message `type` (its body zeros), after a hop-by-hop header with the router alert (RFC 2711) for MLD. */
function icmpv6(type: number, src: string, dst: string, hopByHop = false): Buffer {
  const body = Buffer.alloc(24);
  body[0] = type;
  return ipv6(src, dst, ICMPV6, body, hopByHop ? [[0, Buffer.from([0, 0, 5, 2, 0, 0, 1, 0])]] : []);
}

class World {
  readonly b = new PacketBatch(BATCH, SLOT);
  readonly w: SwitchWorld;
  readonly decider: TestDecider;

  constructor(rule: Rule) {
    this.w = switchWorld(BATCH, this.b.slab);
    this.w.egress.proxy = this.w.ingress.proxy = undefined; // every ARP and ND frame goes on
    this.decider = new TestDecider(rule);
    const policy = new FramePolicy(BATCH, { conntrack: new Conntrack(allocateConntrack(256)), decider: this.decider, counters: this.w.counters });
    this.w.egress.policy = this.w.ingress.policy = policy;
  }

  /** Frames read from the TAP: their verdicts, and how many datagrams wait to be sent. */
  fromTap(...frames: Buffer[]): { verdicts: number[]; sent: number } {
    const { b, w } = this;
    w.send4.count = w.send6.count = 0;
    frames.forEach((f, i) => {
      f.copy(b.slab, i * SLOT + HEADROOM);
      b.sizes[i] = f.length;
    });
    forwardFrames(b, frames.length, w.egress);
    return { verdicts: Array.from(b.verdicts.subarray(0, frames.length)), sent: w.send4.count + w.send6.count };
  }

  /** Frames received from peer B: their verdicts, and the slots written to the TAP. */
  fromB(...frames: Buffer[]): { verdicts: number[]; written: number[] } {
    const { b, w } = this;
    frames.forEach((f, i) => {
      writeVxlanHeader(b.slab, i * SLOT + RX_OFFSET_L2, 1);
      f.copy(b.slab, i * SLOT + HEADROOM);
      b.sizes[i] = f.length + VXLAN_HEADER_LEN;
      b.addrs.set(addressWords(B.underlayV4!), i * 4);
    });
    const out = acceptFrames(b, frames.length, w.ingress, 4);
    return { verdicts: Array.from(b.verdicts.subarray(0, frames.length)), written: Array.from(b.outOffsets.subarray(0, out), (o) => Math.floor(o / SLOT)) };
  }

  dropped(reason: number): number {
    return this.w.block[reason];
  }
}

describe('NetworkPolicy on switch frames', () => {
  it('judges the IP packet after the Ethernet header or one VLAN tag, and sends no denied frame', () => {
    const world = new World((q) => ({ verdict: q.dstPort === 81 ? FLOW_DENY_EGRESS : FLOW_ALLOW, policy: 3 }));
    const r = world.fromTap(
      frame(ETHERTYPE_IPV4, ipv4(POD_A, STATION_B_V4, TCP, tcp(40000, 80, TCP_SYN))),
      frame(ETHERTYPE_IPV4, ipv4(POD_A, STATION_B_V4, TCP, tcp(40001, 81, TCP_SYN))),
      frame(ETHERTYPE_IPV4, ipv4(POD_A, STATION_B_V4, TCP, tcp(40002, 81, TCP_SYN)), STATION_B, true),
      frame(ETHERTYPE_IPV6, ipv6(POD_A_V6, STATION_B_V6, UDP, udp(40003, 81)), STATION_B, true),
    );
    expect(r.verdicts).toEqual([FORWARDED, Drop.policy_denied_egress, Drop.policy_denied_egress, Drop.policy_denied_egress]);
    expect(r.sent).toBe(1);
    expect(world.dropped(Drop.policy_denied_egress)).toBe(3);
    expect(world.decider.asked).toEqual([
      { src: POD_A, dst: STATION_B_V4, protocol: TCP, dstPort: 80 },
      { src: POD_A, dst: STATION_B_V4, protocol: TCP, dstPort: 81 },
      { src: POD_A, dst: STATION_B_V4, protocol: TCP, dstPort: 81 },
      { src: POD_A_V6, dst: STATION_B_V6, protocol: UDP, dstPort: 81 },
    ]);
    expect(Array.from(world.b.policyOf.subarray(0, 4))).toEqual([4, 4, 4, 4]); // the trace's deciding policy, + 1
  });

  it('lets ARP, neighbour discovery, MLD and other EtherTypes pass unasked under a deny of everything, both ways', () => {
    const world = new World(denyAll);
    const arp = Buffer.alloc(28);
    const frames = [
      frame(ETHERTYPE_ARP, arp, BROADCAST),
      frame(ETHERTYPE_ARP, arp, BROADCAST, true),
      ...[133, 134, 135, 136, 137].map((type) => frame(ETHERTYPE_IPV6, icmpv6(type, 'fe80::5', 'ff02::1'), ALL_NODES_MAC)),
      frame(ETHERTYPE_IPV6, icmpv6(135, POD_A_V6, 'ff02::1:ff00:5'), ALL_NODES_MAC, true),
      frame(ETHERTYPE_IPV6, icmpv6(143, 'fe80::5', 'ff02::16', true), parseMac('33:33:00:00:00:16')),
      frame(ETHERTYPE_IPV6, icmpv6(131, 'fe80::5', 'ff02::1:ff00:5', true), ALL_NODES_MAC),
      frame(0x88cc, Buffer.alloc(46), parseMac('01:80:c2:00:00:0e')),
    ];
    expect(world.fromTap(...frames).verdicts).toEqual(frames.map(() => FORWARDED));
    const back = world.fromB(...frames.map((f) => Buffer.concat([f.subarray(0, 6), STATION_B, f.subarray(12)])));
    expect(back.verdicts).toEqual(frames.map(() => FORWARDED));
    expect(back.written).toEqual(frames.map((_, i) => i));
    expect(world.decider.asked).toEqual([]);
  });

  it('judges ICMPv6 that is no ND or MLD, and a later fragment whose first byte looks like ND', () => {
    const world = new World(denyAll);
    const r = world.fromTap(
      frame(ETHERTYPE_IPV6, ipv6(POD_A_V6, STATION_B_V6, ICMPV6, echo(128, 7))),
      frame(ETHERTYPE_IPV6, ipv6(POD_A_V6, STATION_B_V6, ICMPV6, Buffer.from([135, 0, 0, 0, 0, 0, 0, 0]), [fragmentHeader({ id: 9, offset: 64, more: false })])),
    );
    expect(r.verdicts).toEqual([Drop.policy_denied_egress, Drop.policy_unrelated]);
    expect(r.sent).toBe(0);
  });

  it('judges IP broadcast and multicast by their IP header: the sender’s egress rules decide', () => {
    const world = new World((q) => ({ verdict: q.dst === '10.244.255.255' ? FLOW_DENY_EGRESS : FLOW_ALLOW, policy: 1 }));
    const r = world.fromTap(
      frame(ETHERTYPE_IPV4, ipv4(POD_A, '10.244.255.255', UDP, udp(5000, 5000)), BROADCAST),
      frame(ETHERTYPE_IPV4, ipv4(POD_A, '224.0.0.251', UDP, udp(5353, 5353)), parseMac('01:00:5e:00:00:fb')),
      // A unicast IP packet sent to the broadcast MAC is judged for its IP destination all the same.
      frame(ETHERTYPE_IPV4, ipv4(POD_A, STATION_B_V4, UDP, udp(5000, 9)), BROADCAST),
    );
    expect(r.verdicts).toEqual([Drop.policy_denied_egress, FORWARDED, FORWARDED]);
    expect(world.decider.asked.map((q) => q.dst)).toEqual(['10.244.255.255', '224.0.0.251', STATION_B_V4]);
  });

  it('passes the replies of a connection allowed toward a peer, and takes a denied frame from a peer out of what goes to the TAP', () => {
    const world = new World((q) => ({ verdict: q.src === STATION_B_V4 ? FLOW_DENY_INGRESS : FLOW_ALLOW, policy: 2 }));
    expect(world.fromTap(frame(ETHERTYPE_IPV4, ipv4(POD_A, STATION_B_V4, TCP, tcp(40000, 80, TCP_SYN)))).verdicts).toEqual([FORWARDED]);
    const toA = (body: Buffer) => Buffer.concat([STATION_A, STATION_B, Buffer.from([0x08, 0x00]), body]);
    const r = world.fromB(
      toA(ipv4(STATION_B_V4, POD_A, TCP, tcp(22, 40100, TCP_SYN))),
      toA(ipv4(STATION_B_V4, POD_A, TCP, tcp(80, 40000, TCP_SYN | TCP_ACK))),
      toA(Buffer.from([0x45, 0, 0, 10])), // no whole IPv4 header: no flow to name
    );
    expect(r.verdicts).toEqual([Drop.policy_denied_ingress, FORWARDED, Drop.policy_untrackable]);
    expect(r.written).toEqual([1]);
    expect(world.dropped(Drop.policy_denied_ingress)).toBe(1);
    expect(world.decider.asked).toHaveLength(2); // the reply was not asked about
  });

  it('takes a new policy: a flow allowed before is denied under it', () => {
    const world = new World(() => ({ verdict: FLOW_ALLOW, policy: -1 }));
    const syn = frame(ETHERTYPE_IPV4, ipv4(POD_A, STATION_B_V4, TCP, tcp(40000, 80, TCP_SYN)));
    const ack = frame(ETHERTYPE_IPV4, ipv4(POD_A, STATION_B_V4, TCP, tcp(40000, 80, TCP_ACK, 10)));
    expect(world.fromTap(syn).verdicts).toEqual([FORWARDED]);
    const next = new TestDecider(denyAll);
    next.gen = world.decider.gen + 1;
    world.w.egress.policy!.ctx.decider = next;
    expect(world.fromTap(ack).verdicts).toEqual([Drop.policy_denied_egress]);
  });
});
