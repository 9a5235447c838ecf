// encapsulate over hostile TUN reads (random bytes, and valid IPv4/IPv6 packets corrupted where
// parsers look): it never throws, reads nothing outside each packet, and forwards or counts every
// one; each datagram it makes is well-formed, and so is each ICMP error it answers with.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atEnd, frameSpan, framesOf, fillings, outputSpan, surrounded, type Frame } from '../../test/batch-surroundings.js';
import { hostile, ipPacket } from '../../test/packet-arbitraries.js';
import { propertyRuns } from '../../test/property-runs.js';
import { A, B, C, MAX_INNER_V4, MAX_INNER_V6, PEER_B, PEER_C, TUN_V4, addressWords, worldOfA, type RouterWorld } from '../../test/stage-worlds.js';
import { internetChecksum, pseudoHeaderSumV6 } from '../packet/checksum.js';
import { ENCAP_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, HEADROOM, IPPROTO_ICMP, IPPROTO_ICMPV6, IPV6_HEADER_LEN } from '../packet/constants.js';
import { parseIpv4 } from '../address/ip-text.js';
import { ipv4Src, ipv4TotalLength, validateIpv4, IPV4_OK } from '../packet/ipv4.js';
import { ipv6PayloadLength, validateIpv6, IPV6_OK } from '../packet/ipv6.js';
import { ICMPV6_ERROR_MAX } from '../packet/icmpv6.js';
import { ICMPV4_ERROR_MAX } from '../packet/icmp.js';
import { Drop, DROP_REASONS } from './drop-reasons.js';
import { encapsulate } from './encapsulate.js';
import { FORWARDED, type PacketBatch } from './packet-batch.js';

const BATCH = 8;
const NO_SOURCE = [new Uint32Array(4)];
const batches = framesOf(hostile(ipPacket), NO_SOURCE, BATCH);
const FROM = HEADROOM - ENCAP_LEN;

/** Everything encapsulate decides and writes, for a batch placed by `place`. */
function encapsulated(frames: Frame[], place: (frames: Frame[]) => PacketBatch) {
  const w = worldOfA(BATCH);
  const b = place(frames);
  const out = encapsulate(b, frames.length, w);
  const n = frames.length;
  const icmp = w.icmp;
  return {
    out,
    out6: b.out6,
    verdicts: Array.from(b.verdicts.subarray(0, n)),
    peers: Array.from(b.peerOf.subarray(0, n)),
    counters: Array.from(w.block),
    outputs: Array.from({ length: out }, (_, k) => `${b.outAddrs[k * 4]} ${outputSpan(b, b.outOffsets[k], b.outLengths[k])}`),
    outputs6: Array.from({ length: b.out6 }, (_, k) => `${b.outAddrs6.subarray(k * 4, k * 4 + 4).join('.')} ${outputSpan(b, b.outOffsets6[k], b.outLengths6[k])}`),
    icmp: Array.from({ length: icmp.count }, (_, k) => icmp.slab.toString('hex', icmp.offsets[k], icmp.offsets[k] + icmp.lengths[k])),
    frames: frames.map((f, i) => frameSpan(b, i, HEADROOM, HEADROOM, f)),
    b,
    w,
  };
}

const RUNS = propertyRuns(3000);

/** Checks one datagram of an output list: VXLAN, inner Ethernet to the peer's VTEP MAC, the packet unchanged and whole. */
function expectDatagram(b: PacketBatch, off: number, len: number, frame: Frame, overIpv6: boolean): void {
  const slot = Math.floor(off / b.slotSize);
  expect(off).toBe(slot * b.slotSize + FROM);
  const d = b.slab.subarray(off, off + len);
  expect(d.toString('hex', 0, 8)).toBe('0800000000000100');
  const inner = d.subarray(ENCAP_LEN);
  const version = inner[0] >>> 4;
  const peer = overIpv6 ? C : B;
  expect(d.subarray(8, 14)).toEqual(version === 4 ? peer.mac : peer.macV6);
  expect(d.subarray(14, 20)).toEqual(version === 4 ? A.mac : A.macV6);
  expect(d.readUInt16BE(20)).toBe(version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  if (version === 4) {
    expect(validateIpv4(inner, 0, inner.length)).toBe(IPV4_OK);
    expect(ipv4TotalLength(inner, 0)).toBe(inner.length);
  } else {
    expect(validateIpv6(inner, 0, inner.length)).toBe(IPV6_OK);
    expect(IPV6_HEADER_LEN + ipv6PayloadLength(inner, 0)).toBe(inner.length);
  }
  expect(inner.length).toBeLessThanOrEqual(overIpv6 ? MAX_INNER_V6 : MAX_INNER_V4);
  expect(inner.equals(frame.bytes.subarray(0, inner.length))).toBe(true);
}

/** Checks one ICMP error: whole, both checksums right (RFC 1071), within RFC 1812 §4.3.2.3 / RFC 4443 §2.4(c). */
function expectIcmpError(w: RouterWorld, k: number): void {
  const m = w.icmp.slab.subarray(w.icmp.offsets[k], w.icmp.offsets[k] + w.icmp.lengths[k]);
  if (m[0] >>> 4 === 4) {
    expect(validateIpv4(m, 0, m.length)).toBe(IPV4_OK);
    expect(ipv4TotalLength(m, 0)).toBe(m.length);
    expect(m.length).toBeLessThanOrEqual(ICMPV4_ERROR_MAX);
    expect(m[9]).toBe(IPPROTO_ICMP);
    expect(ipv4Src(m, 0)).toBe(parseIpv4(TUN_V4));
    expect(internetChecksum(m, 0, 20)).toBe(0);
    expect(internetChecksum(m, 20, m.length - 20)).toBe(0);
    expect(m[20]).toBe(3);
    // The quote is the start of the offending datagram, never bytes after its end.
    expect(m.length - 28).toBeLessThanOrEqual(ipv4TotalLength(m, 28));
  } else {
    expect(validateIpv6(m, 0, m.length)).toBe(IPV6_OK);
    expect(IPV6_HEADER_LEN + ipv6PayloadLength(m, 0)).toBe(m.length);
    expect(m.length).toBeLessThanOrEqual(ICMPV6_ERROR_MAX);
    expect(m[6]).toBe(IPPROTO_ICMPV6);
    const payload = m.length - IPV6_HEADER_LEN;
    expect(internetChecksum(m, IPV6_HEADER_LEN, payload, pseudoHeaderSumV6(m, 8, 24, IPPROTO_ICMPV6, payload))).toBe(0);
    expect([1, 2]).toContain(m[40]);
    expect(m.length - 48).toBeLessThanOrEqual(IPV6_HEADER_LEN + ipv6PayloadLength(m, 48));
  }
}

describe('encapsulate, property-based', () => {
  it('decides and writes the same whatever surrounds the packets (no read outside them)', () => {
    fc.assert(
      fc.property(batches, fillings, (frames, [a, b]) => {
        const { b: _b1, w: _w1, ...x } = encapsulated(frames, (f) => surrounded(f, HEADROOM, a));
        const { b: _b2, w: _w2, ...y } = encapsulated(frames, (f) => surrounded(f, HEADROOM, b, true));
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('decides the same for a packet at the very end of its buffer', () => {
    fc.assert(
      fc.property(batches, fc.integer(), (frames, seed) => {
        const frame = [frames[0]];
        const { b: _b1, w: _w1, ...x } = encapsulated(frame, (f) => atEnd(f[0], HEADROOM, seed));
        const { b: _b2, w: _w2, ...y } = encapsulated(frame, (f) => surrounded(f, HEADROOM, seed));
        expect(x).toEqual(y);
      }),
      { numRuns: RUNS },
    );
  });

  it('forwards or counts every packet; every datagram and ICMP error it writes is well-formed', () => {
    fc.assert(
      fc.property(batches, fc.integer(), (frames, seed) => {
        const { out, b, w } = encapsulated(frames, (f) => surrounded(f, HEADROOM, seed));
        const n = frames.length;
        const verdicts = Array.from(b.verdicts.subarray(0, n));
        const perReason = DROP_REASONS.map((_, r) => verdicts.filter((v) => v === r).length);
        expect(perReason).toEqual(DROP_REASONS.map((_, r) => w.block[r]));
        const forwarded = verdicts.filter((v) => v === FORWARDED).length;
        expect(forwarded).toBe(out + b.out6);
        expect(forwarded + perReason.reduce((s, c) => s + c, 0)).toBe(n);
        expect(w.icmp.count).toBeLessThanOrEqual(perReason[Drop.no_route] + perReason[Drop.oversize]);
        for (let k = 0; k < out; k++) {
          const i = Math.floor(b.outOffsets[k] / b.slotSize);
          expect(b.outAddrs[k * 4]).toBe(addressWords(B.underlayV4!)[0]);
          expect(b.peerOf[i]).toBe(PEER_B);
          expectDatagram(b, b.outOffsets[k], b.outLengths[k], frames[i], false);
        }
        for (let k = 0; k < b.out6; k++) {
          const i = Math.floor(b.outOffsets6[k] / b.slotSize);
          expect(b.outAddrs6.subarray(k * 4, k * 4 + 4)).toEqual(addressWords(C.underlayV6!));
          expect(b.peerOf[i]).toBe(PEER_C);
          expectDatagram(b, b.outOffsets6[k], b.outLengths6[k], frames[i], true);
        }
        for (let k = 0; k < w.icmp.count; k++) expectIcmpError(w, k);
      }),
      { numRuns: RUNS },
    );
  });
});
