// The trace ring under real concurrency, across the wrap of its Int32 positions: a worker thread
// records batches whose every field and byte derive from one number per entry, while a reader
// thread drains; every entry read must be whole, and each one written is read or counted lost.
import { describe, expect, it } from 'vitest';
import { distModule, race } from '../../test/race-workers.js';
import { allocateTrace, RING_ENTRIES } from './trace-ring.js';

const BATCH = 16;
/** Entries the writer writes at the least, whatever the time bound: enough to cross the wrap. */
const AT_LEAST = 20_000;

const WRITER = `
  const { TraceWriter } = await import(workerData.ring);
  const { PacketBatch } = await import(workerData.batch);
  const writer = new TraceWriter(workerData.sab, 0);
  const b = new PacketBatch(${BATCH}, 256);
  start();
  let written = 0;
  while (running() || written < ${AT_LEAST}) {
    for (let i = 0; i < ${BATCH}; i++) {
      const v = written + i + 1;
      b.sizes[i] = 64 + (v % 200);
      b.verdicts[i] = (v % 40) - 2;
      b.peerOf[i] = v & 0x7fff;
      for (let k = 0; k < 4; k++) b.addrs[i * 4 + k] = v + k;
      for (let j = 0; j < 128; j++) b.slab[i * 256 + j] = (v + j) & 255;
    }
    writer.record(b, ${BATCH}, 1, 0, written); // the batch's time: its first entry's number less one
    written += ${BATCH};
  }
  Atomics.store(new Int32Array(workerData.done), 0, 1);
  return written;
`;

const READER = `
  const { TraceReader } = await import(workerData.ring);
  const reader = new TraceReader(workerData.sab, 1);
  reader.start({ dropsOnly: false, peer: -1, every: 1 });
  const done = new Int32Array(workerData.done);
  const tornIn = (e) => {
    const v = e.source[0];
    const want = [1, (v % 40) - 2, v & 0x7fff, 64 + (v % 200), v - 1 - ((v - 1) % ${BATCH})];
    const got = [e.direction, e.verdict, e.peer, e.length, e.time];
    for (let k = 1; k < 4; k++) if (e.source[k] !== (v + k) >>> 0) return 'entry ' + v + ': source word ' + k;
    if (got.join() !== want.join()) return 'entry ' + v + ': ' + got.join() + ' instead of ' + want.join();
    if (e.bytes.length !== Math.min(128, e.length)) return 'entry ' + v + ': ' + e.bytes.length + ' bytes';
    for (let j = 0; j < e.bytes.length; j++) if (e.bytes[j] !== ((v + j) & 255)) return 'entry ' + v + ': byte ' + j;
    return undefined;
  };
  start();
  let received = 0;
  let last = 0;
  for (;;) {
    const finished = Atomics.load(done, 0) === 1; // then this drain is the last, with nothing written during it
    for (const e of reader.drain()) {
      const torn = tornIn(e);
      if (torn) return { received, lost: reader.lost, last, wrong: torn };
      if (e.source[0] <= last) return { received, lost: reader.lost, last, wrong: 'entry ' + e.source[0] + ' after ' + last };
      last = e.source[0];
      received++;
    }
    if (finished) return { received, lost: reader.lost, last };
  }
`;

interface ReaderResult {
  received: number;
  lost: number;
  last: number;
  wrong?: string;
}

describe('trace ring, concurrently', () => {
  it.each([
    ['2^31', 2 ** 31 - AT_LEAST / 2],
    ['2^32', -AT_LEAST / 2],
  ])('hands the reader whole entries, in order, each read or counted lost, across position %s', async (_, firstPosition) => {
    const sab = allocateTrace(1, firstPosition);
    const data = { sab, done: new SharedArrayBuffer(4), ring: distModule('datapath/trace-ring.js'), batch: distModule('datapath/packet-batch.js') };
    const [written, read] = await race<[number, ReaderResult]>([
      { body: WRITER, data },
      { body: READER, data },
    ]);
    expect(read.wrong).toBeUndefined();
    expect(read.received + read.lost).toBe(written);
    // The last drain, once the writer had stopped, got the last entry; and more than the last ring's worth was read.
    expect(read.last).toBe(written);
    expect(read.received).toBeGreaterThan(RING_ENTRIES);
  });
});
