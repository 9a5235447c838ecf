// A per-peer metric made at scrape time from the scrape's counter snapshot and kept nowhere: a
// prom-client Counter would keep one labelled entry per peer between scrapes (25,000 for the five
// per-peer metrics of 5,000 peers), which the daemon's resident set then carried for good.
import type { MetricObjectWithValues, MetricValueWithName } from 'prom-client';
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';

type PeerCounters = CounterSnapshot['peers'][number];

export class PeerMetric {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    private readonly current: () => CounterSnapshot | undefined,
    /** The peer's value, or undefined for no sample. */
    private readonly pick: (p: PeerCounters) => number | undefined,
  ) {}

  get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    for (const p of this.current()?.peers ?? []) {
      const value = this.pick(p);
      if (value !== undefined) values.push({ metricName: this.name, labels: { peer: p.name }, value });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator as never, collect: () => undefined, values });
  }
}
