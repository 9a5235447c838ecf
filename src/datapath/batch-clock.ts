// The time of a shard's batches, read once per wake by the native wait and shared by its stages.
// Date.now() and performance.now() each return a new heap number (16 bytes) on every call, even
// in optimized code; a Float64Array element read into a counter or a comparison allocates nothing.
export const enum ClockSlot {
  /** Wall-clock milliseconds, Date.now()'s clock: what counters store (a peer's last packet). */
  wallMs = 0,
  /** CLOCK_MONOTONIC milliseconds (process.hrtime's clock), for intervals: rate limits, reports. */
  monotonicMs = 1,
}

export type BatchClock = Float64Array;

/** A clock set to now; the shard's wait keeps it current. */
export function batchClock(): BatchClock {
  const clock = new Float64Array(2);
  clock[ClockSlot.wallMs] = Date.now();
  clock[ClockSlot.monotonicMs] = Number(process.hrtime.bigint()) / 1e6;
  return clock;
}
