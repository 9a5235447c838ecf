// NetworkPolicy on switch frames over hostile input (random bytes, and Ethernet frames with IPv4,
// IPv6, ND and ARP, untagged or with one 802.1Q tag, corrupted where parsers look), both ways:
// it never throws, reads nothing outside each frame, counts every frame it drops, and changes
// nothing for a frame that carries no IP packet, compared with the same batch without policy.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atEnd, framesOf, fillings, outputSpan, surrounded, type Frame } from '../../../test/batch-surroundings.js';
import { ethernetFrame, hostile, vxlanDatagram } from '../../../test/packet-arbitraries.js';
import { propertyRuns } from '../../../test/property-runs.js';
import { addressWords, B, switchWorld } from '../../../test/stage-worlds.js';
import { TestDecider } from '../../../test/test-flow-decider.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, HEADROOM, VXLAN_HEADER_LEN } from '../../packet/constants.js';
import { Drop } from '../drop-reasons.js';
import type { PacketBatch } from '../packet-batch.js';
import { allocateConntrack, Conntrack } from '../policy/conntrack.js';
import { FLOW_ALLOW, FLOW_DENY_EGRESS, FLOW_DENY_INGRESS } from '../policy/flow-decider.js';
import { ETHERTYPE_VLAN, FramePolicy } from './frame-policy.js';
import type { SendList } from './send-list.js';
import { forwardFrames } from './switch-egress.js';
import { acceptFrames, RX_OFFSET_L2 } from './switch-ingress.js';

const BATCH = 8;
const RUNS = propertyRuns(500);
const POLICY_DROPS = [Drop.policy_denied_egress, Drop.policy_denied_ingress, Drop.policy_unrelated, Drop.policy_untrackable];

/** The frame with one 802.1Q tag (VLAN 5) after its MACs. */
const tag = (f: Buffer): Buffer => (f.length < 12 ? f : Buffer.concat([f.subarray(0, 12), Buffer.from([ETHERTYPE_VLAN >>> 8, ETHERTYPE_VLAN & 0xff, 0, 5]), f.subarray(12)]));
const frames = fc.oneof({ weight: 3, arbitrary: ethernetFrame }, { weight: 1, arbitrary: ethernetFrame.map(tag) });
const fromTap = framesOf(hostile(frames), [new Uint32Array(4)], BATCH);
const fromPeer = framesOf(hostile(vxlanDatagram(frames)), [addressWords(B.underlayV4!)], BATCH);
const ways = fc.oneof(fromTap.map((f) => ({ tx: true, frames: f })), fromPeer.map((f) => ({ tx: false, frames: f })));

/** A policy that allows some flows and denies others, by the question alone. */
const rule = (q: { protocol: number; dstPort: number; dst: string }) => {
  const v = (q.protocol + q.dstPort + q.dst.length) % 3;
  return { verdict: v === 0 ? FLOW_ALLOW : v === 1 ? FLOW_DENY_EGRESS : FLOW_DENY_INGRESS, policy: v };
};

function listed(b: PacketBatch, list: SendList): string[] {
  return Array.from({ length: list.count }, (_, k) => outputSpan(b, list.offsets[k], list.lengths[k]));
}

/** Everything the switch decides for a batch placed by `place`, with NetworkPolicy or without. */
function switched(tx: boolean, fs: Frame[], place: (fs: Frame[], at: number) => PacketBatch, withPolicy: boolean) {
  const b = place(fs, tx ? HEADROOM : RX_OFFSET_L2);
  const w = switchWorld(BATCH, b.slab);
  const decider = new TestDecider(rule);
  if (withPolicy) w.egress.policy = w.ingress.policy = new FramePolicy(BATCH, { conntrack: new Conntrack(allocateConntrack(64)), decider, counters: w.counters });
  const n = fs.length;
  const out = tx ? (forwardFrames(b, n, w.egress), 0) : acceptFrames(b, n, w.ingress, 4);
  return {
    verdicts: Array.from(b.verdicts.subarray(0, n)),
    counters: Array.from(w.block),
    sent: [...listed(b, w.send4), ...listed(b, w.send6)],
    written: Array.from({ length: out }, (_, k) => outputSpan(b, b.outOffsets[k], b.outLengths[k])),
    policyOf: Array.from(b.policyOf.subarray(0, n)),
    asked: decider.asked,
  };
}

/** Whether the frame's EtherType, after one tag, is IPv4's or IPv6's. */
function carriesIp(tx: boolean, f: Frame): boolean {
  const frame = tx ? f.bytes : f.bytes.subarray(VXLAN_HEADER_LEN);
  if (frame.length < 14) return false;
  let type = frame.readUInt16BE(12);
  if (type === ETHERTYPE_VLAN && frame.length >= 18) type = frame.readUInt16BE(16);
  return type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6;
}

describe('NetworkPolicy on switch frames, property-based', () => {
  it('decides the same whatever surrounds the frames (no read outside them)', () => {
    fc.assert(
      fc.property(ways, fillings, ({ tx, frames: fs }, [a, b]) => {
        const x = switched(tx, fs, (f, at) => surrounded(f, at, a), true);
        const y = switched(tx, fs, (f, at) => surrounded(f, at, b, true), true);
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('decides the same for a frame at the very end of its buffer', () => {
    fc.assert(
      fc.property(ways, fc.integer(), ({ tx, frames: fs }, seed) => {
        const one = [fs[0]];
        const x = switched(tx, one, (f, at) => atEnd(f[0], at, seed), true);
        const y = switched(tx, one, (f, at) => surrounded(f, at, seed), true);
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('only drops what it counts, and leaves every frame that carries no IP packet as it was without policy', () => {
    fc.assert(
      fc.property(ways, fc.integer(), ({ tx, frames: fs }, seed) => {
        const place = (f: Frame[], at: number) => surrounded(f, at, seed);
        const judged = switched(tx, fs, place, true);
        const free = switched(tx, fs, place, false);
        fs.forEach((f, i) => {
          if (!carriesIp(tx, f)) expect(judged.verdicts[i]).toBe(free.verdicts[i]);
          else if (judged.verdicts[i] !== free.verdicts[i]) expect(POLICY_DROPS).toContain(judged.verdicts[i]);
        });
        for (const reason of POLICY_DROPS) expect(judged.counters[reason]).toBe(judged.verdicts.filter((v) => v === reason).length);
        expect(judged.asked.length).toBeLessThanOrEqual(fs.filter((f) => carriesIp(tx, f)).length);
        expect(judged.sent.length + judged.written.length).toBeLessThanOrEqual(free.sent.length + free.written.length);
      }),
      { numRuns: RUNS },
    );
  });
});
