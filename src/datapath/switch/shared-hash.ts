// An open-addressing hash table in a SharedArrayBuffer that every shard reads without a lock and
// changes under one spinlock: linear probing, deletion by backward shift (no tombstones to fill
// the table up), and a sequence word per slot, odd while the slot is written, so that a reader
// never takes half of one key for a whole one. A reader may miss an entry that a concurrent
// deletion is moving; the switch treats a miss as "unknown" and floods, which is always safe.
//
// Slot layout, in Int32 words: seq, used, key words, value words; `seen` (ms since the epoch)
// lives in a Float64 array beside the slots.

const LOCK = 0;
const COUNT = 1;
/** Header words: the lock, the entry count, and room for the owner's statistics. */
export const HEADER_WORDS = 16;
/** First header word free for the owner. */
export const OWNER_WORDS_AT = 2;

const S_SEQ = 0;
const S_USED = 1;
const S_KEY = 2;

/** How long a reader waits for a slot being written before it calls the key missing. */
const READ_SPINS = 1000;

export interface HashShape {
  /** Slots (a power of two); the owner keeps the count at most half of it. */
  slots: number;
  keyWords: number;
  valueWords: number;
  /** Extra Float64 words after the slots, for the owner. */
  extraFloats: number;
}

export function allocateHash(shape: HashShape): SharedArrayBuffer {
  const w = slotWords(shape);
  const int32Bytes = (HEADER_WORDS + shape.slots * w) * 4;
  const aligned = Math.ceil(int32Bytes / 8) * 8;
  return new SharedArrayBuffer(aligned + (shape.slots + shape.extraFloats) * 8);
}

/** The smallest power of two at least twice `entries`: linear probing stays short at half load. */
export function slotsFor(entries: number): number {
  let slots = 16;
  while (slots < entries * 2) slots *= 2;
  return slots;
}

function slotWords(shape: HashShape): number {
  return S_KEY + shape.keyWords + shape.valueWords;
}

export class SharedHash {
  readonly words: Int32Array;
  /** Per slot: when its entry was last seen (ms); then the owner's extra floats. */
  readonly seen: Float64Array;
  readonly extra: Float64Array;
  readonly slots: number;
  private readonly mask: number;
  private readonly width: number;
  private readonly keyWords: number;
  private readonly valueAt: number;

  constructor(sab: SharedArrayBuffer, readonly shape: HashShape) {
    this.slots = shape.slots;
    this.mask = shape.slots - 1;
    this.width = slotWords(shape);
    this.keyWords = shape.keyWords;
    this.valueAt = S_KEY + shape.keyWords;
    const int32Words = HEADER_WORDS + shape.slots * this.width;
    this.words = new Int32Array(sab, 0, int32Words);
    const floatsAt = Math.ceil((int32Words * 4) / 8) * 8;
    this.seen = new Float64Array(sab, floatsAt, shape.slots);
    this.extra = new Float64Array(sab, floatsAt + shape.slots * 8, shape.extraFloats);
  }

  count(): number {
    return Atomics.load(this.words, COUNT);
  }

  /** Tries to take the writer lock `spins` times; true when taken. */
  tryLock(spins: number): boolean {
    for (let i = 0; i < spins; i++) if (Atomics.compareExchange(this.words, LOCK, 0, 1) === 0) return true;
    return false;
  }

  /** Takes the writer lock, waiting as long as it takes (the main thread's sweeps). */
  lock(): void {
    while (Atomics.compareExchange(this.words, LOCK, 0, 1) !== 0) Atomics.wait(this.words, LOCK, 1, 1);
  }

  unlock(): void {
    Atomics.store(this.words, LOCK, 0);
    Atomics.notify(this.words, LOCK);
  }

  /**
   * Lock-free lookup: the slot holding `key`, or -1. Its value words are copied into `values`
   * under the slot's sequence check, so they belong to that key even if the slot changes after.
   */
  find(key: Int32Array, values: Int32Array): number {
    const w = this.words;
    let i = this.home(key);
    for (let probes = 0; probes <= this.mask; probes++) {
      const base = HEADER_WORDS + i * this.width;
      let spins = 0;
      for (;;) {
        const seq = Atomics.load(w, base + S_SEQ);
        if ((seq & 1) === 0) {
          const used = w[base + S_USED];
          const match = used !== 0 && this.keyAt(base, key);
          if (match) for (let v = 0; v < values.length; v++) values[v] = w[base + this.valueAt + v];
          if (Atomics.load(w, base + S_SEQ) === seq) {
            if (used === 0) return -1;
            if (match) return i;
            break;
          }
        }
        if (++spins === READ_SPINS) return -1;
      }
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  /** The slot holding `key`, or -1; for the lock holder only. */
  findLocked(key: Int32Array): number {
    const w = this.words;
    let i = this.home(key);
    for (let probes = 0; probes <= this.mask; probes++) {
      const base = HEADER_WORDS + i * this.width;
      if (w[base + S_USED] === 0) return -1;
      if (this.keyAt(base, key)) return i;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  /** Adds `key` (absent: check with findLocked) with `values`; returns its slot. Lock holder only. */
  insert(key: Int32Array, values: Int32Array, seen: number): number {
    const w = this.words;
    let i = this.home(key);
    while (w[HEADER_WORDS + i * this.width + S_USED] !== 0) i = (i + 1) & this.mask;
    const base = HEADER_WORDS + i * this.width;
    Atomics.add(w, base + S_SEQ, 1);
    for (let k = 0; k < this.keyWords; k++) w[base + S_KEY + k] = key[k];
    for (let v = 0; v < values.length; v++) w[base + this.valueAt + v] = values[v];
    this.seen[i] = seen;
    w[base + S_USED] = 1;
    Atomics.add(w, base + S_SEQ, 1);
    Atomics.add(w, COUNT, 1);
    return i;
  }

  /** Sets value word `v` of a slot under its sequence word. Lock holder only. */
  setValue(slot: number, v: number, value: number): void {
    const base = HEADER_WORDS + slot * this.width;
    Atomics.add(this.words, base + S_SEQ, 1);
    this.words[base + this.valueAt + v] = value;
    Atomics.add(this.words, base + S_SEQ, 1);
  }

  /** Sets all value words of a slot at once, so that no reader sees half of the change. Lock holder only. */
  setValues(slot: number, values: Int32Array): void {
    const base = HEADER_WORDS + slot * this.width;
    Atomics.add(this.words, base + S_SEQ, 1);
    for (let v = 0; v < values.length; v++) this.words[base + this.valueAt + v] = values[v];
    Atomics.add(this.words, base + S_SEQ, 1);
  }

  /** Value word `v` of a slot, read without a sequence check (a counter, say). */
  value(slot: number, v: number): number {
    return this.words[HEADER_WORDS + slot * this.width + this.valueAt + v];
  }

  /** Adds to value word `v` of a slot atomically (a counter the shards all bump). */
  addValue(slot: number, v: number, n: number): void {
    Atomics.add(this.words, HEADER_WORDS + slot * this.width + this.valueAt + v, n);
  }

  used(slot: number): boolean {
    return this.words[HEADER_WORDS + slot * this.width + S_USED] !== 0;
  }

  /** Key word `k` of a slot (lock holder, or a reader that checks with readSlot). */
  key(slot: number, k: number): number {
    return this.words[HEADER_WORDS + slot * this.width + S_KEY + k];
  }

  /**
   * Copies a slot's key and values for a reader that walks the table (a debug view): false when
   * the slot is empty or was being written.
   */
  readSlot(slot: number, key: Int32Array, values: Int32Array): boolean {
    const w = this.words;
    const base = HEADER_WORDS + slot * this.width;
    const seq = Atomics.load(w, base + S_SEQ);
    if (seq & 1 || w[base + S_USED] === 0) return false;
    for (let k = 0; k < this.keyWords; k++) key[k] = w[base + S_KEY + k];
    for (let v = 0; v < values.length; v++) values[v] = w[base + this.valueAt + v];
    return Atomics.load(w, base + S_SEQ) === seq;
  }

  /**
   * Removes the entry in `slot` and shifts later entries of its probe run back into the hole
   * (Knuth's Algorithm R), so that no probe run is broken. Lock holder only.
   */
  remove(slot: number): void {
    const w = this.words;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & this.mask;
      const from = HEADER_WORDS + j * this.width;
      if (w[from + S_USED] === 0) break;
      const home = this.homeOfSlot(from);
      // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      const to = HEADER_WORDS + hole * this.width;
      Atomics.add(w, to + S_SEQ, 1);
      for (let k = S_USED; k < this.width; k++) w[to + k] = w[from + k];
      this.seen[hole] = this.seen[j];
      Atomics.add(w, to + S_SEQ, 1);
      hole = j;
    }
    const base = HEADER_WORDS + hole * this.width;
    Atomics.add(w, base + S_SEQ, 1);
    w[base + S_USED] = 0;
    Atomics.add(w, base + S_SEQ, 1);
    Atomics.sub(w, COUNT, 1);
  }

  private keyAt(base: number, key: Int32Array): boolean {
    for (let k = 0; k < this.keyWords; k++) if (this.words[base + S_KEY + k] !== key[k]) return false;
    return true;
  }

  private home(key: Int32Array): number {
    let h = 0x9e3779b9 | 0;
    for (let k = 0; k < this.keyWords; k++) h = Math.imul(h ^ key[k], 0x85ebca6b) ^ (h >>> 13);
    return (h ^ (h >>> 16)) & this.mask;
  }

  private homeOfSlot(base: number): number {
    let h = 0x9e3779b9 | 0;
    for (let k = 0; k < this.keyWords; k++) h = Math.imul(h ^ this.words[base + S_KEY + k], 0x85ebca6b) ^ (h >>> 13);
    return (h ^ (h >>> 16)) & this.mask;
  }
}
