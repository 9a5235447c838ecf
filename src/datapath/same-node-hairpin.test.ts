import { describe, expect, it } from 'vitest';
import { ipv4, ipv6, TCP, tcp, TCP_ACK, TCP_SYN } from '../../test/flow-packets.js';
import { A, worldOfA } from '../../test/stage-worlds.js';
import { TestDecider } from '../../test/test-flow-decider.js';
import { HEADROOM } from '../packet/constants.js';
import { parseCidr } from '../subnets/cidr.js';
import { Direction } from './counters.js';
import { Drop } from './drop-reasons.js';
import { encapsulate } from './encapsulate.js';
import { FORWARDED, PacketBatch } from './packet-batch.js';
import { allocateConntrack, Conntrack } from './policy/conntrack.js';
import { FLOW_ALLOW, FLOW_DENY_INGRESS } from './policy/flow-decider.js';
import { policyStage } from './policy/policy-stage.js';
import { ownPodsOf, sameOwnPods, SameNodeHairpin } from './same-node-hairpin.js';

const SLOT = 2048;
// A's pods are 10.244.1.0/24 and fd00:10:244:1::/64 (test/stage-worlds.ts).
const OWN = { v4: 0x0af40100, v4Len: 24, v6: Uint8Array.from([0xfd, 0, 0, 0x10, 2, 0x44, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), v6Len: 64 };

function batchOf(packets: Buffer[]): PacketBatch {
  const b = new PacketBatch(8, SLOT);
  packets.forEach((p, i) => {
    p.copy(b.slab, i * SLOT + HEADROOM);
    b.sizes[i] = p.length;
  });
  return b;
}

describe('same-node hairpin', () => {
  expect(A.podV4).toBe('10.244.1.0/24');

  it('takes packets for our own pods, in place, and leaves the rest to the routes', () => {
    const packets = [
      ipv4('10.244.1.5', '10.244.1.6', TCP, tcp(40000, 80, TCP_SYN)), // ours → ours
      ipv4('10.244.1.5', '10.244.2.7', TCP, tcp(40000, 80, TCP_SYN)), // ours → B's pod
      ipv6('fd00:10:244:1::5', 'fd00:10:244:1::6', TCP, tcp(40000, 80, TCP_SYN)), // ours → ours
      ipv4('10.244.1.5', '10.9.9.9', TCP, tcp(40000, 80, TCP_SYN)), // no route
    ];
    const w = { ...worldOfA(8), hairpin: new SameNodeHairpin(8, OWN) };
    const b = batchOf(packets);
    const out = encapsulate(b, packets.length, w);
    expect(out).toBe(1);
    expect(Array.from(b.verdicts.subarray(0, 4))).toEqual([FORWARDED, FORWARDED, FORWARDED, Drop.no_route]);
    expect(w.hairpin.count).toBe(2);
    expect(Array.from(w.hairpin.offsets.subarray(0, 2))).toEqual([HEADROOM, 2 * SLOT + HEADROOM]);
    expect(Array.from(w.hairpin.lengths.subarray(0, 2))).toEqual([packets[0].length, packets[2].length]);
    expect(b.slab.subarray(HEADROOM, HEADROOM + packets[0].length).equals(packets[0])).toBe(true); // untouched
  });

  it('without it, packets for our own pods have no route', () => {
    const b = batchOf([ipv4('10.244.1.5', '10.244.1.6', TCP, tcp(40000, 80, TCP_SYN))]);
    expect(encapsulate(b, 1, worldOfA(8))).toBe(0);
    expect(b.verdicts[0]).toBe(Drop.no_route);
  });

  it('adopts new pod CIDRs: packets for the new ones are taken, for the old ones no longer', () => {
    expect(ownPodsOf(parseCidr(A.podV4), parseCidr(A.podV6))).toEqual(OWN);
    const moved = ownPodsOf(parseCidr('10.244.9.0/24'), parseCidr('fd00:10:244:9::/64'));
    expect(sameOwnPods(OWN, ownPodsOf(parseCidr(A.podV4), parseCidr(A.podV6)))).toBe(true);
    expect(sameOwnPods(OWN, moved)).toBe(false);
    expect(sameOwnPods(moved, ownPodsOf(parseCidr('10.244.9.0/24'), undefined))).toBe(false);
    const packets = [
      ipv4('10.244.9.5', '10.244.9.6', TCP, tcp(40000, 80, TCP_SYN)), // new → new
      ipv4('10.244.1.5', '10.244.1.6', TCP, tcp(40000, 80, TCP_SYN)), // old → old
      ipv6('fd00:10:244:9::5', 'fd00:10:244:9::6', TCP, tcp(40000, 80, TCP_SYN)),
      ipv6('fd00:10:244:1::5', 'fd00:10:244:1::6', TCP, tcp(40000, 80, TCP_SYN)),
    ];
    const hairpin = new SameNodeHairpin(8, OWN);
    const verdicts = () => {
      const b = batchOf(packets);
      hairpin.count = 0;
      encapsulate(b, packets.length, { ...worldOfA(8), hairpin });
      return Array.from(b.verdicts.subarray(0, packets.length));
    };
    expect(verdicts()).toEqual([Drop.no_route, FORWARDED, Drop.no_route, FORWARDED]);
    hairpin.adopt(moved);
    expect(verdicts()).toEqual([FORWARDED, Drop.no_route, FORWARDED, Drop.no_route]);
    expect(Array.from(hairpin.offsets.subarray(0, hairpin.count))).toEqual([HEADROOM, 2 * SLOT + HEADROOM]);
    hairpin.adopt(ownPodsOf(parseCidr('10.244.9.0/24'), undefined)); // IPv6 pods gone
    expect(verdicts()).toEqual([FORWARDED, Drop.no_route, Drop.no_route, Drop.no_route]);
  });

  it('keeps only what the policy stage lets pass; the reply of an allowed connection passes too', () => {
    const w = worldOfA(8);
    const hairpin = new SameNodeHairpin(8, OWN);
    const decider = new TestDecider((q) => ({ verdict: q.dstPort === 80 ? FLOW_ALLOW : FLOW_DENY_INGRESS, policy: 0 }));
    const policy = { conntrack: new Conntrack(allocateConntrack(64)), decider, counters: w.counters };
    const run = (packets: Buffer[]) => {
      const b = batchOf(packets);
      hairpin.count = 0;
      const out = encapsulate(b, packets.length, { ...w, hairpin });
      policyStage(b, packets.length, out, policy, Direction.tun);
      hairpin.keepForwarded(b);
      return Array.from(hairpin.offsets.subarray(0, hairpin.count), (o) => Math.floor(o / SLOT));
    };
    expect(run([ipv4('10.244.1.5', '10.244.1.6', TCP, tcp(40000, 80, TCP_SYN)), ipv4('10.244.1.5', '10.244.1.6', TCP, tcp(40001, 81, TCP_SYN))])).toEqual([0]);
    expect(run([ipv4('10.244.1.6', '10.244.1.5', TCP, tcp(80, 40000, TCP_SYN | TCP_ACK))])).toEqual([0]);
    expect(decider.asked).toHaveLength(2); // the reply was found in the connection table
  });
});
