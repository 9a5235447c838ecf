// The route table in a SharedArrayBuffer: written by the main thread, read by every shard.
// A sequence lock (odd while writing) lets a reader detect and retry a torn copy; readers copy
// only when the sequence changed, once per batch at most. Every word inside the lock is written
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
      for (let k = 0; k < ENTRY_WORDS; k++) Atomics.store(this.words, w + k, this.entry[k]);
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

/** A reader's private copy of the table, in flat typed arrays. */
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

export class SharedTableReader {
  private readonly words: Int32Array;

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
    const s: TableSnapshot = {
      version: before,
      count,
      family: new Int32Array(count),
      prefixLen: new Int32Array(count),
      prefix: new Uint32Array(count * 4),
      underlayFamily: new Int32Array(count),
      underlay: new Uint32Array(count * 4),
      peerId: new Int32Array(count),
      mac: new Uint8Array(count * 6),
    };
    for (let i = 0; i < count; i++) {
      const e = HEADER_WORDS + i * ENTRY_WORDS;
      s.family[i] = Atomics.load(w, e + E_FAMILY);
      s.prefixLen[i] = Atomics.load(w, e + E_PREFIX_LEN);
      s.underlayFamily[i] = Atomics.load(w, e + E_UNDERLAY_FAMILY);
      s.peerId[i] = Atomics.load(w, e + E_PEER);
      for (let k = 0; k < 4; k++) {
        s.prefix[i * 4 + k] = Atomics.load(w, e + E_PREFIX + k);
        s.underlay[i * 4 + k] = Atomics.load(w, e + E_UNDERLAY + k);
      }
      const macHigh = Atomics.load(w, e + E_MAC);
      const macLow = Atomics.load(w, e + E_MAC + 1);
      for (let b = 0; b < 4; b++) s.mac[i * 6 + b] = macHigh >>> (24 - 8 * b);
      s.mac[i * 6 + 4] = macLow >>> 8;
      s.mac[i * 6 + 5] = macLow;
    }
    return Atomics.load(w, SEQ) === before ? s : undefined;
  }
}
