// Switch mode's metrics: floods, proxy answers and the forwarding database. In router mode they
// have no samples.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CounterSnapshot, SwitchCounters } from '../datapath/counter-snapshot.js';
import type { FdbStats } from '../datapath/switch/fdb.js';

export function registerSwitchMetrics(registry: Registry, current: () => CounterSnapshot | undefined): void {
  const registers = [registry];
  const sw = (): SwitchCounters | undefined => current()?.switch;
  new Counter({
    name: 'vxroute_switch_flooded_frames_total', help: 'Frames from the TAP sent to every peer: broadcast, multicast and unknown unicast (head-end replication).', registers,
    collect() {
      this.reset();
      const s = sw();
      if (s) this.inc(s.floods);
    },
  });
  new Counter({
    name: 'vxroute_switch_proxy_replies_total', help: 'ARP requests (arp) and neighbour solicitations (nd) answered into the TAP instead of flooded.', labelNames: ['protocol'], registers,
    collect() {
      this.reset();
      const s = sw();
      if (s) {
        this.inc({ protocol: 'arp' }, s.proxiedArp);
        this.inc({ protocol: 'nd' }, s.proxiedNd);
      }
    },
  });
  const fdbGauge = (name: string, help: string, pick: (f: FdbStats) => number) =>
    new Gauge({
      name, help, registers,
      collect() {
        this.reset();
        const s = sw();
        if (s) this.set(pick(s.fdb));
      },
    });
  fdbGauge('vxroute_fdb_entries', 'MAC addresses in the forwarding database.', (f) => f.size);
  fdbGauge('vxroute_fdb_max_entries', 'The forwarding database\'s cap (--fdb-max).', (f) => f.max);
  const fdbCounter = (name: string, help: string, pick: (f: FdbStats) => number) =>
    new Counter({
      name, help, registers,
      collect() {
        this.reset();
        const s = sw();
        if (s) this.inc(pick(s.fdb));
      },
    });
  fdbCounter('vxroute_fdb_learned_total', 'MAC addresses learned.', (f) => f.learned);
  fdbCounter('vxroute_fdb_moved_total', 'MAC addresses seen at a new place (here or another peer) and moved there.', (f) => f.moved);
  fdbCounter('vxroute_fdb_aged_total', 'MAC addresses forgotten after --fdb-aging without a frame.', (f) => f.aged);
  fdbCounter('vxroute_fdb_evicted_total', 'MAC addresses evicted, least recently seen first, to learn a new one at --fdb-max.', (f) => f.evicted);
}
