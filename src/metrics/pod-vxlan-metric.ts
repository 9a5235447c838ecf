// vxroute_pod_vxlan_dropped_total: what the host guard (src/net/pod-vxlan-guard.ts) dropped,
// read from its nftables counter at scrape time (through one long-lived `nft -j -i`, src/net/nft-session.ts).
import { Counter, type Registry } from 'prom-client';
import { guardDrops } from '../net/pod-vxlan-guard.js';

export function registerPodVxlanMetric(registry: Registry, read: () => Promise<number | undefined> = guardDrops): void {
  new Counter({
    name: 'vxroute_pod_vxlan_dropped_total',
    help: 'UDP packets from this node\'s pods to the VXLAN port of any node, dropped on this node by the nftables table inet vxroute_guard (counts from when the daemon last applied it; absent while it is not in place).',
    registers: [registry],
    async collect() {
      this.reset();
      const packets = await read();
      if (packets !== undefined) this.inc(packets);
    },
  });
}
