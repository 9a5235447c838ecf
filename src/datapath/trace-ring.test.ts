// The trace ring between a worker and the main thread, in one thread: filters, sampling,
// overwrite (lost, never torn), and nothing recorded while tracing is off.
import { describe, expect, it } from 'vitest';
import { WHOLE_WORDS } from '../native/whole-tso.js';
import { Drop } from './drop-reasons.js';
import { FORWARDED, PacketBatch } from './packet-batch.js';
import { allocateTrace, CAPTURE_BYTES, RING_ENTRIES, TraceReader, TraceWriter } from './trace-ring.js';

function batch(n: number): PacketBatch {
  const b = new PacketBatch(n, 256);
  for (let i = 0; i < n; i++) {
    b.sizes[i] = 200;
    b.slab.fill(i & 0xff, i * 256, (i + 1) * 256);
    b.verdicts[i] = i % 2 === 0 ? FORWARDED : Drop.no_route;
    b.peerOf[i] = i % 3;
    b.addrs[i * 4] = 0xc0000202;
    b.policyOf[i] = i; // packet 0: no policy decided it; packet i > 0: policy i - 1
  }
  return b;
}

describe('trace ring', () => {
  const setup = () => {
    const sab = allocateTrace(2);
    return { reader: new TraceReader(sab, 2), writer: new TraceWriter(sab, 1) };
  };

  it('records nothing while off, and the worker sees it off', () => {
    const { reader, writer } = setup();
    expect(writer.enabled()).toBe(false);
    reader.start({ dropsOnly: false, peer: -1, every: 1 });
    expect(writer.enabled()).toBe(true);
    reader.stop();
    expect(writer.enabled()).toBe(false);
    expect(reader.drain()).toEqual([]);
  });

  it('keeps the verdict, peer, source and the first bytes of each packet', () => {
    const { reader, writer } = setup();
    reader.start({ dropsOnly: false, peer: -1, every: 1 });
    writer.record(batch(4), 4, 1, 8, 1234.5);
    const got = reader.drain();
    expect(got.map((e) => [e.worker, e.direction, e.verdict, e.peer, e.length, e.time, e.source[0]])).toEqual([
      [1, 1, FORWARDED, 0, 200, 1234.5, 0xc0000202],
      [1, 1, Drop.no_route, 1, 200, 1234.5, 0xc0000202],
      [1, 1, FORWARDED, 2, 200, 1234.5, 0xc0000202],
      [1, 1, Drop.no_route, 0, 200, 1234.5, 0xc0000202],
    ]);
    expect(got[3].bytes).toEqual(Buffer.alloc(CAPTURE_BYTES, 3));
    expect(got.map((e) => e.policy)).toEqual([-1, 0, 1, 2]);
    expect(reader.drain()).toEqual([]);
  });

  it('records the segments a whole TSO packet stands for beside its first segment', () => {
    const { reader, writer } = setup();
    reader.start({ dropsOnly: false, peer: -1, every: 1 });
    const b = batch(2);
    b.whole[WHOLE_WORDS] = 45; // slot 1 holds the first segment of a TSO packet of 45 kept whole
    writer.record(b, 2, 0, 0, 0);
    const got = reader.drain();
    expect(got.map((e) => [e.length, e.segments])).toEqual([[200, 1], [200, 45]]);
  });

  it('keeps a short packet whole when a header was written in front of what was read', () => {
    const { reader, writer } = setup();
    reader.start({ dropsOnly: false, peer: -1, every: 1 });
    const b = new PacketBatch(1, 256);
    b.sizes[0] = 42; // an ARP frame read at 64, with an 8-byte VXLAN header written at 56
    for (let k = 0; k < 50; k++) b.slab[56 + k] = k + 1;
    writer.record(b, 1, 0, 56, 0, 8);
    const [e] = reader.drain();
    expect(e.length).toBe(50);
    expect(e.bytes).toEqual(Buffer.from(Array.from({ length: 50 }, (_, k) => k + 1)));
  });

  it('filters drops, a peer, and samples one in K', () => {
    const { reader, writer } = setup();
    reader.start({ dropsOnly: true, peer: -1, every: 1 });
    writer.record(batch(10), 10, 0, 0, 0);
    expect(reader.drain().map((e) => e.verdict)).toEqual(Array(5).fill(Drop.no_route));
    reader.start({ dropsOnly: false, peer: 2, every: 1 });
    writer.record(batch(10), 10, 0, 0, 0);
    expect(reader.drain().map((e) => e.peer)).toEqual([2, 2, 2]);
    reader.start({ dropsOnly: false, peer: -1, every: 4 });
    writer.record(batch(12), 12, 0, 0, 0);
    expect(reader.drain()).toHaveLength(3);
  });

  it('counts what was overwritten before it was read as lost', () => {
    const { reader, writer } = setup();
    reader.start({ dropsOnly: false, peer: -1, every: 1 });
    const b = batch(100);
    for (let k = 0; k < 3; k++) writer.record(b, 100, 0, 0, k);
    const got = reader.drain();
    expect(got).toHaveLength(RING_ENTRIES);
    expect(reader.lost).toBe(300 - RING_ENTRIES);
    expect(got.at(-1)!.time).toBe(2);
  });
});
