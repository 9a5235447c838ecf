// What the in-process per-packet benches share: their variants measured in interleaved rounds
// (after a warm-up), then each run again untimed with the garbage collections it caused counted —
// a stage that allocated even a few bytes per packet would collect every few thousand batches.
import { PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';

/** Forwards `batches` batches of the variant; returns ns per packet (when `timed`). */
export type VariantRun<V extends string> = (variant: V, batches: number, timed?: boolean) => number;

export interface InterleavedResult<V extends string> {
  /** ns per packet, one figure per round. */
  results: Record<V, number[]>;
  /** Collections during the untimed run of rounds × batches. */
  collected: Record<V, number>;
}

export async function interleavedRounds<V extends string>(variants: readonly V[], run: VariantRun<V>, rounds: number, batches: number): Promise<InterleavedResult<V>> {
  let gcs = 0;
  const observer = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  const results = Object.fromEntries(variants.map((v) => [v, [] as number[]])) as Record<V, number[]>;
  const collected = Object.fromEntries(variants.map((v) => [v, 0])) as Record<V, number>;
  for (const v of variants) run(v, 2000); // warm-up
  for (let r = 0; r < rounds; r++) for (const v of variants) results[v].push(run(v, batches));
  // A collection's entry arrives a few ticks after it: let them in before and after each run.
  const settle = async () => {
    for (let k = 0; k < 3; k++) await tick();
  };
  for (const v of variants) {
    await settle();
    const before = gcs;
    run(v, batches * rounds, false);
    await settle();
    collected[v] = gcs - before;
  }
  observer.disconnect();
  return { results, collected };
}
