// NetworkPolicy's metrics: new flows per direction and verdict, and the connection table's size
// and churn. Without policy they have no samples.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CounterSnapshot, PolicyCounters } from '../datapath/counter-snapshot.js';
import { DIRECTIONS } from '../datapath/counters.js';
import type { ConntrackStats } from '../datapath/policy/conntrack.js';

export function registerPolicyMetrics(registry: Registry, current: () => CounterSnapshot | undefined): void {
  const registers = [registry];
  const policy = (): PolicyCounters | undefined => current()?.policy;
  new Counter({
    name: 'vxroute_policy_new_flows_total',
    help: 'Connections whose first packet the policy decided, by direction (tun: sent by our pods; udp: from peers toward our pods) and verdict. Denied packets are counted under vxroute_dropped_packets_total{reason="policy_denied_egress|policy_denied_ingress"}.',
    labelNames: ['direction', 'verdict'], registers,
    collect() {
      this.reset();
      const p = policy();
      if (!p) return;
      for (const d of DIRECTIONS) {
        this.inc({ direction: d, verdict: 'allowed' }, p.newFlows[d].allowed);
        this.inc({ direction: d, verdict: 'denied' }, p.newFlows[d].denied);
      }
    },
  });
  const gauge = (name: string, help: string, pick: (c: ConntrackStats) => number) =>
    new Gauge({
      name, help, registers,
      collect() {
        this.reset();
        const p = policy();
        if (p) this.set(pick(p.conntrack));
      },
    });
  gauge('vxroute_conntrack_entries', 'Entries in the connection table (connections, and datagrams whose later fragments are awaited).', (c) => c.entries);
  gauge('vxroute_conntrack_max_entries', 'The connection table\'s cap, set at start.', (c) => c.max);
  const counter = (name: string, help: string, pick: (c: ConntrackStats) => number) =>
    new Counter({
      name, help, registers,
      collect() {
        this.reset();
        const p = policy();
        if (p) this.inc(pick(p.conntrack));
      },
    });
  counter('vxroute_conntrack_evicted_total', 'Entries removed at the cap to make room for a new connection: expired ones first, then the longest idle not established.', (c) => c.evicted);
  counter('vxroute_conntrack_expired_total', 'Entries removed after their idle timeout.', (c) => c.expired);
  counter('vxroute_conntrack_lock_waits_total', 'First packets that found the table\'s lock held past a short spin (by another worker or the sweep) and waited for it.', (c) => c.waited);
  new Counter({
    name: 'vxroute_conntrack_unstored_total',
    help: 'First packets decided without an entry (passed or dropped by the policy all the same): full, the table at its cap with every nearby entry established.',
    labelNames: ['reason'], registers,
    collect() {
      this.reset();
      const p = policy();
      if (!p) return;
      this.inc({ reason: 'full' }, p.conntrack.full);
    },
  });
}
