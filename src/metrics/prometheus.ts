// /metrics in the Prometheus text format, through prom-client. The workers' counters are summed
// once per scrape (one snapshot feeds every metric, so they agree with each other), then
// mirrored into prom-client's counters; the batch-size distribution is a histogram built from
// the workers' buckets. The per-peer families are written as text after prom-client's, from the
// counter blocks, one peer at a time (peer-metric.ts).
import { collectDefaultMetrics, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';
import { bucketUpperBound, BATCH_BUCKETS, DIRECTIONS } from '../datapath/counters.js';
import { DROP_HELP, DROP_REASONS } from '../datapath/drop-reasons.js';
import type { CounterSnapshot, PeerCounters } from '../datapath/counter-snapshot.js';
import { peerMetricsPieces } from './peer-metric.js';
import { registerPolicyMetrics } from './policy-metrics.js';
import { registerSwitchMetrics } from './switch-metrics.js';
import { registerTunnelGsoMetrics } from './tunnel-gso-metrics.js';

export interface MetricsSource {
  /** undefined until the datapath runs; its per-peer rows are not read. */
  counters(): CounterSnapshot | undefined;
  /** Each peer's counters (one record may be reused from peer to peer); undefined until the datapath runs. */
  peerRows(): Iterable<PeerCounters> | undefined;
  notReady(): string | undefined;
  /** Nodes in the table, ours included; undefined until it is loaded. */
  tableNodes(): number | undefined;
}

export class PrometheusMetrics {
  readonly registry = new Registry();
  private snapshot: CounterSnapshot | undefined;

  constructor(private readonly source: MetricsSource, info: Record<string, string>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const current = (): CounterSnapshot | undefined => this.snapshot;

    new Counter({
      name: 'vxroute_dropped_packets_total',
      help: `Packets dropped, by reason: ${DROP_REASONS.map((r) => `${r} (${DROP_HELP[r]})`).join('; ')}.`,
      labelNames: ['reason'], registers,
      collect() {
        this.reset();
        const drops = current()?.drops;
        for (const r of DROP_REASONS) this.inc({ reason: r }, drops?.[r] ?? 0);
      },
    });
    const perWorker = (name: string, help: string, pick: (b: CounterSnapshot['workers'][number]['tun']) => number) =>
      new Counter({
        name, help, labelNames: ['worker', 'direction'], registers,
        collect() {
          this.reset();
          for (const w of current()?.workers ?? []) for (const d of DIRECTIONS) this.inc({ worker: String(w.index), direction: d }, pick(w[d]));
        },
      });
    perWorker('vxroute_batches_total', 'Batches read by a worker, from the TUN (tun) or the UDP socket (udp).', (b) => b.batches);
    perWorker('vxroute_batch_packets_total', 'Packets read by a worker in its batches.', (b) => b.packets);
    this.registry.registerMetric(new BatchSizeHistogram(current) as never);
    new Gauge({
      name: 'vxroute_worker_heap_used_bytes', help: 'V8 heap in use by a worker (updated about once a second).', labelNames: ['worker'], registers,
      collect() {
        this.reset();
        for (const w of current()?.workers ?? []) this.set({ worker: String(w.index) }, w.heapUsed);
      },
    });
    new Gauge({
      name: 'vxroute_worker_heap_committed_bytes', help: 'V8 heap a worker has committed, in use or not: its share of the resident set (updated about once a second).', labelNames: ['worker'], registers,
      collect() {
        this.reset();
        for (const w of current()?.workers ?? []) this.set({ worker: String(w.index) }, w.heapCommitted);
      },
    });
    const workerTotal = (name: string, help: string, pick: (w: CounterSnapshot['workers'][number]) => number) =>
      new Counter({
        name, help, labelNames: ['worker'], registers,
        collect() {
          this.reset();
          for (const w of current()?.workers ?? []) this.inc({ worker: String(w.index) }, pick(w));
        },
      });
    workerTotal('vxroute_tun_writes_total', 'Write syscalls a worker made to the TUN/TAP; below the packets written while runs are coalesced into GSO packets.', (w) => w.tunWrites);
    workerTotal('vxroute_tun_tso_packets_total', 'TCP packets of up to 64 KiB a worker read from the TUN (TSO) and cut into MSS-sized segments.', (w) => w.tsoPackets);
    workerTotal('vxroute_tun_uso_packets_total', 'UDP packets of up to 64 KiB a worker read from the TUN (USO: a pod sent with UDP_SEGMENT) and cut into datagrams.', (w) => w.usoPackets);
    workerTotal('vxroute_tun_whole_tso_writes_total', 'Received messages a worker wrote to the TUN whole instead of cutting them into segments: a kernel peer\'s TSO packet (across the underlay unsegmented), or a peer\'s run of one TCP flow\'s consecutive segments (a UDP GRO buffer); whole messages of one flow in a batch share one GSO write.', (w) => w.wholeTsoWrites);
    workerTotal('vxroute_tun_whole_hairpin_writes_total', 'TSO packets of one of our pods to another (same-node traffic steered through the TUN for NetworkPolicy) a worker judged and wrote back to the TUN whole, one GSO write each, instead of cutting them into segments.', (w) => w.wholeHairpinWrites);
    workerTotal('vxroute_tun_checksums_finished_total', 'Inner TCP/UDP checksums a worker finished before writing to the TUN/TAP: a kernel peer left them partial (tx checksum offload on its veth underlay).', (w) => w.checksumsFinished);
    workerTotal('vxroute_worker_gc_total', 'Garbage collections in a worker since start: a datapath that allocates nothing per packet keeps this flat.', (w) => w.gcs);
    registerSwitchMetrics(this.registry, current);
    registerPolicyMetrics(this.registry, current);
    new Gauge({
      name: 'vxroute_udp_gso_enabled', help: '1 while every worker\'s UDP socket of the underlay family sends runs of datagrams with UDP GSO (see the log for why it is off).', labelNames: ['family'], registers,
      collect() {
        this.reset();
        for (const f of current()?.udp ?? []) this.set({ family: String(f.family) }, f.gsoOn === f.sockets ? 1 : 0);
      },
    });
    new Counter({
      name: 'vxroute_udp_gso_runs_total', help: 'Runs of datagrams to one peer sent as one UDP GSO message.', labelNames: ['family'], registers,
      collect() {
        this.reset();
        for (const f of current()?.udp ?? []) this.inc({ family: String(f.family) }, f.gsoRuns);
      },
    });
    registerTunnelGsoMetrics(this.registry, current);
    new Counter({
      name: 'vxroute_udp_gro_buffers_total', help: 'Messages the underlay socket received whole and cut into more than one VXLAN datagram: UDP GRO buffers, and a kernel peer\'s TSO packets that crossed a veth unsegmented.', labelNames: ['family'], registers,
      collect() {
        this.reset();
        for (const f of current()?.udp ?? []) this.inc({ family: String(f.family) }, f.groBuffers);
      },
    });
    new Counter({
      name: 'vxroute_udp_gso_fallbacks_total',
      help: 'Runs the kernel refused as UDP GSO and that were resent one datagram at a time: unsupported (EIO: the route cannot segment; GSO goes off and is retried after a back-off), too_large (the run exceeds its route; GSO stays on).',
      labelNames: ['family', 'reason'], registers,
      collect() {
        this.reset();
        for (const f of current()?.udp ?? []) {
          this.inc({ family: String(f.family), reason: 'unsupported' }, f.unsupportedRuns);
          this.inc({ family: String(f.family), reason: 'too_large' }, f.tooLargeRuns);
        }
      },
    });

    new Gauge({
      name: 'vxroute_peers', help: 'Peer nodes in the subnet table.', registers,
      collect() {
        const nodes = source.tableNodes();
        this.set(nodes === undefined ? 0 : nodes - 1);
      },
    });
    new Gauge({
      name: 'vxroute_ready', help: '1 when the daemon is ready (see /readyz for the reason when not).', registers,
      collect() {
        this.set(source.notReady() === undefined ? 1 : 0);
      },
    });
    new Gauge({ name: 'vxroute_info', help: 'Constant 1, labelled with the running configuration.', labelNames: Object.keys(info), registers }).set(info, 1);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition, from one snapshot of the counters. */
  /** The whole text (tests, the dashboard's check). */
  async scrape(): Promise<string> {
    return [...(await this.scrapePieces())].join('');
  }

  /** prom-client's text, then the per-peer families in pieces, made as they are taken. */
  async scrapePieces(): Promise<Iterable<string>> {
    this.snapshot = this.source.counters();
    let text: string;
    try {
      text = await this.registry.metrics();
    } finally {
      this.snapshot = undefined;
    }
    const rows = (): Iterable<PeerCounters> => this.source.peerRows() ?? [];
    return (function* () {
      yield text;
      yield* peerMetricsPieces(rows);
    })();
  }
}

/** vxroute_batch_size: how many packets each read returned, per worker and direction. */
class BatchSizeHistogram {
  readonly name = 'vxroute_batch_size';
  readonly help = 'Packets per batch read by a worker (a batch is one readBatch or recvmmsg call).';
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(private readonly current: () => CounterSnapshot | undefined) {}

  get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    for (const w of this.current()?.workers ?? []) {
      for (const d of DIRECTIONS) {
        const labels = { worker: String(w.index), direction: d };
        let cumulative = 0;
        for (let i = 0; i < BATCH_BUCKETS; i++) {
          cumulative += w[d].sizes[i];
          values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: bucketUpperBound(i) }, value: cumulative });
        }
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: w[d].batches });
        values.push({ metricName: `${this.name}_sum`, labels, value: w[d].packets });
        values.push({ metricName: `${this.name}_count`, labels, value: w[d].batches });
      }
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator as never, collect: () => undefined, values });
  }
}
