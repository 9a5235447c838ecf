// The route table in a SharedArrayBuffer: written by the main thread, read by every shard.
// A sequence lock (odd while writing) lets a reader detect and retry a torn copy; readers copy
// only when the sequence changed, once per batch at most, into arrays of their own that they
// reuse (two sets, in turn, grown only with the table), so a table change allocates no copy of
// the table in the shards. Every word inside the lock is written
// and read with Atomics: the JS memory model orders only atomic accesses around the sequence
// checks, so plain loads could be satisfied after the second check on a weakly ordered CPU (arm64).

/** One route: a pod prefix and where its packets go. */
export interface RouteRecord {
  /** 4 or 6: a pod prefix; 0: no prefix, only a peer's underlay address (accepted as a source). */
  family: 0 | 4 | 6;
  prefix: Buffer; // 4 or 16 bytes
  prefixLen: number;
  underlayFamily: 4 | 6;
  underlay: Buffer; // 4 or 16 bytes
  vtepMAC: Buffer; // 6 bytes
  peerId: number;
}

const SEQ = 0;
const COUNT = 1;
const HEADER_WORDS = 4;

// Entry layout, in 32-bit words. Addresses are host-order words: word k is bytes 4k..4k+3 of
// the address read big-endian. The MAC: bytes 0..3 big-endian in one word, bytes 4..5 in the next.
const E_FAMILY = 0;
const E_PREFIX_LEN = 1;
const E_PREFIX = 2; // 4 words
const E_UNDERLAY_FAMILY = 6;
const E_UNDERLAY = 7; // 4 words
const E_PEER = 11;
const E_MAC = 12; // 2 words
export const ENTRY_WORDS = 16;

export function allocateTable(maxRoutes: number): SharedArrayBuffer {
  return new SharedArrayBuffer((HEADER_WORDS + maxRoutes * ENTRY_WORDS) * 4);
}

export function tableCapacity(sab: SharedArrayBuffer): number {
  return (sab.byteLength / 4 - HEADER_WORDS) / ENTRY_WORDS;
}

export class SharedTableWriter {
  private readonly words: Int32Array;
  private readonly entry = new Int32Array(ENTRY_WORDS);

  constructor(private readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
  }

  /** Replaces the whole table; returns the new version. Throws when over capacity. */
  publish(routes: readonly RouteRecord[]): number {
    const capacity = tableCapacity(this.sab);
    if (routes.length > capacity) throw new RangeError(`route table full: ${routes.length} routes, capacity ${capacity}`);
    Atomics.add(this.words, SEQ, 1); // odd: write in progress
    for (let i = 0; i < routes.length; i++) {
      encodeEntry(routes[i], this.entry);
      const w = HEADER_WORDS + i * ENTRY_WORDS;
      // Only the words that differ are stored: a change of one node leaves the others' entries as
      // they are (only this thread writes them, so a plain read of them is its own last write).
      for (let k = 0; k < ENTRY_WORDS; k++) if (this.words[w + k] !== this.entry[k]) Atomics.store(this.words, w + k, this.entry[k]);
    }
    Atomics.store(this.words, COUNT, routes.length);
    return Atomics.add(this.words, SEQ, 1) + 1;
  }
}

function encodeEntry(r: RouteRecord, e: Int32Array): void {
  e.fill(0);
  e[E_FAMILY] = r.family;
  e[E_PREFIX_LEN] = r.prefixLen;
  for (let k = 0; k < r.prefix.length / 4; k++) e[E_PREFIX + k] = r.prefix.readInt32BE(k * 4);
  e[E_UNDERLAY_FAMILY] = r.underlayFamily;
  for (let k = 0; k < r.underlay.length / 4; k++) e[E_UNDERLAY + k] = r.underlay.readInt32BE(k * 4);
  e[E_PEER] = r.peerId;
  e[E_MAC] = r.vtepMAC.readInt32BE(0);
  e[E_MAC + 1] = r.vtepMAC.readUInt16BE(4);
}

/**
 * A reader's private copy of the table, in flat typed arrays of `count` entries. They are views of
 * the reader's own arrays, valid until the snapshot after the next one (the reader alternates
 * between two sets; a torn copy fills the set not in use).
 */
export interface TableSnapshot {
  version: number;
  count: number;
  family: Int32Array;
  prefixLen: Int32Array;
  prefix: Uint32Array; // 4 words per route, host order
  underlayFamily: Int32Array;
  underlay: Uint32Array; // 4 words per route, host order
  peerId: Int32Array;
  mac: Uint8Array; // 6 bytes per route
}

type SnapshotArrays = Omit<TableSnapshot, 'version' | 'count'>;

function snapshotArrays(capacity: number): SnapshotArrays {
  return {
    family: new Int32Array(capacity),
    prefixLen: new Int32Array(capacity),
    prefix: new Uint32Array(capacity * 4),
    underlayFamily: new Int32Array(capacity),
    underlay: new Uint32Array(capacity * 4),
    peerId: new Int32Array(capacity),
    mac: new Uint8Array(capacity * 6),
  };
}

export class SharedTableReader {
  private readonly words: Int32Array;
  /** The two sets of arrays snapshots are copied into, in turn; `next` is the one not in use. */
  private readonly sets: (SnapshotArrays | undefined)[] = [undefined, undefined];
  private next = 0;

  constructor(private readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
  }

  /** Cheap: one atomic load. Even values are stable versions. */
  version(): number {
    return Atomics.load(this.words, SEQ);
  }

  /** A consistent copy, or undefined while the writer is mid-update (try again next batch). */
  snapshot(): TableSnapshot | undefined {
    const w = this.words;
    const before = Atomics.load(w, SEQ);
    if (before & 1) return undefined;
    const count = Math.min(Atomics.load(w, COUNT), tableCapacity(this.sab));
    const a = this.arraysFor(count);
    for (let i = 0; i < count; i++) {
      const e = HEADER_WORDS + i * ENTRY_WORDS;
      a.family[i] = Atomics.load(w, e + E_FAMILY);
      a.prefixLen[i] = Atomics.load(w, e + E_PREFIX_LEN);
      a.underlayFamily[i] = Atomics.load(w, e + E_UNDERLAY_FAMILY);
      a.peerId[i] = Atomics.load(w, e + E_PEER);
      for (let k = 0; k < 4; k++) {
        a.prefix[i * 4 + k] = Atomics.load(w, e + E_PREFIX + k);
        a.underlay[i * 4 + k] = Atomics.load(w, e + E_UNDERLAY + k);
      }
      const macHigh = Atomics.load(w, e + E_MAC);
      const macLow = Atomics.load(w, e + E_MAC + 1);
      for (let b = 0; b < 4; b++) a.mac[i * 6 + b] = macHigh >>> (24 - 8 * b);
      a.mac[i * 6 + 4] = macLow >>> 8;
      a.mac[i * 6 + 5] = macLow;
    }
    if (Atomics.load(w, SEQ) !== before) return undefined; // torn: the set in use was not touched
    this.next ^= 1;
    return {
      version: before,
      count,
      family: a.family.subarray(0, count),
      prefixLen: a.prefixLen.subarray(0, count),
      prefix: a.prefix.subarray(0, count * 4),
      underlayFamily: a.underlayFamily.subarray(0, count),
      underlay: a.underlay.subarray(0, count * 4),
      peerId: a.peerId.subarray(0, count),
      mac: a.mac.subarray(0, count * 6),
    };
  }

  /** The set not in use, grown (to the next power of two) when the table outgrew it. */
  private arraysFor(count: number): SnapshotArrays {
    const current = this.sets[this.next];
    if (current && current.family.length >= count) return current;
    let capacity = 16;
    while (capacity < count) capacity *= 2;
    return (this.sets[this.next] = snapshotArrays(capacity));
  }
}
