// The tunnel-GSO send path's counters in /metrics: per family, summed over workers, from the
// same snapshot as /debug/counters.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CounterReader, type CounterSnapshot } from '../datapath/counter-snapshot.js';
import { CounterLayout, ShardCounters } from '../datapath/counters.js';
import { PeerIds } from '../datapath/peer-ids.js';
import { registerTunnelGsoMetrics } from './tunnel-gso-metrics.js';

describe('tunnel-GSO metrics', () => {
  it('expose frames, segments, fallbacks, unfit runs and the whole sends per family, summed over workers, with their help', async () => {
    const layout = new CounterLayout(2, 4);
    const sab = layout.allocate();
    const w0 = new ShardCounters(layout.block(sab, 0), layout);
    const w1 = new ShardCounters(layout.block(sab, 1), layout);
    for (const w of [w0, w1]) {
      w.udpGso(4, true);
      w.udpGso(6, true);
    }
    w0.tunnelGso(4, 3, 120, 1, 2, 2, 1, 4);
    w1.tunnelGso(4, 4, 90, 0, 5, 1, 0, 3);
    w1.tunnelGso(6, 1, 45, 0, 0, 1, 2, 0);
    const reader = new CounterReader(layout, sab);
    let snapshot: CounterSnapshot | undefined = reader.snapshot(new PeerIds(4));
    const registry = new Registry();
    registerTunnelGsoMetrics(registry, () => snapshot);
    const text = await registry.metrics();
    for (const name of ['frames', 'segments', 'fallbacks', 'unfit', 'whole_frames', 'whole_cut', 'singles']) {
      expect(text).toMatch(new RegExp(`^# HELP vxroute_tunnel_gso_${name}_total \\S`, 'm'));
      expect(text).toContain(`# TYPE vxroute_tunnel_gso_${name}_total counter`);
    }
    expect(text).toContain('vxroute_tunnel_gso_frames_total{family="4"} 7');
    expect(text).toContain('vxroute_tunnel_gso_segments_total{family="4"} 210');
    expect(text).toContain('vxroute_tunnel_gso_fallbacks_total{family="4"} 1');
    expect(text).toContain('vxroute_tunnel_gso_unfit_total{family="4"} 7');
    expect(text).toContain('vxroute_tunnel_gso_frames_total{family="6"} 1');
    expect(text).toContain('vxroute_tunnel_gso_segments_total{family="6"} 45');
    expect(text).toContain('vxroute_tunnel_gso_unfit_total{family="6"} 0');
    expect(text).toContain('vxroute_tunnel_gso_whole_frames_total{family="4"} 3');
    expect(text).toContain('vxroute_tunnel_gso_whole_cut_total{family="4"} 1');
    expect(text).toContain('vxroute_tunnel_gso_singles_total{family="4"} 7');
    expect(text).toContain('vxroute_tunnel_gso_whole_cut_total{family="6"} 2');
    // Later counts replace the earlier ones (no double counting across scrapes); before the datapath runs, no samples.
    w0.tunnelGso(4, 1, 40, 0, 0, 0, 0, 0);
    snapshot = reader.snapshot(new PeerIds(4));
    expect(await registry.metrics()).toContain('vxroute_tunnel_gso_frames_total{family="4"} 8');
    snapshot = undefined;
    expect(await registry.metrics()).not.toContain('vxroute_tunnel_gso_frames_total{');
  });
});
