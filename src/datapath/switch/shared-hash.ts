// An open-addressing hash table in a SharedArrayBuffer that every shard reads without a lock and
// changes under one spinlock: linear probing, deletion by backward shift (no tombstones to fill
// the table up), and a sequence word per slot, odd while the slot is written, so that a reader
// never takes half of one key for a whole one. A reader may miss an entry that a concurrent
// deletion is moving; the switch treats a miss as "unknown" and floods, which is always safe.
//
// The slot's sequence is also its write claim: a writer takes it from even to odd with a
// compare-and-swap, so a lock-free refresh (claimFound) and the lock holder never write one slot
// at once, and a refresh lands only on the entry that find() read, never on one shifted there.
//
// Every word is an Int32 read and written with Atomics: the JS memory model orders only atomic
// accesses around the sequence checks (plain loads may be satisfied after them on arm64). Node
// 20's V8 calls a builtin for each, so a lookup reads as few words as it can: whether the slot is
// used is a bit of its sequence word, and the caller asks only for the value words it needs.
//
// Slot layout, in Int32 words: the sequence (bit 0: being written, bit 1: used, then a count of
// writes), the key words, the value words. After the slots, Float64 words that only the lock
// holder touches, for the owner.

const LOCK = 0;
const COUNT = 1;
/** Header words: the lock, the entry count, and room for the owner's statistics. */
export const HEADER_WORDS = 16;
/** First header word free for the owner. */
export const OWNER_WORDS_AT = 2;

const S_SEQ = 0;
const S_KEY = 1;
/** Sequence bits. A claim adds WRITING; a release adds what makes the next count with the used bit wanted. */
const WRITING = 1;
const USED = 2;
const KEEP_USED = 3;
const SET_USED = 5;
const CLEAR_USED = 1;

/** How long a reader waits for a slot being written before it calls the key missing. */
const READ_SPINS = 1000;

export interface HashShape {
  /** Slots (a power of two); the owner keeps the count at most half of it. */
  slots: number;
  keyWords: number;
  valueWords: number;
  /** Float64 words after the slots, for the lock holder. */
  extraFloats: number;
}

export function allocateHash(shape: HashShape): SharedArrayBuffer {
  const int32Bytes = (HEADER_WORDS + shape.slots * slotWords(shape)) * 4;
  const aligned = Math.ceil(int32Bytes / 8) * 8;
  return new SharedArrayBuffer(aligned + shape.extraFloats * 8);
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
  /** The owner's Float64 words, for the lock holder only. */
  readonly extra: Float64Array;
  readonly slots: number;
  private readonly mask: number;
  private readonly width: number;
  private readonly keyWords: number;
  private readonly valueAt: number;
  /** The sequence of the slot the last find() returned, for claimFound. */
  private foundSeq = 0;

  constructor(sab: SharedArrayBuffer, readonly shape: HashShape) {
    this.slots = shape.slots;
    this.mask = shape.slots - 1;
    this.width = slotWords(shape);
    this.keyWords = shape.keyWords;
    this.valueAt = S_KEY + shape.keyWords;
    const int32Words = HEADER_WORDS + shape.slots * this.width;
    this.words = new Int32Array(sab, 0, int32Words);
    this.extra = new Float64Array(sab, Math.ceil((int32Words * 4) / 8) * 8, shape.extraFloats);
  }

  count(): number {
    return Atomics.load(this.words, COUNT);
  }

  /** Tries to take the writer lock `spins` times; true when taken. */
  tryLock(spins: number): boolean {
    // The count moves before the first try, not after a failed one: a thread that has only ever
    // found the lock free (a warm-up) leaves V8 feedback for the whole loop, so the first spin
    // under contention does not deoptimize the optimized caller (the policy stage, inlined).
    for (let left = spins; left-- > 0; ) if (Atomics.compareExchange(this.words, LOCK, 0, 1) === 0) return true;
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
   * Lock-free lookup: the slot holding `key`, or -1. Its first `values.length` value words are
   * copied into `values` under the slot's sequence check, so they belong to that key even if the
   * slot changes after.
   */
  find(key: Int32Array, values: Int32Array): number {
    const w = this.words;
    let i = this.home(key);
    probing: for (let probes = 0; probes <= this.mask; probes++) {
      const base = HEADER_WORDS + i * this.width;
      // The count moves before each read, not after one that raced a writer: a thread that never
      // met a writer (a warm-up) leaves V8 feedback for it, as in tryLock.
      for (let reads = READ_SPINS; reads-- > 0; ) {
        const seq = Atomics.load(w, base + S_SEQ);
        if ((seq & WRITING) !== 0) continue;
        if ((seq & USED) === 0) return -1;
        const match = this.keyAt(base, key);
        if (match) for (let v = 0; v < values.length; v++) values[v] = Atomics.load(w, base + this.valueAt + v);
        if (Atomics.load(w, base + S_SEQ) !== seq) continue;
        if (match) {
          this.foundSeq = seq;
          return i;
        }
        i = (i + 1) & this.mask;
        continue probing;
      }
      return -1;
    }
    return -1;
  }

  /**
   * Claims for writing the slot the last find() returned if it is unchanged since (its sequence
   * as find() read it): still the same entry with the values find() copied. Lock-free.
   */
  claimFound(slot: number): boolean {
    const seq = this.foundSeq;
    return Atomics.compareExchange(this.words, HEADER_WORDS + slot * this.width + S_SEQ, seq, seq + WRITING) === seq;
  }

  /** The sequence of the slot the last find() returned, as find() read it. */
  foundSequence(): number {
    return this.foundSeq;
  }

  /**
   * Whether `slot` holds still what was read when its sequence was `seq` (from foundSequence or
   * release): every write moves the sequence on, so one atomic load tells. When it does,
   * claimFound() claims it as after a find() that returned it. A reader that kept a copy of a
   * slot's key and values reads them again from this one word.
   */
  unchangedSince(slot: number, seq: number): boolean {
    if (Atomics.load(this.words, HEADER_WORDS + slot * this.width + S_SEQ) !== seq) return false;
    this.foundSeq = seq;
    return true;
  }

  /** Claims a slot for writing, waiting for a refresher that holds it (a few stores). Lock holder only. */
  claim(slot: number): void {
    const at = HEADER_WORDS + slot * this.width + S_SEQ;
    for (;;) {
      const seq = Atomics.load(this.words, at);
      if ((seq & WRITING) === 0 && Atomics.compareExchange(this.words, at, seq, seq + WRITING) === seq) return;
    }
  }

  /** Ends a claim: the slot's new contents are whole (the count wraps harmlessly past 2^31). Returns the slot's new sequence. */
  release(slot: number, change = KEEP_USED): number {
    return (Atomics.add(this.words, HEADER_WORDS + slot * this.width + S_SEQ, change) + change) | 0;
  }

  /** Sets value word `v` of a slot that the caller has claimed. */
  store(slot: number, v: number, value: number): void {
    Atomics.store(this.words, HEADER_WORDS + slot * this.width + this.valueAt + v, value);
  }

  /** Sets all value words of a slot at once, so that no reader sees half of the change. Lock holder only. */
  setValues(slot: number, values: Int32Array): void {
    this.claim(slot);
    for (let v = 0; v < values.length; v++) this.store(slot, v, values[v]);
    this.release(slot);
  }

  /** Value word `v` of a slot, read alone (the lock holder's view, or one word that needs no other). */
  value(slot: number, v: number): number {
    return Atomics.load(this.words, HEADER_WORDS + slot * this.width + this.valueAt + v);
  }

  used(slot: number): boolean {
    return (Atomics.load(this.words, HEADER_WORDS + slot * this.width + S_SEQ) & USED) !== 0;
  }

  /** Key word `k` of a slot (lock holder, or a reader that checks with readSlot). */
  key(slot: number, k: number): number {
    return Atomics.load(this.words, HEADER_WORDS + slot * this.width + S_KEY + k);
  }

  /** The slot holding `key`, or -1; for the lock holder only. */
  findLocked(key: Int32Array): number {
    let i = this.home(key);
    for (let probes = 0; probes <= this.mask; probes++) {
      const base = HEADER_WORDS + i * this.width;
      if ((Atomics.load(this.words, base + S_SEQ) & USED) === 0) return -1;
      if (this.keyAt(base, key)) return i;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  /** Adds `key` (absent: check with findLocked) with `values`; returns its slot. Lock holder only. */
  insert(key: Int32Array, values: Int32Array): number {
    const w = this.words;
    let i = this.home(key);
    while (this.used(i)) i = (i + 1) & this.mask;
    const base = HEADER_WORDS + i * this.width;
    this.claim(i);
    for (let k = 0; k < this.keyWords; k++) Atomics.store(w, base + S_KEY + k, key[k]);
    for (let v = 0; v < values.length; v++) this.store(i, v, values[v]);
    this.release(i, SET_USED);
    Atomics.add(w, COUNT, 1);
    return i;
  }

  /**
   * Copies each entry's key and values into `key` and `values` and calls `visit`: a debug view.
   * It holds the lock, so that no entry moves during the walk and each is listed once.
   */
  readEach(key: Int32Array, values: Int32Array, visit: () => void): void {
    this.lock();
    try {
      for (let slot = 0; slot < this.slots; slot++) {
        if (!this.used(slot)) continue;
        while (!this.readSlot(slot, key, values)); // a refresh holds the slot for a few stores
        visit();
      }
    } finally {
      this.unlock();
    }
  }

  /** Copies a slot's key and values: false when the slot is empty or was being written. */
  private readSlot(slot: number, key: Int32Array, values: Int32Array): boolean {
    const w = this.words;
    const base = HEADER_WORDS + slot * this.width;
    const seq = Atomics.load(w, base + S_SEQ);
    if ((seq & WRITING) !== 0 || (seq & USED) === 0) return false;
    for (let k = 0; k < this.keyWords; k++) key[k] = Atomics.load(w, base + S_KEY + k);
    for (let v = 0; v < values.length; v++) values[v] = Atomics.load(w, base + this.valueAt + v);
    return Atomics.load(w, base + S_SEQ) === seq;
  }

  /**
   * Removes the entry in `slot` and shifts later entries of its probe run back into the hole
   * (Knuth's Algorithm R), so that no probe run is broken. An entry being moved stays claimed
   * until its old slot is overwritten, so that no refresh lands on the copy left behind.
   * Lock holder only.
   */
  remove(slot: number): void {
    const w = this.words;
    let hole = slot;
    let j = slot;
    this.claim(hole);
    for (;;) {
      j = (j + 1) & this.mask;
      const from = HEADER_WORDS + j * this.width;
      if (!this.used(j)) break;
      const home = this.homeOfSlot(from);
      // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      this.claim(j);
      const to = HEADER_WORDS + hole * this.width;
      for (let k = S_KEY; k < this.width; k++) Atomics.store(w, to + k, Atomics.load(w, from + k));
      this.release(hole);
      hole = j;
    }
    this.release(hole, CLEAR_USED);
    Atomics.sub(w, COUNT, 1);
  }

  /** The slot where `key`'s probe run starts: an owner looks around it for an entry to evict. */
  homeSlot(key: Int32Array): number {
    return this.home(key);
  }

  /** From the last key word: the owners put the words that differ most there (a MAC's last four bytes, an IPv4 address). */
  private keyAt(base: number, key: Int32Array): boolean {
    for (let k = this.keyWords - 1; k >= 0; k--) if (Atomics.load(this.words, base + S_KEY + k) !== key[k]) return false;
    return true;
  }

  private home(key: Int32Array): number {
    let h = 0x9e3779b9 | 0;
    for (let k = 0; k < this.keyWords; k++) h = Math.imul(h ^ key[k], 0x85ebca6b) ^ (h >>> 13);
    return (h ^ (h >>> 16)) & this.mask;
  }

  private homeOfSlot(base: number): number {
    let h = 0x9e3779b9 | 0;
    for (let k = 0; k < this.keyWords; k++) h = Math.imul(h ^ Atomics.load(this.words, base + S_KEY + k), 0x85ebca6b) ^ (h >>> 13);
    return (h ^ (h >>> 16)) & this.mask;
  }
}
