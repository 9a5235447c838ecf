// deploy/grafana/vxroute-dashboard.json: every query is valid PromQL (the Prometheus project's
// own grammar) and asks only for metric names and labels that the daemon's /metrics exports.
import { parser } from '@prometheus-io/lezer-promql';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DROP_REASONS } from '../src/datapath/drop-reasons.js';
import { PrometheusMetrics } from '../src/metrics/prometheus.js';
import type { CounterSnapshot } from '../src/datapath/counter-snapshot.js';

interface Panel {
  id: number;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { expr: string; legendFormat?: string }[];
}
const dashboard = JSON.parse(readFileSync(new URL('../deploy/grafana/vxroute-dashboard.json', import.meta.url), 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { name: string; query: unknown }[] } };

/** What a scrape of a running daemon exports: metric name → its label names. */
async function exported(): Promise<Map<string, Set<string>>> {
  const snapshot: CounterSnapshot = {
    at: 1,
    peers: [{ name: 'n2', txPackets: 1, txBytes: 2, rxPackets: 3, rxBytes: 4, lastSeen: 5 }],
    drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 1])) as CounterSnapshot['drops'],
    workers: [{ index: 0, tun: { batches: 1, packets: 1, sizes: [1, 0, 0, 0, 0, 0, 0, 0, 0] }, udp: { batches: 1, packets: 2, sizes: [0, 1, 0, 0, 0, 0, 0, 0, 0] }, heapUsed: 1 << 20, heapCommitted: 2 << 20, gcs: 3, tunWrites: 2, tsoPackets: 1, usoPackets: 0, checksumsFinished: 1, wholeTsoWrites: 0, wholeHairpinWrites: 0 }],
    udp: [{ family: 4, sockets: 1, gsoOn: 1, gsoRuns: 2, unsupportedRuns: 0, tooLargeRuns: 0, groBuffers: 1 }],
  };
  const metrics = new PrometheusMetrics({ counters: () => snapshot, peerRows: () => snapshot.peers, notReady: () => undefined, tableNodes: () => 2 }, { node: 'n1' });
  const out = new Map<string, Set<string>>();
  for (const line of (await metrics.scrape()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? /.exec(line);
    if (!m) continue;
    const labels = out.get(m[1]) ?? new Set<string>(['instance', 'job']); // added by Prometheus at scrape time
    for (const pair of (m[2] ?? '').split(',').filter(Boolean)) labels.add(pair.split('=')[0]);
    out.set(m[1], labels);
  }
  return out;
}

const queries = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, ...t })));
queries.push(...dashboard.templating.list.filter((v) => v.name === 'instance').map((v) => ({ panel: 'variable instance', expr: (v.query as { query: string }).query.replace(/^label_values\((\w+), \w+\)$/, '$1') })));

describe('Grafana dashboard', () => {
  it.each(queries.map((q) => [q.panel, q.expr]))('%s: %s parses as PromQL', (_, expr) => {
    const tree = parser.parse(expr.replace(/\$__rate_interval/g, '5m'));
    const errors: number[] = [];
    tree.iterate({ enter: (n) => void (n.type.isError && errors.push(n.from)) });
    expect(errors).toEqual([]);
  });

  it('uses only metrics and labels that /metrics exports', async () => {
    const names = await exported();
    for (const q of queries) {
      const used = [...q.expr.matchAll(/\b(vxroute_\w+)/g)].map((m) => m[1]);
      expect(used.length, q.expr).toBeGreaterThan(0);
      for (const metric of used) {
        expect(names.has(metric), `${metric} in ${q.panel}`).toBe(true);
        const labels = [...q.expr.matchAll(/by \(([^)]*)\)/g)].flatMap((m) => m[1].split(',').map((l) => l.trim()));
        labels.push(...[...(q.legendFormat ?? '').matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]));
        for (const l of labels) expect(names.get(metric)!.has(l), `label ${l} of ${metric} in ${q.panel}`).toBe(true);
      }
    }
  });

  it('lays out its panels on Grafana’s 24-column grid with unique ids', () => {
    expect(dashboard.uid).toBe('vxroute-overview');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
  });
});
