// Each worker's datapath counters in /metrics: one sample per worker, the snapshot's number as it is.
import { describe, expect, it } from 'vitest';
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';
import { PrometheusMetrics } from './prometheus.js';

const worker = (index: number, tunWrites: number, wholeTsoWrites: number, wholeHairpinWrites = 0): CounterSnapshot['workers'][number] => ({
  index, tun: { batches: 0, packets: 0, sizes: [] }, udp: { batches: 0, packets: 0, sizes: [] },
  heapUsed: 0, heapCommitted: 0, gcs: 0, tunWrites, tsoPackets: 0, usoPackets: 0, checksumsFinished: 0, wholeTsoWrites, wholeHairpinWrites,
});

describe('worker metrics', () => {
  it('export the TSO packets each worker wrote to the TUN whole, as a counter with its help', async () => {
    let workers = [worker(0, 120, 7), worker(1, 40, 0)];
    const snapshot = (): CounterSnapshot => ({ at: 0, peers: [], drops: {} as CounterSnapshot['drops'], workers, udp: [] });
    const metrics = new PrometheusMetrics({ counters: snapshot, peerRows: () => [], notReady: () => undefined, tableNodes: () => 1 }, { node: 'n0' });
    const first = await metrics.scrape();
    expect(first).toMatch(/^# HELP vxroute_tun_whole_tso_writes_total Received messages a worker wrote to the TUN whole .*TSO packet.*run of one TCP flow/m);
    expect(first).toContain('# TYPE vxroute_tun_whole_tso_writes_total counter');
    expect(first).toContain('vxroute_tun_whole_tso_writes_total{worker="0"} 7');
    expect(first).toContain('vxroute_tun_whole_tso_writes_total{worker="1"} 0');
    expect(first).toContain('vxroute_tun_writes_total{worker="0"} 120');

    workers = [worker(0, 500, 300), worker(1, 40, 2)];
    const second = await metrics.scrape();
    expect(second).toContain('vxroute_tun_whole_tso_writes_total{worker="0"} 300');
    expect(second).toContain('vxroute_tun_whole_tso_writes_total{worker="1"} 2');
  });

  it('export the same-node TSO packets each worker wrote back to the TUN whole, apart from the received ones', async () => {
    const workers = [worker(0, 90, 4, 11), worker(1, 10, 0, 0)];
    const snapshot = (): CounterSnapshot => ({ at: 0, peers: [], drops: {} as CounterSnapshot['drops'], workers, udp: [] });
    const metrics = new PrometheusMetrics({ counters: snapshot, peerRows: () => [], notReady: () => undefined, tableNodes: () => 1 }, { node: 'n0' });
    const text = await metrics.scrape();
    expect(text).toMatch(/^# HELP vxroute_tun_whole_hairpin_writes_total TSO packets of one of our pods to another .*wrote back to the TUN whole/m);
    expect(text).toContain('# TYPE vxroute_tun_whole_hairpin_writes_total counter');
    expect(text).toContain('vxroute_tun_whole_hairpin_writes_total{worker="0"} 11');
    expect(text).toContain('vxroute_tun_whole_hairpin_writes_total{worker="1"} 0');
    expect(text).toContain('vxroute_tun_whole_tso_writes_total{worker="0"} 4');
  });
});
