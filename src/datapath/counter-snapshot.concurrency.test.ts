// Counters under real concurrency: a worker thread counts received packets for one peer id as
// fast as it can while the main thread hands the id to a new node again and again (a reset) and
// reads the count. After a reset the count must be what the worker counted since, within what the
// worker's progress word says: no reset lost under a worker's increment, no increment lost.
import { describe, expect, it } from 'vitest';
import { distModule, RACE_MS, race } from '../../test/race-workers.js';
import { CounterReader } from './counter-snapshot.js';
import { CounterLayout } from './counters.js';
import { PeerIds } from './peer-ids.js';

const COUNTING = `
  const { CounterLayout, ShardCounters } = await import(workerData.module);
  const layout = new CounterLayout(1, 4);
  const counters = new ShardCounters(layout.block(workerData.sab, 0), layout);
  const progress = new Int32Array(workerData.progress);
  start();
  let n = 0;
  while (running()) {
    for (let k = 0; k < 1024; k++) {
      counters.now = ++n;
      counters.rx(0, 1);
      Atomics.store(progress, 0, n); // after the count: the main thread sees at least this many
    }
  }
  return n;
`;

describe('counters, concurrently', () => {
  it('loses no reset and no increment while a worker counts and the main thread resets and reads', async () => {
    const layout = new CounterLayout(1, 4);
    const sab = layout.allocate();
    const progressSab = new SharedArrayBuffer(4);
    const progress = new Int32Array(progressSab);
    const reader = new CounterReader(layout, sab);
    const peers = new PeerIds(4);
    peers.update(['node-a']);
    const counting = race<[number]>([{ body: COUNTING, data: { sab, progress: progressSab, module: distModule('datapath/counters.js') } }]);

    // The worker has started once it has counted; then the main thread races it, synchronously.
    const started = Date.now();
    while (Atomics.load(progress, 0) === 0 && Date.now() - started < 60_000);
    const deadline = Date.now() + RACE_MS;
    let resets = 0;
    const wrong: string[] = [];
    while (Date.now() < deadline && wrong.length < 5) {
      const before = Atomics.load(progress, 0);
      reader.resetPeer(0);
      const after = Atomics.load(progress, 0);
      resets++;
      for (let read = 0; read < 4; read++) {
        const low = Atomics.load(progress, 0);
        const counted = reader.snapshot(peers).peers[0].rxPackets;
        const high = Atomics.load(progress, 0);
        // The reset saw the count somewhere in [before, after + 1] (a count lands just before its progress word).
        if (counted < low - after - 1 || counted > high + 1 - before) wrong.push(`${counted} counted since a reset between ${before} and ${after}, read between ${low} and ${high}`);
      }
    }
    const [total] = await counting;
    expect(wrong).toEqual([]);
    expect(resets).toBeGreaterThan(1);
    // Once the worker is done, the count since the last reset is exact.
    const last = Atomics.load(progress, 0);
    reader.resetPeer(0);
    expect(reader.snapshot(peers).peers[0]).toMatchObject({ rxPackets: 0, rxBytes: 0, lastSeen: null });
    expect(last).toBe(total);
  });
});
