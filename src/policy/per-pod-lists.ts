// A list per pod slot kept as CSR (pod i's words are words[starts[i]] .. words[starts[i + 1] − 1]),
// as the compiled buffer holds rule ids and named ports: when a few pods change, the lists of the
// others are copied in runs (TypedArray.set) rather than built again.

export interface PerPodLists {
  /** podCount + 1 entries. */
  starts: Int32Array;
  words: Int32Array;
}

/**
 * `before` for `podCount` slots (at least as many as before; the new ones empty) with the lists
 * of the `changed` slots (ascending, no repeats) replaced by `lists` (one per changed slot).
 */
export function patchedLists(before: PerPodLists, podCount: number, changed: readonly number[], lists: ReadonlyArray<ArrayLike<number>>): PerPodLists {
  const { starts, words } = before;
  const oldCount = starts.length - 1;
  let total = words.length;
  for (let k = 0; k < changed.length; k++) {
    const c = changed[k];
    if (c < oldCount) total -= starts[c + 1] - starts[c];
    total += lists[k].length;
  }
  const out: PerPodLists = { starts: new Int32Array(podCount + 1), words: new Int32Array(total) };
  let from = 0;
  let at = 0;
  for (let k = 0; k < changed.length; k++) {
    const c = changed[k];
    at = copyRun(before, out, from, c, at);
    out.starts[c] = at;
    out.words.set(lists[k], at);
    at += lists[k].length;
    from = c + 1;
  }
  at = copyRun(before, out, from, podCount, at);
  out.starts[podCount] = at;
  return out;
}

/** Copies the lists of slots from .. to − 1 (empty past the old count) to `at`; returns where the next starts. */
function copyRun(before: PerPodLists, out: PerPodLists, from: number, to: number, at: number): number {
  const { starts, words } = before;
  const end = Math.min(to, starts.length - 1);
  if (end > from) {
    const shift = at - starts[from];
    out.words.set(words.subarray(starts[from], starts[end]), at);
    for (let i = from; i < end; i++) out.starts[i] = starts[i] + shift;
    at += starts[end] - starts[from];
  }
  for (let i = Math.max(from, end); i < to; i++) out.starts[i] = at;
  return at;
}
