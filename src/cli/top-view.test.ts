// `vxroute top`'s screen: rates from two snapshots, busiest first, never wider than 80 columns.
import { describe, expect, it } from 'vitest';
import { DROP_REASONS } from '../datapath/drop-reasons.js';
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';
import { topSample } from './top-sample.js';
import { renderTop, si } from './top-view.js';

const drops = (n: number) => Object.fromEntries(DROP_REASONS.map((r) => [r, n])) as CounterSnapshot['drops'];
const worker = (index: number, packets: number) => ({ index, tun: { batches: packets / 4, packets, sizes: [] }, udp: { batches: 0, packets: 0, sizes: [] }, heapUsed: 1 << 20, heapCommitted: 2 << 20, gcs: 0, tunWrites: 0, tsoPackets: 0, usoPackets: 0, checksumsFinished: 0, wholeTsoWrites: 0, wholeHairpinWrites: 0 });
const peer = (name: string, tx: number) => ({ name, txPackets: tx, txBytes: tx * 1000, rxPackets: tx / 2, rxBytes: tx * 500, lastSeen: 1_000_000 });

describe('vxroute top', () => {
  const before: CounterSnapshot = { at: 1_000_000, peers: [peer('quiet', 0), peer('a-node-with-a-very-long-name-indeed', 0)], drops: drops(0), workers: [worker(0, 0), worker(1, 0)], udp: [] };
  const now: CounterSnapshot = { at: 1_002_000, peers: [peer('quiet', 0), peer('a-node-with-a-very-long-name-indeed', 20_000)], drops: drops(10), workers: [worker(0, 30_000), worker(1, 10_000)], udp: [] };
  const s = topSample('n1', 7, before, now);

  it('turns two snapshots into rates', () => {
    expect(s.intervalSeconds).toBe(2);
    expect(s.peers[0]).toMatchObject({ name: 'a-node-with-a-very-long-name-indeed', txPacketsPerSecond: 10_000, txBitsPerSecond: 80e6, rxPacketsPerSecond: 5000, rxBitsPerSecond: 40e6 });
    expect(s.peers[1].name).toBe('quiet');
    expect(s.totals.txBitsPerSecond).toBe(80e6);
    expect(s.drops).toHaveLength(DROP_REASONS.length);
    expect(s.drops[0].perSecond).toBe(5);
    expect(s.workers).toEqual([
      { index: 0, share: 0.75, packetsPerSecond: 15_000, meanBatch: 4 },
      { index: 1, share: 0.25, packetsPerSecond: 5000, meanBatch: 4 },
    ]);
  });

  it('fits 80 columns, whatever the names and however many reasons', () => {
    const lines = renderTop(s, '127.0.0.1:9475');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(80);
    expect(lines.join('\n')).toMatch(/a-node-with-a-very-l\s+10\.0k\s+80\.0M\s+5\.00k\s+40\.0M/);
    expect(renderTop(s, 'x', 1).join('\n')).toContain('… 1 more peers');
  });

  it('shows the TUN writes per second and the whole TSO packets among them, rate and total', () => {
    const writes = (w: ReturnType<typeof worker>, tunWrites: number, wholeTsoWrites: number) => ({ ...w, tunWrites, wholeTsoWrites });
    const tso = topSample('n1', 7, { ...before, workers: [writes(worker(0, 0), 100, 10), writes(worker(1, 0), 0, 0)] }, { ...now, workers: [writes(worker(0, 30_000), 2100, 1010), writes(worker(1, 10_000), 2000, 2000)] });
    expect(tso.tun).toEqual({ writesPerSecond: 2000, wholeTsoWritesPerSecond: 1500, wholeTsoWrites: 3010 });
    expect(renderTop(tso, 'x')).toContain('TUN      writes 2.00k/s · whole TSO 1.50k/s (3.01k)');
    expect(renderTop(s, 'x')).toContain('TUN      writes 0/s · whole TSO 0/s (0)');
  });

  it('writes numbers in SI units', () => {
    expect([si(0), si(999), si(1000), si(12_345), si(123_456_789), si(2.5)]).toEqual(['0', '999', '1.00k', '12.3k', '123M', '2.5']);
  });

  it('adds a line for switch mode: the FDB\'s fill and its event rates', () => {
    const fdb = (learned: number) => ({ size: 16_384, max: 16_384, learned, moved: 0, aged: 0, evicted: Math.max(0, learned - 16_384) });
    const sw = topSample('n1', 7, { ...before, switch: { floods: 0, proxiedArp: 0, proxiedNd: 0, fdb: fdb(0) } }, { ...now, switch: { floods: 200, proxiedArp: 4, proxiedNd: 2, fdb: fdb(100_000) } });
    expect(sw.switch).toEqual({ fdbSize: 16_384, fdbMax: 16_384, floodsPerSecond: 100, proxiedPerSecond: 3, learnedPerSecond: 50_000, movedPerSecond: 0, evictedPerSecond: 41_808 });
    const lines = renderTop(sw, 'x');
    const at = lines.findIndex((l) => l.startsWith('SWITCH'));
    expect(lines.slice(at, at + 2)).toEqual(['SWITCH   fdb 16384/16384 · floods 100/s · proxied 3/s', '         learned 50.0k/s · moved 0/s · evicted 41.8k/s']);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(80);
    expect(renderTop(s, 'x').some((l) => l.startsWith('SWITCH'))).toBe(false);
  });
});
