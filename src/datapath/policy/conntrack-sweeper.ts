// The connection table's aging on the main thread: every entry is looked at once per aging
// period, as by one whole sweep a period, but in slices on a faster tick, so that no call scans
// the whole table (131,072 slots at the default cap) at once.
import type { Conntrack } from './conntrack.js';

/** Ticks per aging period, each sweeping its share of the table's blocks. */
export const SWEEP_TICKS = 16;

/** The blocks one tick sweeps: SWEEP_TICKS ticks cover the table. */
export function blocksPerTick(ct: Conntrack): number {
  return Math.ceil(ct.blocks / SWEEP_TICKS);
}

/** Sweeps `ct` in slices, the whole table every `periodMs`; returns what stops it. */
export function sweepEvery(ct: Conntrack, periodMs: number): () => void {
  const blocks = blocksPerTick(ct);
  const timer = setInterval(() => ct.sweep(Date.now(), blocks), periodMs / SWEEP_TICKS).unref();
  return () => clearInterval(timer);
}
