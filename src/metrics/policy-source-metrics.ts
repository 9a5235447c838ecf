// The policy source's state on /metrics: how much of the cluster the policy world holds, and
// when it last changed (a stale time while the API server is away shows the world is the last good one).
import { Gauge, type Registry } from 'prom-client';
import type { PolicySourceStatus } from '../policy/kube-policy-source.js';

export function registerPolicySourceMetrics(registry: Registry, status: () => PolicySourceStatus): void {
  const registers = [registry];
  new Gauge({
    name: 'vxroute_policy_objects', help: 'Objects the NetworkPolicy world holds, by kind (pods of every namespace, namespaces, nodes, networkpolicies).', labelNames: ['kind'], registers,
    collect() {
      const s = status();
      this.set({ kind: 'pods' }, s.pods);
      this.set({ kind: 'namespaces' }, s.namespaces);
      this.set({ kind: 'nodes' }, s.nodes);
      this.set({ kind: 'networkpolicies' }, s.policies);
    },
  });
  new Gauge({
    name: 'vxroute_policy_world_timestamp_seconds', help: 'When the last NetworkPolicy world was built from the API (Unix time; 0 before the first).', registers,
    collect() {
      this.set((status().lastWorldAt ?? 0) / 1000);
    },
  });
}
