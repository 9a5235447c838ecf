// The forwarding database of switch mode: source MAC → where it was last seen (this node's
// bridge, or a peer node), shared by every shard. Shards look up and refresh entries without a
// lock; learning a new MAC or moving one takes the table's spinlock for a few stores. At the cap
// the least recently seen entry makes room (oldest first); the main thread ages entries out.
import { formatMac } from '../../address/mac-text.js';
import { ageOf, stampOf } from './seen-stamp.js';
import { allocateHash, HEADER_WORDS, OWNER_WORDS_AT, SharedHash, slotsFor, type HashShape } from './shared-hash.js';

/** Where a MAC lives: LOCAL (behind our TAP) or a peer id (≥ 0); MISS from a lookup. */
export const LOCAL = -1;
export const MISS = -2;

const V_WHERE = 0;
const V_FRAMES = 1;
/** A seen stamp (seen-stamp.ts). */
const V_SEEN = 2;

/** Statistics in the header words: how many entries were learned, moved, aged out, evicted. */
export const FdbStat = Object.freeze({ learned: OWNER_WORDS_AT, moved: OWNER_WORDS_AT + 1, aged: OWNER_WORDS_AT + 2, evicted: OWNER_WORDS_AT + 3, max: OWNER_WORDS_AT + 4, candidates: OWNER_WORDS_AT + 5, nextCandidate: OWNER_WORDS_AT + 6 });

/** A learning shard waits this long for the lock, then learns on a later frame instead. */
const LEARN_SPINS = 64;
/** Lock-free refresh attempts before a shard takes the lock: each failure means a writer made progress. */
const REFRESH_TRIES = 4;

export interface FdbEntry {
  mac: string;
  /** LOCAL or a peer id. */
  where: number;
  /** When a frame from it was last seen (ms since the epoch). */
  seen: number;
  frames: number;
}

export interface FdbStats {
  /** Entries now. */
  size: number;
  max: number;
  learned: number;
  moved: number;
  aged: number;
  evicted: number;
}

/** Eviction candidates gathered per scan: the oldest 1/16 of the cap. */
function candidateCount(max: number): number {
  return Math.max(16, max >> 4);
}

function shape(max: number): HashShape {
  return { slots: slotsFor(max), keyWords: 2, valueWords: 3, extraFloats: 2 * candidateCount(max) };
}

export function allocateFdb(max: number): SharedArrayBuffer {
  const sab = allocateHash(shape(max));
  new Int32Array(sab, 0, HEADER_WORDS)[FdbStat.max] = max;
  return sab;
}

export class Fdb {
  /**
   * The clock of the batch being switched (ms since the epoch), set once per batch: a double
   * passed to every learn() would be boxed on the heap once per frame.
   */
  now = 0;
  private readonly table: SharedHash;
  private readonly max: number;
  private readonly key = new Int32Array(2);
  /** The eviction's own key: `key` holds the MAC being learned meanwhile. */
  private readonly victim = new Int32Array(2);
  /** What a lookup copies: where. A refresh: where and the frame count. (Each word read costs.) */
  private readonly where = new Int32Array(1);
  private readonly values = new Int32Array(2);
  private readonly fresh = new Int32Array(3);
  /** Scratch for the eviction scan, allocated on the first one (only a full table needs it). */
  private ages: Float64Array | undefined;

  constructor(sab: SharedArrayBuffer) {
    const max = new Int32Array(sab, 0, HEADER_WORDS)[FdbStat.max];
    this.max = max;
    this.table = new SharedHash(sab, shape(max));
  }

  /** Where the MAC at buf[off .. off+6] lives: LOCAL, a peer id, or MISS. */
  lookup(buf: Uint8Array, off: number): number {
    this.setKey(buf, off);
    return this.table.find(this.key, this.where) < 0 ? MISS : this.where[V_WHERE];
  }

  /**
   * Records that a frame from the MAC at buf[off .. off+6] arrived from `where` at `this.now`:
   * refreshes a known entry, moves one seen elsewhere, or learns a new one (evicting the oldest at the cap).
   */
  learn(buf: Uint8Array, off: number, where: number): void {
    const t = this.table;
    const stamp = stampOf(this.now);
    this.setKey(buf, off);
    for (let tries = 0; tries < REFRESH_TRIES; tries++) {
      const slot = t.find(this.key, this.values);
      if (slot < 0 || this.values[V_WHERE] !== where) break;
      // Refreshed only if the slot still holds what find() read: a deletion may have shifted another MAC there.
      if (!t.claimFound(slot)) continue;
      t.store(slot, V_FRAMES, this.values[V_FRAMES] + 1);
      t.store(slot, V_SEEN, stamp);
      t.release(slot);
      return;
    }
    if (!t.tryLock(LEARN_SPINS)) return;
    try {
      const held = t.findLocked(this.key);
      if (held >= 0) {
        t.claim(held);
        if (t.value(held, V_WHERE) !== where) {
          t.store(held, V_WHERE, where);
          Atomics.add(t.words, FdbStat.moved, 1);
        }
        t.store(held, V_FRAMES, t.value(held, V_FRAMES) + 1);
        t.store(held, V_SEEN, stamp);
        t.release(held);
        return;
      }
      if (t.count() >= this.max) this.evictOldest();
      this.fresh[V_WHERE] = where;
      this.fresh[V_FRAMES] = 1;
      this.fresh[V_SEEN] = stamp;
      t.insert(this.key, this.fresh);
      Atomics.add(t.words, FdbStat.learned, 1);
    } finally {
      t.unlock();
    }
  }

  /** Removes entries not seen for `agingMs`; returns how many. Main thread. */
  age(now: number, agingMs: number): number {
    return this.removeWhere((slot) => ageOf(this.table.value(slot, V_SEEN), now) > agingMs, FdbStat.aged);
  }

  /** Forgets the MACs learned from peers that left the table. Main thread. */
  forgetPeers(isPeer: (id: number) => boolean): number {
    return this.removeWhere((slot) => {
      const where = this.table.value(slot, V_WHERE);
      return where !== LOCAL && !isPeer(where);
    });
  }

  /** Every entry, as of `now` (ms since the epoch). */
  entries(now: number): FdbEntry[] {
    const t = this.table;
    const key = new Int32Array(2);
    const values = new Int32Array(3);
    const out: FdbEntry[] = [];
    t.readEach(key, values, () => {
      const mac = Buffer.alloc(6);
      mac.writeUInt16BE(key[0] & 0xffff, 0);
      mac.writeInt32BE(key[1], 2);
      out.push({ mac: formatMac(mac), where: values[V_WHERE], seen: now - ageOf(values[V_SEEN], now), frames: values[V_FRAMES] >>> 0 });
    });
    return out;
  }

  stats(): FdbStats {
    const w = this.table.words;
    return {
      size: this.table.count(),
      max: this.max,
      learned: Atomics.load(w, FdbStat.learned) >>> 0,
      moved: Atomics.load(w, FdbStat.moved) >>> 0,
      aged: Atomics.load(w, FdbStat.aged) >>> 0,
      evicted: Atomics.load(w, FdbStat.evicted) >>> 0,
    };
  }

  private setKey(buf: Uint8Array, off: number): void {
    this.key[0] = (buf[off] << 8) | buf[off + 1];
    this.key[1] = (buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5];
  }

  private removeWhere(stale: (slot: number) => boolean, stat?: number): number {
    const t = this.table;
    let removed = 0;
    t.lock();
    try {
      for (let slot = 0; slot < t.slots; slot++) {
        // A removal may shift the next entry into this slot: look at it again.
        while (t.used(slot) && stale(slot)) {
          t.remove(slot);
          removed++;
        }
      }
      if (stat !== undefined) Atomics.add(t.words, stat, removed);
    } finally {
      t.unlock();
    }
    return removed;
  }

  /**
   * Removes the least recently seen entry. Candidates come from a scan that keeps the oldest
   * 1/16 of the cap, oldest first; one refreshed since the scan is skipped. Lock holder only.
   */
  private evictOldest(): void {
    const t = this.table;
    const w = t.words;
    let gathered = 0;
    for (;;) {
      let next = w[FdbStat.nextCandidate];
      if (next >= w[FdbStat.candidates]) {
        this.gatherCandidates();
        gathered++;
        next = 0;
      }
      w[FdbStat.nextCandidate] = next + 1;
      const mac = t.extra[2 * next];
      this.victim[0] = Math.floor(mac / 2 ** 32);
      this.victim[1] = mac % 2 ** 32 | 0;
      const slot = t.findLocked(this.victim);
      // Refreshed since the scan: younger than it looked, unless two scans found nothing better.
      if (slot >= 0 && (t.value(slot, V_SEEN) === t.extra[2 * next + 1] || gathered > 1)) {
        t.remove(slot);
        Atomics.add(w, FdbStat.evicted, 1);
        return;
      }
    }
  }

  /** Lists the oldest entries with their seen stamps, oldest first, in `extra`. */
  private gatherCandidates(): void {
    const t = this.table;
    const want = candidateCount(this.max);
    const ages = (this.ages ??= new Float64Array(t.slots));
    let n = 0;
    for (let slot = 0; slot < t.slots; slot++) if (t.used(slot)) ages[n++] = ageOf(t.value(slot, V_SEEN), this.now);
    const oldest = ages.subarray(0, n).sort().reverse();
    const threshold = oldest[Math.min(want, n) - 1];
    let count = 0;
    for (let slot = 0; slot < t.slots && count < want; slot++) {
      if (!t.used(slot)) continue;
      const seen = t.value(slot, V_SEEN);
      const age = ageOf(seen, this.now);
      if (age < threshold) continue;
      // Insertion by age keeps the list oldest first.
      let at = count++;
      while (at > 0 && ageOf(t.extra[2 * (at - 1) + 1], this.now) < age) {
        t.extra[2 * at] = t.extra[2 * (at - 1)];
        t.extra[2 * at + 1] = t.extra[2 * (at - 1) + 1];
        at--;
      }
      t.extra[2 * at] = t.key(slot, 0) * 2 ** 32 + (t.key(slot, 1) >>> 0);
      t.extra[2 * at + 1] = seen;
    }
    t.words[FdbStat.candidates] = count;
    t.words[FdbStat.nextCandidate] = 0;
  }
}
