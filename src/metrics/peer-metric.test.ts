// Per-peer metrics come from each scrape's reading of the peers alone: each peer's value as a
// sample in the text format, a peer that left is gone at the next scrape, and no lastSeen means no
// sample. The text is what prom-client writes for the same samples.
import { Counter, Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { CounterSnapshot, PeerCounters } from '../datapath/counter-snapshot.js';
import { peerMetricsPieces } from './peer-metric.js';

const peerMetricsText = (rows: PeerCounters[], pieceChars?: number): string => [...peerMetricsPieces(() => rows, pieceChars)].join('');
import { PrometheusMetrics } from './prometheus.js';

function snapshot(): CounterSnapshot {
  return { at: 0, peers: [], drops: {}, workers: [], udp: [] } as unknown as CounterSnapshot;
}

describe('per-peer metrics', () => {
  it('are each scrape\'s reading of the peers, in the text format, and keep nothing of a peer that left', async () => {
    let peers: PeerCounters[] = [
      { name: 'n1', txPackets: 3, txBytes: 300, rxPackets: 2, rxBytes: 200, lastSeen: 1_700_000_000_000 },
      { name: 'n2', txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, lastSeen: null },
    ];
    const metrics = new PrometheusMetrics({ counters: snapshot, peerRows: () => peers, notReady: () => undefined, tableNodes: () => 3 }, { node: 'n0' });
    const first = await metrics.scrape();
    expect(first).toContain('# TYPE vxroute_tx_packets_total counter');
    expect(first).toContain('vxroute_tx_packets_total{peer="n1"} 3');
    expect(first).toContain('vxroute_rx_bytes_total{peer="n1"} 200');
    expect(first).toContain('vxroute_tx_bytes_total{peer="n2"} 0');
    expect(first).toContain('# TYPE vxroute_peer_last_seen_timestamp_seconds gauge');
    expect(first).toContain('vxroute_peer_last_seen_timestamp_seconds{peer="n1"} 1700000000');
    expect(first).not.toContain('vxroute_peer_last_seen_timestamp_seconds{peer="n2"}');
    expect(first).toMatch(/\n\n# HELP vxroute_tx_packets_total /); // a family of its own after prom-client's
    expect(first.endsWith('\n')).toBe(true);

    peers = [{ name: 'n2', txPackets: 5, txBytes: 500, rxPackets: 0, rxBytes: 0, lastSeen: null }];
    const second = await metrics.scrape();
    expect(second).toContain('vxroute_tx_packets_total{peer="n2"} 5');
    expect(second).not.toContain('peer="n1"');
  });

  it('writes the text prom-client writes for the same samples, escapes included', async () => {
    const peers: PeerCounters[] = [
      { name: 'n1', txPackets: 3, txBytes: 300.5, rxPackets: 2, rxBytes: 2 ** 53, lastSeen: 1_700_000_000_123 },
      { name: 'odd "name" \\ with\nnewline', txPackets: 1, txBytes: 2, rxPackets: 3, rxBytes: 4, lastSeen: null },
    ];
    const registry = new Registry();
    const help = (name: string) => peerMetricsText([]).split('\n').find((l) => l.startsWith(`# HELP ${name} `))!.slice(`# HELP ${name} `.length);
    const family = (name: string, type: 'counter' | 'gauge', pick: (p: PeerCounters) => number | undefined) => {
      const m = type === 'counter' ? new Counter({ name, help: help(name), labelNames: ['peer'], registers: [registry] }) : new Gauge({ name, help: help(name), labelNames: ['peer'], registers: [registry] });
      for (const p of peers) {
        const v = pick(p);
        if (v === undefined) continue;
        if (m instanceof Counter) m.inc({ peer: p.name }, v);
        else m.set({ peer: p.name }, v);
      }
    };
    family('vxroute_tx_packets_total', 'counter', (p) => p.txPackets);
    family('vxroute_tx_bytes_total', 'counter', (p) => p.txBytes);
    family('vxroute_rx_packets_total', 'counter', (p) => p.rxPackets);
    family('vxroute_rx_bytes_total', 'counter', (p) => p.rxBytes);
    family('vxroute_peer_last_seen_timestamp_seconds', 'gauge', (p) => (p.lastSeen === null ? undefined : p.lastSeen / 1000));
    expect(peerMetricsText(peers)).toBe(`\n${await registry.metrics()}`);
    // In pieces as small as one line, the same text.
    expect([...peerMetricsPieces(() => peers, 1)]).toHaveLength(9); // one per sample (one peer has no last-seen time)
    expect(peerMetricsText(peers, 1)).toBe(`\n${await registry.metrics()}`);
  });
});
