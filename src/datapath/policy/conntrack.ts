// The connection table of NetworkPolicy: one entry per connection, found from either direction,
// shared by every shard (any shard may see either direction of a flow) in a SharedArrayBuffer
// (the shared hash of switch mode: lock-free lookups, a spinlock to add). An entry holds the
// verdict, the FlowDecider generation it was taken under, the policy that decided (for the
// trace), which side initiated, the protocol state and when it was last seen.
//
// The key names the two endpoints in a fixed order (the lower address, then port, first), so a
// packet and its reply build the same key. Entries of a second kind follow the later fragments
// of a datagram whose first fragment was allowed, by the datagram's identification.
import { ConfigError } from '../../config-error.js';
import { addon } from '../../native/addon.js';
import type { FlowTuple } from '../../packet/flow-tuple.js';
import { ageOf, stampOf } from '../switch/seen-stamp.js';
import { allocateHash, HEADER_WORDS, OWNER_WORDS_AT, SharedHash, slotsFor, type HashShape } from '../switch/shared-hash.js';
import { CT_REPLIED, timeoutOf } from './conntrack-state.js';

/** Key words: kind and protocol; endpoint A's and B's first three address words; their last words; the ports (or the fragment id). */
const KEY_WORDS = 10;
const K_KIND = 0;
const K_A = 1;
const K_B = 4;
const K_A_LAST = 7;
const K_B_LAST = 8;
const K_PORTS = 9;
const KIND_CONNECTION = 0;
const KIND_FRAGMENTS = 1 << 8;

/** Value words: state | verdict << 4 | initiator is B << 6; the generation; the deciding policy's index; the seen stamp. */
export const V_FLAGS = 0;
export const V_GENERATION = 1;
export const V_REASON = 2;
export const V_SEEN = 3;
const VALUE_WORDS = 4;

const STATE_MASK = 0xf;
const VERDICT_SHIFT = 4;
const INITIATOR_B = 1 << 6;

/** Packs an entry's flags word. */
export function flagsOf(state: number, verdict: number, initiatorIsB: boolean): number {
  return state | (verdict << VERDICT_SHIFT) | (initiatorIsB ? INITIATOR_B : 0);
}
export const stateOf = (flags: number): number => flags & STATE_MASK;
export const verdictOf = (flags: number): number => (flags >> VERDICT_SHIFT) & 3;
export const initiatorIsB = (flags: number): boolean => (flags & INITIATOR_B) !== 0;

/** Statistics in the header words. */
const Stat = Object.freeze({ max: OWNER_WORDS_AT, inserted: OWNER_WORDS_AT + 1, evicted: OWNER_WORDS_AT + 2, expired: OWNER_WORDS_AT + 3, full: OWNER_WORDS_AT + 4, waited: OWNER_WORDS_AT + 5 });

/** What store() did. */
export const STORED = 0;
/** At the cap, and nothing in the new key's probe window could go: decided without an entry. */
export const FULL = 1;

/**
 * Each shard's copies of the entries it found: key, slot, the slot's sequence then, values. An
 * established flow's packet compares its key with the copy (plain reads of this thread's memory)
 * and the slot's sequence with the one copied (one atomic load) instead of reading the slot's
 * 15 words under its sequence check. Direct-mapped by a hash of the key.
 */
const COPY_SLOTS = 1024;
const C_KEY = 0;
const C_SLOT = KEY_WORDS;
const C_SEQ = KEY_WORDS + 1;
const C_VALUES = KEY_WORDS + 2;
const COPY_WORDS = KEY_WORDS + 2 + VALUE_WORDS;
/**
 * A copy is trusted only while the entry's seen stamp is this recent (the stage refreshes it once
 * a second): a slot's sequence cannot come back to the same value (2^30 writes) in that time.
 */
const COPY_TRUST_MS = 4000;

/** Slots looked at around a new key's home for an entry to evict at the cap. */
const EVICT_WINDOW = 32;
/** A shard spins this many tries for the lock before it sleeps on it. */
export const STORE_SPINS = 256;
/**
 * Slots per word of the occupancy map (the smallest table has 32 slots). A block's word is set by
 * the store that inserts into it and cleared by the sweep that finds it empty, both under the
 * lock; an entry moved by a removal lands only in a slot that was used, so a used slot's block is
 * always set and the sweep skips the others without reading their slots (a flood's table of a
 * few entries: 16 KiB read for 131,072 slots, not their 7.5 MiB).
 */
const BLOCK_SLOTS = 32;
/**
 * Blocks the sweep looks at per hold of the lock. A first packet waits for the lock rather than go
 * unstored (its replies would meet an ingress-isolated client as a flow of their own and be
 * denied), so no hold may be long: a whole 131,072-slot sweep took milliseconds under load.
 */
const SWEEP_CHUNK_BLOCKS = 16;

/** Words per 4 KiB page, the smallest the kernel maps. */
const PAGE_WORDS = 1024;

export const MIN_CONNTRACK_MAX = 16;
export const MAX_CONNTRACK_MAX = 1 << 22;

export interface ConntrackStats {
  entries: number;
  max: number;
  inserted: number;
  /** Removed at the cap to make room. */
  evicted: number;
  /** Removed by the sweep after their idle timeout. */
  expired: number;
  /** First packets decided without an entry: the table was at its cap with every nearby entry established. */
  full: number;
  /** First packets that found the lock held (by another shard or a sweep) past the spin, and slept on it. */
  waited: number;
}

function shape(max: number): HashShape {
  // The occupancy map's Int32 words, two to a Float64 word of the hash's extra room.
  return { slots: slotsFor(max), keyWords: KEY_WORDS, valueWords: VALUE_WORDS, extraFloats: Math.ceil(slotsFor(max) / BLOCK_SLOTS / 2) };
}

/** A table for at most `max` entries; `field` names the setting it came from, for the error. */
export function allocateConntrack(max: number, field = '--conntrack-max'): SharedArrayBuffer {
  if (!Number.isInteger(max) || max < MIN_CONNTRACK_MAX || max > MAX_CONNTRACK_MAX) {
    throw new ConfigError(field, `${max} is not a connection count from ${MIN_CONNTRACK_MAX} to ${MAX_CONNTRACK_MAX}; give an integer in that range (each entry takes about 120 bytes)`);
  }
  const sab = allocateHash(shape(max));
  const words = new Int32Array(sab);
  // The memory comes untouched from mmap: the first packet of a flow whose slot lies on a page no
  // one wrote yet would take two page faults (a read maps the zero page, the store then copies it)
  // while it holds the lock, tens of µs each on a virtual machine. Every page is written once here.
  for (let w = 0; w < words.length; w += PAGE_WORDS) words[w] = 0;
  // And they stay writable: each child the daemon forks (`nft`, `ip`) would write-protect them all
  // again (copy-on-write), a page fault on each page's next write; a child that execs needs none.
  addon.keepFromChildren(words);
  words[Stat.max] = max;
  return sab;
}

/** Memory the table takes for `max` entries, in bytes. */
export function conntrackBytes(max: number): number {
  const { slots, extraFloats } = shape(max);
  return Math.ceil(((HEADER_WORDS + slots * (1 + KEY_WORDS + VALUE_WORDS)) * 4) / 8) * 8 + extraFloats * 8;
}

/**
 * One thread's view of the table, with its scratch words (one per shard, never shared between
 * threads). Every `now` is ms since the epoch, or the same modulo 2^32 as an Int32 (only
 * differences of stamps are used): the datapath passes the Int32, which V8 never boxes.
 */
export class Conntrack {
  readonly max: number;
  readonly table: SharedHash;
  /** Blocks of BLOCK_SLOTS slots: what sweep() covers, a number of them per call. */
  readonly blocks: number;
  /** The key that setKey built. */
  readonly key = new Int32Array(KEY_WORDS);
  /** Set by setKey: the tuple's source is endpoint A (the lower one). */
  srcIsA = true;
  /** The value words of the entry lookup() found. */
  readonly found = new Int32Array(VALUE_WORDS);
  /** Lookups answered from this shard's copy of the entry (one atomic load). */
  copyHits = 0;
  /**
   * Tries for the lock before a store sleeps on it. A warm-up (one thread: it never finds the lock
   * held) sets 0 now and then, so the sleeping path has V8 feedback before real contention.
   */
  storeSpins = STORE_SPINS;
  private readonly fresh = new Int32Array(VALUE_WORDS);
  private readonly words = new Int32Array(8);
  private readonly copies = new Int32Array(COPY_SLOTS * COPY_WORDS).fill(-1);
  /** Where lookup() keeps the copy of the key's entry, -1 when it found none. */
  private copyAt = -1;
  /** Per block: non-zero while it may hold an entry (lock holder only). */
  private readonly occupied: Int32Array;
  /** The block the next sweep() starts at (the main thread's). */
  private sweepAt = 0;

  constructor(sab: SharedArrayBuffer) {
    this.max = new Int32Array(sab, 0, HEADER_WORDS)[Stat.max];
    this.table = new SharedHash(sab, shape(this.max));
    this.blocks = this.table.slots / BLOCK_SLOTS;
    this.occupied = new Int32Array(sab, this.table.extra.byteOffset, this.blocks);
  }

  /** Builds the key of the tuple's connection, or (`fragments`) of its datagram's later fragments. */
  setKey(t: FlowTuple, fragments: boolean): void {
    const w = this.words;
    for (let k = 0; k < 4; k++) {
      w[k] = (t.src[4 * k] << 24) | (t.src[4 * k + 1] << 16) | (t.src[4 * k + 2] << 8) | t.src[4 * k + 3];
      w[4 + k] = (t.dst[4 * k] << 24) | (t.dst[4 * k + 1] << 16) | (t.dst[4 * k + 2] << 8) | t.dst[4 * k + 3];
    }
    let order = 0;
    for (let k = 0; k < 4 && order === 0; k++) order = (w[k] >>> 0) - (w[4 + k] >>> 0);
    if (order === 0) order = t.srcPort - t.dstPort;
    const srcIsA = order <= 0;
    this.srcIsA = srcIsA;
    const a = srcIsA ? 0 : 4;
    const b = 4 - a;
    const key = this.key;
    key[K_KIND] = t.protocol | (fragments ? KIND_FRAGMENTS : KIND_CONNECTION);
    for (let k = 0; k < 3; k++) {
      key[K_A + k] = w[a + k];
      key[K_B + k] = w[b + k];
    }
    key[K_A_LAST] = w[a + 3];
    key[K_B_LAST] = w[b + 3];
    key[K_PORTS] = fragments ? t.fragmentId : srcIsA ? (t.srcPort << 16) | t.dstPort : (t.dstPort << 16) | t.srcPort;
  }

  /**
   * The slot of the key's entry with its values in `found`, or -1. Lock-free: from this shard's
   * copy of the entry when its slot is unchanged since (one atomic load), else from the table.
   */
  lookup(now: number): number {
    const key = this.key;
    const copies = this.copies;
    const c = copyIndex(key) * COPY_WORDS;
    const t = this.table;
    this.copyAt = -1;
    if (sameKey(copies, c, key) && ageOf(copies[c + C_VALUES + V_SEEN], now) < COPY_TRUST_MS && t.unchangedSince(copies[c + C_SLOT], copies[c + C_SEQ])) {
      for (let v = 0; v < VALUE_WORDS; v++) this.found[v] = copies[c + C_VALUES + v];
      this.copyAt = c;
      this.copyHits++;
      return copies[c + C_SLOT];
    }
    const slot = t.find(key, this.found);
    if (slot < 0) return -1;
    for (let k = 0; k < KEY_WORDS; k++) copies[c + C_KEY + k] = key[k];
    copies[c + C_SLOT] = slot;
    copies[c + C_SEQ] = t.foundSequence();
    for (let v = 0; v < VALUE_WORDS; v++) copies[c + C_VALUES + v] = this.found[v];
    this.copyAt = c;
    return slot;
  }

  /** Whether the entry in `found` had been idle longer than its state allows at `now`. */
  expired(now: number): boolean {
    return ageOf(this.found[V_SEEN], now) > timeoutOf(this.key[K_KIND] & 0xff, stateOf(this.found[V_FLAGS]));
  }

  /**
   * Rewrites the entry lookup() found in `slot`, if it is still what lookup() read (lock-free);
   * false when another shard changed or moved it meanwhile.
   */
  update(slot: number, flags: number, generation: number, reason: number, now: number): boolean {
    const t = this.table;
    if (!t.claimFound(slot)) return false;
    const seen = stampOf(now);
    t.store(slot, V_FLAGS, flags);
    t.store(slot, V_GENERATION, generation);
    t.store(slot, V_REASON, reason);
    t.store(slot, V_SEEN, seen);
    const seq = t.release(slot);
    // What we wrote is the entry now: the copy follows it.
    const c = this.copyAt;
    if (c >= 0) {
      const copies = this.copies;
      copies[c + C_SEQ] = seq;
      copies[c + C_VALUES + V_FLAGS] = flags;
      copies[c + C_VALUES + V_GENERATION] = generation;
      copies[c + C_VALUES + V_REASON] = reason;
      copies[c + C_VALUES + V_SEEN] = seen;
    }
    return true;
  }

  /** Adds the key's entry, or replaces it (an expired one, or another shard's newer decision). STORED or FULL. */
  store(flags: number, generation: number, reason: number, now: number): number {
    const t = this.table;
    const v = this.fresh;
    v[V_FLAGS] = flags;
    v[V_GENERATION] = generation;
    v[V_REASON] = reason;
    v[V_SEEN] = stampOf(now);
    if (!t.tryLock(this.storeSpins)) {
      Atomics.add(t.words, Stat.waited, 1);
      t.lock();
    }
    try {
      const held = t.findLocked(this.key);
      if (held >= 0) {
        t.setValues(held, v);
        return STORED;
      }
      if (t.count() >= this.max && !this.evictNear(now)) {
        Atomics.add(t.words, Stat.full, 1);
        return FULL;
      }
      Atomics.store(this.occupied, (t.insert(this.key, v) / BLOCK_SLOTS) | 0, 1);
      Atomics.add(t.words, Stat.inserted, 1);
      return STORED;
    } finally {
      t.unlock();
    }
  }

  /**
   * Removes every entry idle longer than its state allows in the next `blocks` blocks (all of them
   * by default), from where the last call ended, wrapping; returns how many. The main thread: a
   * slice per tick, the whole table once per aging period (sweepEvery).
   */
  sweep(now: number, blocks = this.blocks): number {
    const t = this.table;
    const occupied = this.occupied;
    let removed = 0;
    for (let left = Math.min(blocks, this.blocks); left > 0; ) {
      const start = this.sweepAt;
      const end = Math.min(start + SWEEP_CHUNK_BLOCKS, start + left, this.blocks);
      left -= end - start;
      this.sweepAt = end % this.blocks;
      let any = false;
      for (let block = start; block < end && !any; block++) any = Atomics.load(occupied, block) !== 0;
      // A block set after this read holds only entries stored since: the next period looks at them.
      if (!any) continue;
      t.lock();
      try {
        for (let block = start; block < end; block++) if (Atomics.load(occupied, block) !== 0) removed += this.sweepBlock(block, now);
      } finally {
        t.unlock();
      }
    }
    Atomics.add(t.words, Stat.expired, removed);
    return removed;
  }

  stats(): ConntrackStats {
    const w = this.table.words;
    return {
      entries: this.table.count(),
      max: this.max,
      inserted: Atomics.load(w, Stat.inserted) >>> 0,
      evicted: Atomics.load(w, Stat.evicted) >>> 0,
      expired: Atomics.load(w, Stat.expired) >>> 0,
      full: Atomics.load(w, Stat.full) >>> 0,
      waited: Atomics.load(w, Stat.waited) >>> 0,
    };
  }

  /** Sweeps one block, and marks it empty when nothing is left in it. Lock holder only. */
  private sweepBlock(block: number, now: number): number {
    const t = this.table;
    let removed = 0;
    let left = 0;
    for (let slot = block * BLOCK_SLOTS; slot < (block + 1) * BLOCK_SLOTS; slot++) {
      // A removal may shift the next entry into this slot: look at it again. Entries only move back
      // toward their home, so the slots behind this one are done.
      while (t.used(slot) && this.idle(slot, now) > timeoutOf(t.key(slot, K_KIND) & 0xff, stateOf(t.value(slot, V_FLAGS)))) {
        t.remove(slot);
        removed++;
      }
      if (t.used(slot)) left++;
    }
    if (left === 0) Atomics.store(this.occupied, block, 0);
    return removed;
  }

  private idle(slot: number, now: number): number {
    return ageOf(this.table.value(slot, V_SEEN), now);
  }

  /**
   * At the cap: removes, from the slots around the new key's home, an expired entry, else the
   * longest idle one that is not an established (replied) connection. False when all are
   * established: those are what the cap protects. Lock holder only.
   */
  private evictNear(now: number): boolean {
    const t = this.table;
    let victim = -1;
    let oldest = -1;
    for (let n = 0, slot = t.homeSlot(this.key); n < EVICT_WINDOW; n++, slot = (slot + 1) & (t.slots - 1)) {
      if (!t.used(slot)) continue;
      const flags = t.value(slot, V_FLAGS);
      const idle = this.idle(slot, now);
      if (idle > timeoutOf(t.key(slot, K_KIND) & 0xff, stateOf(flags))) {
        victim = slot;
        break;
      }
      if (stateOf(flags) !== CT_REPLIED && idle > oldest) {
        victim = slot;
        oldest = idle;
      }
    }
    if (victim < 0) return false;
    t.remove(victim);
    Atomics.add(t.words, Stat.evicted, 1);
    return true;
  }
}

/** Where a key's copy goes: a mix of the words that differ most between flows. */
function copyIndex(key: Int32Array): number {
  let h = Math.imul(key[K_A_LAST] ^ 0x9e3779b9, 0x85ebca6b) ^ key[K_B_LAST];
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35) ^ key[K_PORTS];
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f) ^ key[K_KIND];
  return (h ^ (h >>> 16)) & (COPY_SLOTS - 1);
}

function sameKey(copies: Int32Array, c: number, key: Int32Array): boolean {
  for (let k = KEY_WORDS - 1; k >= 0; k--) if (copies[c + C_KEY + k] !== key[k]) return false;
  return true;
}
