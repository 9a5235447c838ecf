// The tunnel-GSO send path's counters per underlay family (/debug/counters udp[].tunnelGso):
// frames written to the egress TAP, the datagrams they stand for, runs resent as datagrams
// after a failed write, runs that failed the check, and the TSO packets read whole (framed, or
// cut at the send after all) with the lone datagrams sent through the TAP for them; a sample
// per family with an underlay socket (0 while the path is off or cut).
import { Counter, type Registry } from 'prom-client';
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';

type TunnelGsoCounters = NonNullable<CounterSnapshot['udp'][number]['tunnelGso']>;

export function registerTunnelGsoMetrics(registry: Registry, current: () => CounterSnapshot | undefined): void {
  const registers = [registry];
  const perFamily = (name: string, help: string, pick: (t: TunnelGsoCounters) => number) =>
    new Counter({
      name, help, labelNames: ['family'], registers,
      collect() {
        this.reset();
        for (const f of current()?.udp ?? []) if (f.tunnelGso) this.inc({ family: String(f.family) }, pick(f.tunnelGso));
      },
    });
  perFamily('vxroute_tunnel_gso_frames_total', 'Runs of one TCP flow\'s datagrams to one peer sent as ONE tunnel-GSO frame through the egress TAP (--send-path).', (t) => t.frames);
  perFamily('vxroute_tunnel_gso_segments_total', 'VXLAN datagrams the tunnel-GSO frames stand for: what the peer or the underlay cuts back out of them.', (t) => t.segments);
  perFamily('vxroute_tunnel_gso_fallbacks_total', 'Runs whose write to the egress TAP failed and that were sent as UDP datagrams instead.', (t) => t.fallbacks);
  perFamily('vxroute_tunnel_gso_unfit_total', 'Runs of two or more datagrams to one peer that were not one TCP flow\'s segments the kernel would cut back out exactly (another protocol, a VLAN tag, a gap, a change of ack or window, too long), sent as UDP datagrams.', (t) => t.unfit);
  perFamily('vxroute_tunnel_gso_whole_frames_total', 'Frames that carried a pod\'s TSO packet read whole from the TUN, never cut.', (t) => t.wholeFrames);
  perFamily('vxroute_tunnel_gso_whole_cut_total', 'TSO packets read whole that were cut at the send after all (path off, failed write, unfit, held back behind a datagram of their socket).', (t) => t.wholeCut);
  perFamily('vxroute_tunnel_gso_singles_total', 'Lone datagrams written through the egress TAP so that a whole TSO packet of their socket behind them need not be cut.', (t) => t.singles);
}
