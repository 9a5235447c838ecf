// The policy stage over hostile packets (random bytes, valid IPv4/IPv6 packets and ICMP errors
// quoting them, corrupted where parsers look), each handed over as still on its way: it never
// throws, reads nothing outside each packet, and passes or counts every one.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { atEnd, fillings, framesOf, surrounded, type Frame } from '../../../test/batch-surroundings.js';
import { hostile, ipPacket, ipv4Packet, ipv6Packet } from '../../../test/packet-arbitraries.js';
import { propertyRuns } from '../../../test/property-runs.js';
import { TestDecider } from '../../../test/test-flow-decider.js';
import { ENCAP_LEN, HEADROOM, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../packet/constants.js';
import { CounterLayout, Direction, ShardCounters } from '../counters.js';
import { Drop, DROP_REASONS } from '../drop-reasons.js';
import { FORWARDED, type PacketBatch } from '../packet-batch.js';
import { allocateConntrack, Conntrack } from './conntrack.js';
import { FLOW_ALLOW, FLOW_DENY_EGRESS, FLOW_DENY_INGRESS } from './flow-decider.js';
import { FlowRun } from './flow-run.js';
import { policyStage, useRunShortcut } from './policy-stage.js';

const BATCH = 8;
const NO_SOURCE = [new Uint32Array(4)];
const RUNS = propertyRuns(2000);

/** An ICMP error from the quoted packet's destination back to its sender, quoting `keep` bytes of it. */
function errorAbout(p: Buffer, keep: number, type: number): Buffer {
  const quote = p.subarray(0, Math.min(keep, p.length));
  if (p.length >= 20 && p[0] >>> 4 === 4) {
    const e = Buffer.alloc(28 + quote.length);
    e[0] = 0x45;
    e.writeUInt16BE(e.length, 2);
    e[9] = IPPROTO_ICMP;
    p.copy(e, 12, 16, 20);
    p.copy(e, 16, 12, 16);
    e[20] = type % 2 === 0 ? 3 : 11;
    quote.copy(e, 28);
    return e;
  }
  if (p.length < 40) return p;
  const e = Buffer.alloc(48 + quote.length);
  e.writeUInt32BE(0x60000000, 0);
  e.writeUInt16BE(8 + quote.length, 4);
  e[6] = IPPROTO_ICMPV6;
  p.copy(e, 8, 24, 40);
  p.copy(e, 24, 8, 24);
  e[40] = 1 + (type % 4);
  quote.copy(e, 48);
  return e;
}

const related = fc.tuple(fc.oneof(ipv4Packet, ipv6Packet), fc.integer({ min: 0, max: 120 }), fc.nat()).map(([p, keep, type]) => errorAbout(p, keep, type));
const packets = hostile(fc.oneof({ weight: 3, arbitrary: fc.oneof(ipv4Packet, ipv6Packet) }, { weight: 1, arbitrary: related }));
const batches = framesOf(packets, NO_SOURCE, BATCH);
const directions = fc.constantFrom(Direction.tun, Direction.udp);

/** A policy that allows some flows and denies others, by the question alone. */
const rule = (q: { protocol: number; dstPort: number; src: string }) => {
  const v = (q.protocol + q.dstPort + q.src.length) % 3;
  return { verdict: v === 0 ? FLOW_ALLOW : v === 1 ? FLOW_DENY_EGRESS : FLOW_DENY_INGRESS, policy: v };
};

/** The table's entries, key and value words, as the stage left them (their protocol states included). */
function entriesOf(conntrack: Conntrack): string[] {
  const key = new Int32Array(10);
  const values = new Int32Array(4);
  const out: string[] = [];
  conntrack.table.readEach(key, values, () => out.push(`${key.join(',')}:${values.join(',')}`));
  return out.sort();
}

/** Everything the stage decides, for a batch placed by `place`, every packet handed over as forwarded. */
function judged(frames: Frame[], direction: number, place: (frames: Frame[]) => PacketBatch) {
  const layout = new CounterLayout(1, 1);
  const block = layout.block(layout.allocate(), 0);
  const counters = new ShardCounters(block, layout);
  counters.now = 1_700_000_000_000;
  const decider = new TestDecider(rule);
  const conntrack = new Conntrack(allocateConntrack(64));
  const b = place(frames);
  const n = frames.length;
  let out = 0;
  for (let i = 0; i < n; i++) {
    if (b.sizes[i] < 0) {
      b.verdicts[i] = Drop.oversize_datagram; // a read too large: dropped before the policy
      continue;
    }
    if (direction === Direction.udp) b.sizes[i] += ENCAP_LEN;
    b.verdicts[i] = FORWARDED;
    b.outOffsets[out] = i * b.slotSize + HEADROOM - (direction === Direction.tun ? ENCAP_LEN : 0);
    b.outLengths[out++] = b.sizes[i];
  }
  b.out6 = 0;
  const kept = policyStage(b, n, out, { conntrack, decider, counters }, direction);
  return {
    kept,
    listed: Array.from(b.outOffsets.subarray(0, kept), (o) => Math.floor(o / b.slotSize)),
    verdicts: Array.from(b.verdicts.subarray(0, n)),
    policies: Array.from(b.policyOf.subarray(0, n)),
    counters: Array.from(block),
    asked: decider.asked,
    table: conntrack.stats(),
    entries: entriesOf(conntrack),
    handed: out,
  };
}

/** Where a TCP or UDP packet's transport header starts (IPv6: after its fixed header; extension headers are left as they are). */
const transportAt = (p: Buffer): number => (p[0] >>> 4 === 4 ? (p[0] & 0x0f) * 4 : 40);

/** The same packet the other way: addresses and ports swapped. */
function reversed(p: Buffer): Buffer {
  const r = Buffer.from(p);
  const [src, width] = p[0] >>> 4 === 4 ? [12, 4] : [8, 16];
  if (p.length < src + 2 * width) return r;
  p.copy(r, src, src + width, src + 2 * width);
  p.copy(r, src + width, src, src + width);
  const t = transportAt(p);
  if (p.length >= t + 4) {
    p.copy(r, t, t + 2, t + 4);
    p.copy(r, t + 2, t, t + 2);
  }
  return r;
}

/** Where the shortcut looks in an IP header: version and IHL, lengths, IPv4 fragment word and protocol, IPv6 next header. */
const IPV4_LOOKS = [0, 2, 3, 6, 7, 9];
const IPV6_LOOKS = [0, 4, 5, 6];

/** A packet of `p`'s flow as a run brings it: a copy, another TCP flags byte or IP header byte the shortcut reads, the other way, corrupted where parsers look. */
function runOf(p: Buffer): fc.Arbitrary<Buffer> {
  const withByte = (at: number, value: number): Buffer => {
    const q = Buffer.from(p);
    if (at < q.length) q[at] = value;
    return q;
  };
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(p) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 255 }).map((flags) => withByte(transportAt(p) + 13, flags)) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...(p[0] >>> 4 === 4 ? IPV4_LOOKS : IPV6_LOOKS)), fc.integer({ min: 0, max: 255 })).map(([at, v]) => withByte(at, v)) },
    { weight: 1, arbitrary: fc.constant(reversed(p)) },
    { weight: 2, arbitrary: hostile(fc.constant(p)) },
  );
}

/** A stream's segment made of `p`: not an IPv4 fragment, no SYN, FIN or RST. */
function segment(p: Buffer): Buffer {
  const q = Buffer.from(p);
  if (q[0] >>> 4 === 4) q.writeUInt16BE(q.readUInt16BE(6) & 0x4000, 6);
  const flags = transportAt(q) + 13;
  if ((q[0] >>> 4 === 4 ? q[9] : q[6]) === IPPROTO_TCP && flags < q.length) q[flags] &= ~0x07;
  return q;
}

/** TCP and UDP packets, the ones a run is made of; mostly as a stream's segments. */
const streamPacket = fc
  .tuple(
    ipPacket.filter((p) => {
      const protocol = p[0] >>> 4 === 4 ? p[9] : p[6];
      return protocol === IPPROTO_TCP || protocol === IPPROTO_UDP;
    }),
    fc.boolean(),
  )
  .map(([p, asSegment]) => (asSegment ? segment(p) : p));

/** Batches of runs of two flows, mixed with other packets; some reads shorter than the packet they hold. */
const runBatches = fc.tuple(streamPacket, streamPacket).chain(([p, q]) =>
  fc.array(
    fc.record({
      bytes: fc.oneof({ weight: 4, arbitrary: runOf(p) }, { weight: 2, arbitrary: runOf(q) }, { weight: 1, arbitrary: packets }),
      short: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 60 }) }),
    }).map(({ bytes, short }): Frame => ({ bytes, size: Math.max(0, bytes.length - short), addr: NO_SOURCE[0] })),
    { minLength: 1, maxLength: 16 },
  ),
);

const POLICY_DROPS = [Drop.policy_denied_egress, Drop.policy_denied_ingress, Drop.policy_unrelated, Drop.policy_untrackable];

describe('the policy stage, property-based', () => {
  it('decides the same whatever surrounds the packets (no read outside them)', () => {
    fc.assert(
      fc.property(batches, directions, fillings, (frames, direction, [a, b]) => {
        const x = judged(frames, direction, (f) => surrounded(f, HEADROOM, a));
        const y = judged(frames, direction, (f) => surrounded(f, HEADROOM, b, true));
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('decides, counts, asks and stores the same with the run shortcut as with every packet parsed', () => {
    const continues = vi.spyOn(FlowRun.prototype, 'continues');
    let shortcuts = 0;
    try {
      fc.assert(
        fc.property(runBatches, directions, fc.integer(), (frames, direction, seed) => {
          useRunShortcut(false);
          const parsed = judged(frames, direction, (f) => surrounded(f, HEADROOM, seed));
          useRunShortcut(true);
          continues.mockClear();
          const shortcut = judged(frames, direction, (f) => surrounded(f, HEADROOM, seed));
          shortcuts += continues.mock.results.filter((r) => r.value === true).length;
          expect(shortcut).toEqual(parsed);
        }),
        { numRuns: RUNS },
      );
    } finally {
      useRunShortcut(true);
      continues.mockRestore();
    }
    // The property compared something: runs did take the shortcut.
    expect(shortcuts).toBeGreaterThan(RUNS / 2);
  });

  it('decides the same for a packet at the very end of its buffer', () => {
    fc.assert(
      fc.property(batches, directions, fc.integer(), (frames, direction, seed) => {
        const frame = [frames[0]];
        const x = judged(frame, direction, (f) => atEnd(f[0], HEADROOM, seed));
        const y = judged(frame, direction, (f) => surrounded(f, HEADROOM, seed));
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('passes or counts every packet, and lists exactly the ones it passes', () => {
    fc.assert(
      fc.property(batches, directions, fc.integer(), (frames, direction, seed) => {
        const r = judged(frames, direction, (f) => surrounded(f, HEADROOM, seed));
        const handed = frames.map((f, i) => i).filter((i) => frames[i].size >= 0);
        const passed = handed.filter((i) => r.verdicts[i] === FORWARDED);
        expect(r.listed).toEqual(passed);
        for (const i of handed) if (r.verdicts[i] !== FORWARDED) expect(POLICY_DROPS).toContain(r.verdicts[i]);
        const perReason = DROP_REASONS.map((_, k) => handed.filter((i) => r.verdicts[i] === k).length);
        expect(perReason).toEqual(DROP_REASONS.map((_, k) => r.counters[k]));
        expect(r.asked.length).toBeLessThanOrEqual(handed.length);
        expect(r.table.entries).toBeLessThanOrEqual(r.table.max);
      }),
      { numRuns: RUNS },
    );
  });
});
