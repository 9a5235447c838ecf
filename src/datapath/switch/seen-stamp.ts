// When a switch table entry was last seen, as one Int32 word (so that it is read and written with
// Atomics like the rest of its slot): the time in ms modulo 2^32. Ages are differences modulo 2^32,
// right while they stay under 2^31 ms (24.8 days): the main thread removes every entry older than
// the aging time (--fdb-aging, at most 1,000,000 s = 11.6 days) once a second.

/** The stamp of `now` (ms since the epoch). */
export function stampOf(now: number): number {
  return now | 0;
}

/** How long before `now` (ms since the epoch) an entry stamped `stamp` was seen, in ms. */
export function ageOf(stamp: number, now: number): number {
  return ((now | 0) - stamp) | 0;
}
