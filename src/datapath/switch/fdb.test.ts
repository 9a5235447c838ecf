import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { allocateFdb, Fdb, LOCAL, MISS } from './fdb.js';

const mac = (n: number): Buffer => Buffer.from([0x02, 0, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
/** Learns as a shard does: the batch's clock first. */
function learnAt(fdb: Fdb, now: number, buf: Uint8Array, off: number, where: number): void {
  fdb.now = now;
  fdb.learn(buf, off, where);
}
const text = (n: number): string => Array.from(mac(n), (b) => b.toString(16).padStart(2, '0')).join(':');

describe('Fdb', () => {
  it('learns, refreshes, and moves a MAC at once', () => {
    const fdb = new Fdb(allocateFdb(64));
    expect(fdb.lookup(mac(1), 0)).toBe(MISS);
    learnAt(fdb, 1000, mac(1), 0, LOCAL);
    learnAt(fdb, 2000, mac(1), 0, LOCAL);
    expect(fdb.lookup(mac(1), 0)).toBe(LOCAL);
    learnAt(fdb, 2500, mac(1), 0, 3);
    expect(fdb.lookup(mac(1), 0)).toBe(3);
    expect(fdb.entries(2500)).toEqual([{ mac: text(1), where: 3, seen: 2500, frames: 3 }]);
    expect(fdb.stats()).toMatchObject({ size: 1, learned: 1, moved: 1, evicted: 0 });
  });

  it('evicts the least recently seen entry at its cap, sparing one refreshed since', () => {
    const max = 32;
    const fdb = new Fdb(allocateFdb(max));
    for (let i = 0; i < max; i++) learnAt(fdb, 1000 + i, mac(i), 0, 1);
    learnAt(fdb, 5000, mac(0), 0, 1); // the oldest is seen again: now the youngest
    learnAt(fdb, 6000, mac(100), 0, 2);
    expect(fdb.lookup(mac(0), 0)).toBe(1);
    expect(fdb.lookup(mac(1), 0)).toBe(MISS); // the oldest not refreshed went
    for (let i = 101; i < 110; i++) learnAt(fdb, 6000 + i, mac(i), 0, 2);
    for (let i = 2; i <= 10; i++) expect(fdb.lookup(mac(i), 0)).toBe(MISS); // oldest first
    expect(fdb.lookup(mac(11), 0)).toBe(1);
    expect(fdb.stats()).toMatchObject({ size: max, evicted: 10, learned: max + 10 });
  });

  it('stays exact under many inserts and removals (backward-shift deletion keeps every probe run whole)', () => {
    const max = 256;
    const fdb = new Fdb(allocateFdb(max));
    const model = new Map<number, number>();
    let seed = 12345;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let step = 0; step < 20_000; step++) {
      const m = rand(600);
      if (model.size < max - 1) {
        learnAt(fdb, step, mac(m), 0, m % 7);
        model.set(m, m % 7);
      }
      if (step % 50 === 0) {
        // Age out everything older than 100 steps, in both.
        fdb.age(step, 100);
        for (const e of fdb.entries(step)) expect(step - e.seen).toBeLessThanOrEqual(100);
        const live = new Set(fdb.entries(step).map((e) => e.mac));
        for (const k of [...model.keys()]) if (!live.has(text(k))) model.delete(k);
      }
    }
    expect(fdb.entries(20_000)).toHaveLength(model.size);
    for (const [k, where] of model) expect(fdb.lookup(mac(k), 0)).toBe(where);
    expect(fdb.stats().size).toBe(model.size);
  });

  it('forgets the MACs of peers that left', () => {
    const fdb = new Fdb(allocateFdb(64));
    learnAt(fdb, 1, mac(1), 0, LOCAL);
    learnAt(fdb, 1, mac(2), 0, 4);
    learnAt(fdb, 1, mac(3), 0, 5);
    expect(fdb.forgetPeers((id) => id === 5)).toBe(1);
    expect([fdb.lookup(mac(1), 0), fdb.lookup(mac(2), 0), fdb.lookup(mac(3), 0)]).toEqual([LOCAL, MISS, 5]);
  });

  it('keeps one entry per MAC and an exact count while two threads learn the same MACs and the main thread ages', async () => {
    const max = 4096;
    const sab = allocateFdb(max);
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      const { sab, url, seed } = workerData;
      import(url).then(({ Fdb }) => {
        const fdb = new Fdb(sab);
        const b = Buffer.alloc(6);
        let s = seed;
        for (let i = 0; i < 200000; i++) {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          b.writeUInt32BE(s % 6000, 2); b[0] = 2;
          fdb.now = Date.now(); fdb.learn(b, 0, s % 3);
        }
        parentPort.postMessage('done');
      });`;
    // Workers load the build (the test setup builds dist/ first): the same code, compiled.
    const url = new URL('../../../dist/src/datapath/switch/fdb.js', import.meta.url).href;
    const run = (seed: number) =>
      new Promise<void>((resolve, reject) => {
        const w = new Worker(source, { eval: true, workerData: { sab, url, seed }});
        w.once('message', () => resolve());
        w.once('error', reject);
      });
    const fdb = new Fdb(sab);
    const ager = setInterval(() => fdb.age(Date.now(), 2), 1);
    try {
      await Promise.all([run(1), run(1)]);
    } finally {
      clearInterval(ager);
    }
    const entries = fdb.entries(Date.now());
    expect(new Set(entries.map((e) => e.mac)).size).toBe(entries.length);
    expect(fdb.stats().size).toBe(entries.length);
    expect(entries.length).toBeLessThanOrEqual(max);
  });
});
