// Per-peer metrics come from the scrape's snapshot alone: each peer's value as a sample in the text
// format, a peer that left is gone at the next scrape, and no lastSeen means no sample.
import { describe, expect, it } from 'vitest';
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';
import { PrometheusMetrics } from './prometheus.js';

function snapshot(peers: CounterSnapshot['peers']): CounterSnapshot {
  return { at: 0, peers, drops: {}, workers: [], udp: [] } as unknown as CounterSnapshot;
}

describe('per-peer metrics', () => {
  it('are the snapshot of each scrape, in the text format, and keep nothing of a peer that left', async () => {
    let current = snapshot([
      { name: 'n1', txPackets: 3, txBytes: 300, rxPackets: 2, rxBytes: 200, lastSeen: 1_700_000_000_000 },
      { name: 'n2', txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, lastSeen: null },
    ]);
    const metrics = new PrometheusMetrics({ counters: () => current, notReady: () => undefined, tableNodes: () => 3 }, { node: 'n0' });
    const first = await metrics.scrape();
    expect(first).toContain('# TYPE vxroute_tx_packets_total counter');
    expect(first).toContain('vxroute_tx_packets_total{peer="n1"} 3');
    expect(first).toContain('vxroute_rx_bytes_total{peer="n1"} 200');
    expect(first).toContain('vxroute_tx_bytes_total{peer="n2"} 0');
    expect(first).toContain('# TYPE vxroute_peer_last_seen_timestamp_seconds gauge');
    expect(first).toContain('vxroute_peer_last_seen_timestamp_seconds{peer="n1"} 1700000000');
    expect(first).not.toContain('vxroute_peer_last_seen_timestamp_seconds{peer="n2"}');

    current = snapshot([{ name: 'n2', txPackets: 5, txBytes: 500, rxPackets: 0, rxBytes: 0, lastSeen: null }]);
    const second = await metrics.scrape();
    expect(second).toContain('vxroute_tx_packets_total{peer="n2"} 5');
    expect(second).not.toContain('peer="n1"');
  });
});
