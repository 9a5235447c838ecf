// forwardFrames (TAP → peers) and the ARP/ND proxy over hostile frames (random bytes, and valid
// Ethernet frames with IPv4, IPv6, ND and ARP corrupted where parsers look): it never throws,
// reads nothing outside each frame, and sends, answers or counts every one; each datagram it
// queues and each answer it writes is well-formed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atEnd, frameSpan, framesOf, fillings, outputSpan, surrounded, type Frame } from '../../../test/batch-surroundings.js';
import { ethernetFrame, hostile } from '../../../test/packet-arbitraries.js';
import { propertyRuns } from '../../../test/property-runs.js';
import { B, C, MAX_INNER_V4, NOW, STATION_B, STATION_B_V4, STATION_B_V6, addressWords, switchWorld, type SwitchWorld } from '../../../test/stage-worlds.js';
import { internetChecksum, pseudoHeaderSumV6 } from '../../packet/checksum.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV6, ETH_HEADER_LEN, HEADROOM, IPPROTO_ICMPV6, VXLAN_HEADER_LEN } from '../../packet/constants.js';
import { parseIpv4, parseIpv6 } from '../../address/ip-text.js';
import { EventSlot } from '../counters.js';
import { DROP_REASONS } from '../drop-reasons.js';
import { ANSWERED, FORWARDED, type PacketBatch } from '../packet-batch.js';
import type { SendList } from './send-list.js';
import { forwardFrames } from './switch-egress.js';

const BATCH = 8;
const NO_SOURCE = [new Uint32Array(4)];
const batches = framesOf(hostile(ethernetFrame), NO_SOURCE, BATCH);
const FROM = HEADROOM - VXLAN_HEADER_LEN;

function listed(b: PacketBatch, list: SendList): string[] {
  return Array.from({ length: list.count }, (_, k) => `${list.addrs.subarray(k * 4, k * 4 + 4).join('.')} ${outputSpan(b, list.offsets[k], list.lengths[k])}`);
}

/** Everything forwardFrames decides and writes, for a batch placed by `place`. */
function forwarded(frames: Frame[], place: (frames: Frame[]) => PacketBatch, maxFrameV6?: number) {
  const b = place(frames);
  const w = switchWorld(BATCH, b.slab, maxFrameV6);
  forwardFrames(b, frames.length, w.egress);
  const n = frames.length;
  const proxy = w.proxy;
  return {
    verdicts: Array.from(b.verdicts.subarray(0, n)),
    peers: Array.from(b.peerOf.subarray(0, n)),
    counters: Array.from(w.block),
    send4: listed(b, w.send4),
    send6: listed(b, w.send6),
    answers: Array.from({ length: proxy.count }, (_, k) => proxy.slab.toString('hex', proxy.offsets[k], proxy.offsets[k] + proxy.lengths[k])),
    fdb: w.fdb.entries(NOW),
    frames: frames.map((f, i) => frameSpan(b, i, HEADROOM, HEADROOM, f)),
    b,
    w,
  };
}

/** A queued datagram: the VXLAN header (RFC 7348 §5) in front of the frame, unchanged, within its underlay's limit. */
function expectDatagram(b: PacketBatch, list: SendList, k: number, frames: Frame[], maxFrame: number): void {
  const off = list.offsets[k];
  const i = Math.floor(off / b.slotSize);
  expect(off).toBe(i * b.slotSize + FROM);
  expect(list.lengths[k]).toBe(frames[i].size + VXLAN_HEADER_LEN);
  expect(b.slab.toString('hex', off, off + VXLAN_HEADER_LEN)).toBe('0800000000000100');
  expect(b.slab.subarray(off + VXLAN_HEADER_LEN, off + list.lengths[k]).equals(frames[i].bytes)).toBe(true);
  expect(frames[i].size).toBeLessThanOrEqual(maxFrame);
  expect(b.verdicts[i]).toBe(FORWARDED);
}

/** A proxy answer: an ARP reply (RFC 826) or a neighbour advertisement (RFC 4861 §4.4) for STATION_B, checksum right. */
function expectAnswer(w: SwitchWorld, k: number): void {
  const a = w.proxy.slab.subarray(w.proxy.offsets[k], w.proxy.offsets[k] + w.proxy.lengths[k]);
  expect(a.subarray(6, 12)).toEqual(STATION_B);
  if (a.readUInt16BE(12) === ETHERTYPE_ARP) {
    expect(a.length).toBe(ETH_HEADER_LEN + 28);
    expect(a.toString('hex', 14, 22)).toBe('0001080006040002');
    expect(a.subarray(22, 28)).toEqual(STATION_B);
    expect(a.readUInt32BE(28)).toBe(parseIpv4(STATION_B_V4));
    expect(a.subarray(32, 38)).toEqual(a.subarray(0, 6));
    return;
  }
  expect(a.readUInt16BE(12)).toBe(ETHERTYPE_IPV6);
  const ip = a.subarray(ETH_HEADER_LEN);
  const payload = ip.readUInt16BE(4);
  expect(ip.length).toBe(40 + payload);
  expect([ip[6], ip[7], ip[40]]).toEqual([IPPROTO_ICMPV6, 255, 136]);
  expect(ip.subarray(8, 24)).toEqual(parseIpv6(STATION_B_V6));
  expect(internetChecksum(ip, 40, payload, pseudoHeaderSumV6(ip, 8, 24, IPPROTO_ICMPV6, payload))).toBe(0);
}

const RUNS = propertyRuns(2500);

describe('switch egress, property-based', () => {
  it('decides and writes the same whatever surrounds the frames (no read outside them)', () => {
    fc.assert(
      fc.property(batches, fillings, (frames, [a, b]) => {
        const { b: _b1, w: _w1, ...x } = forwarded(frames, (f) => surrounded(f, HEADROOM, a));
        const { b: _b2, w: _w2, ...y } = forwarded(frames, (f) => surrounded(f, HEADROOM, b, true));
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('decides the same for a frame at the very end of its buffer', () => {
    fc.assert(
      fc.property(batches, fc.integer(), (frames, seed) => {
        const frame = [frames[0]];
        const { b: _b1, w: _w1, ...x } = forwarded(frame, (f) => atEnd(f[0], HEADROOM, seed));
        const { b: _b2, w: _w2, ...y } = forwarded(frame, (f) => surrounded(f, HEADROOM, seed));
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  // Both underlays carry the same frames here, so that a flood reaches every peer or none.
  it('sends, answers or counts every frame; every datagram and answer is well-formed', () => {
    const maxFrame = MAX_INNER_V4 + ETH_HEADER_LEN;
    fc.assert(
      fc.property(batches, fc.integer(), (frames, seed) => {
        const { b, w } = forwarded(frames, (f) => surrounded(f, HEADROOM, seed), maxFrame);
        const n = frames.length;
        const verdicts = Array.from(b.verdicts.subarray(0, n));
        const perReason = DROP_REASONS.map((_, r) => verdicts.filter((v) => v === r).length);
        expect(perReason).toEqual(DROP_REASONS.map((_, r) => w.block[r]));
        const sent = verdicts.filter((v) => v === FORWARDED).length;
        const answered = verdicts.filter((v) => v === ANSWERED).length;
        expect(answered).toBe(w.block[EventSlot.proxiedArp] + w.block[EventSlot.proxiedNd]);
        expect(answered).toBe(w.proxy.count);
        expect(sent + answered + perReason.reduce((s, c) => s + c, 0)).toBe(n);
        for (let k = 0; k < w.send4.count; k++) {
          expect(w.send4.addrs[k * 4]).toBe(addressWords(B.underlayV4!)[0]);
          expectDatagram(b, w.send4, k, frames, maxFrame);
        }
        for (let k = 0; k < w.send6.count; k++) {
          expect(w.send6.addrs.subarray(k * 4, k * 4 + 4)).toEqual(addressWords(C.underlayV6!));
          expectDatagram(b, w.send6, k, frames, maxFrame);
        }
        const queued = new Set([...w.send4.offsets.subarray(0, w.send4.count), ...w.send6.offsets.subarray(0, w.send6.count)].map((off) => Math.floor(off / b.slotSize)));
        for (let i = 0; i < n; i++) expect(queued.has(i)).toBe(b.verdicts[i] === FORWARDED);
        for (let k = 0; k < w.proxy.count; k++) expectAnswer(w, k);
      }),
      { numRuns: RUNS },
    );
  });
});
