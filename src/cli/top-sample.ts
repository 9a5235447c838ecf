// What `vxroute top` shows, computed from two counter snapshots: totals since start and rates
// over the interval between them.
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';
import { DIRECTIONS } from '../datapath/counters.js';

export interface PeerRates {
  name: string;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  txPacketsPerSecond: number;
  txBitsPerSecond: number;
  rxPacketsPerSecond: number;
  rxBitsPerSecond: number;
  lastSeen: string | null;
}

export interface TopSample {
  at: string;
  node: string;
  tableVersion: number;
  intervalSeconds: number;
  /** Busiest first (bits per second both ways), then by name. */
  peers: PeerRates[];
  totals: Omit<PeerRates, 'name' | 'lastSeen'>;
  /** Every reason with drops since start: the total and the rate over the interval. */
  drops: { reason: string; total: number; perSecond: number }[];
  /** Each worker's share of the packets read over the interval, and its mean batch size. */
  workers: { index: number; share: number; packetsPerSecond: number; meanBatch: number }[];
  /** Writes to the TUN/TAP, all workers: per second over the interval, and the whole TSO packets among them (kernel peers' TSO packets written uncut). */
  tun: { writesPerSecond: number; wholeTsoWritesPerSecond: number; wholeTsoWrites: number };
  /** Switch mode only: the FDB's fill and the rates of its events, floods and proxy answers. */
  switch?: { fdbSize: number; fdbMax: number; floodsPerSecond: number; proxiedPerSecond: number; learnedPerSecond: number; movedPerSecond: number; evictedPerSecond: number };
}

export function topSample(node: string, tableVersion: number, before: CounterSnapshot, now: CounterSnapshot): TopSample {
  const dt = Math.max(1e-3, (now.at - before.at) / 1000);
  const prev = new Map(before.peers.map((p) => [p.name, p]));
  const peers = now.peers.map((p) => {
    const b = prev.get(p.name);
    const rate = (v: number, was: number | undefined) => Math.max(0, v - (was ?? 0)) / dt;
    return {
      name: p.name,
      txPackets: p.txPackets,
      txBytes: p.txBytes,
      rxPackets: p.rxPackets,
      rxBytes: p.rxBytes,
      txPacketsPerSecond: rate(p.txPackets, b?.txPackets),
      txBitsPerSecond: 8 * rate(p.txBytes, b?.txBytes),
      rxPacketsPerSecond: rate(p.rxPackets, b?.rxPackets),
      rxBitsPerSecond: 8 * rate(p.rxBytes, b?.rxBytes),
      lastSeen: p.lastSeen === null ? null : new Date(p.lastSeen).toISOString(),
    };
  });
  peers.sort((a, b) => b.txBitsPerSecond + b.rxBitsPerSecond - (a.txBitsPerSecond + a.rxBitsPerSecond) || (a.name < b.name ? -1 : 1));
  const sum = (k: keyof TopSample['totals']) => peers.reduce((acc, p) => acc + p[k], 0);
  const totals = {
    txPackets: sum('txPackets'), txBytes: sum('txBytes'), rxPackets: sum('rxPackets'), rxBytes: sum('rxBytes'),
    txPacketsPerSecond: sum('txPacketsPerSecond'), txBitsPerSecond: sum('txBitsPerSecond'),
    rxPacketsPerSecond: sum('rxPacketsPerSecond'), rxBitsPerSecond: sum('rxBitsPerSecond'),
  };
  const drops = Object.entries(now.drops)
    .filter(([, total]) => total > 0)
    .map(([reason, total]) => ({ reason, total, perSecond: Math.max(0, total - (before.drops[reason as keyof typeof before.drops] ?? 0)) / dt }))
    .sort((a, b) => b.perSecond - a.perSecond || b.total - a.total);
  const read = (w: CounterSnapshot['workers'][number]) => DIRECTIONS.reduce((acc, d) => ({ packets: acc.packets + w[d].packets, batches: acc.batches + w[d].batches }), { packets: 0, batches: 0 });
  const deltas = now.workers.map((w) => {
    const a = read(w);
    const was = before.workers.find((x) => x.index === w.index);
    const b = was ? read(was) : { packets: 0, batches: 0 };
    return { index: w.index, packets: a.packets - b.packets, batches: a.batches - b.batches };
  });
  const allPackets = deltas.reduce((acc, d) => acc + d.packets, 0);
  const workers = deltas.map((d) => ({
    index: d.index,
    share: allPackets > 0 ? d.packets / allPackets : 0,
    packetsPerSecond: d.packets / dt,
    meanBatch: d.batches > 0 ? d.packets / d.batches : 0,
  }));
  const allWorkers = (snapshot: CounterSnapshot, pick: (w: CounterSnapshot['workers'][number]) => number) => snapshot.workers.reduce((acc, w) => acc + pick(w), 0);
  const wholeTsoWrites = allWorkers(now, (w) => w.wholeTsoWrites);
  const tun = {
    writesPerSecond: Math.max(0, allWorkers(now, (w) => w.tunWrites) - allWorkers(before, (w) => w.tunWrites)) / dt,
    wholeTsoWritesPerSecond: Math.max(0, wholeTsoWrites - allWorkers(before, (w) => w.wholeTsoWrites)) / dt,
    wholeTsoWrites,
  };
  const sample: TopSample = { at: new Date(now.at).toISOString(), node, tableVersion, intervalSeconds: dt, peers, totals, drops, workers, tun };
  const sw = now.switch;
  const was = before.switch;
  if (sw && was) {
    const rate = (v: number, w: number) => Math.max(0, v - w) / dt;
    sample.switch = {
      fdbSize: sw.fdb.size, fdbMax: sw.fdb.max,
      floodsPerSecond: rate(sw.floods, was.floods), proxiedPerSecond: rate(sw.proxiedArp + sw.proxiedNd, was.proxiedArp + was.proxiedNd),
      learnedPerSecond: rate(sw.fdb.learned, was.fdb.learned), movedPerSecond: rate(sw.fdb.moved, was.fdb.moved), evictedPerSecond: rate(sw.fdb.evicted, was.fdb.evicted),
    };
  }
  return sample;
}
