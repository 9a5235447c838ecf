import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CounterReader, type CounterSnapshot } from '../datapath/counter-snapshot.js';
import { CounterLayout, Direction, ShardCounters } from '../datapath/counters.js';
import { allocateConntrack, Conntrack } from '../datapath/policy/conntrack.js';
import { PeerIds } from '../datapath/peer-ids.js';
import { registerPolicyMetrics } from './policy-metrics.js';

describe('policy metrics', () => {
  it('expose new flows per direction and verdict, summed over workers, and the connection table\'s size', async () => {
    const layout = new CounterLayout(2, 4);
    const sab = layout.allocate();
    const w0 = new ShardCounters(layout.block(sab, 0), layout);
    const w1 = new ShardCounters(layout.block(sab, 1), layout);
    w0.newFlow(Direction.tun, true);
    w1.newFlow(Direction.tun, true);
    w1.newFlow(Direction.udp, false);
    const ct = new Conntrack(allocateConntrack(1000));
    const reader = new CounterReader(layout, sab);
    let snapshot: CounterSnapshot | undefined = reader.snapshot(new PeerIds(4), undefined, ct.stats());
    const registry = new Registry();
    registerPolicyMetrics(registry, () => snapshot);
    const text = await registry.metrics();
    expect(text).toContain('vxroute_policy_new_flows_total{direction="tun",verdict="allowed"} 2');
    expect(text).toContain('vxroute_policy_new_flows_total{direction="udp",verdict="denied"} 1');
    expect(text).toContain('vxroute_conntrack_max_entries 1000');
    expect(text).toContain('vxroute_conntrack_entries 0');
    // Policy off: no flow samples, and a table of nothing.
    snapshot = reader.snapshot(new PeerIds(4));
    expect(snapshot.policy).toBeUndefined();
    const off = await registry.metrics();
    expect(off).not.toContain('vxroute_policy_new_flows_total{');
    expect(off).toContain('vxroute_conntrack_max_entries 0');
  });
});
