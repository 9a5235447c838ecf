// The route table in a SharedArrayBuffer: written by the main thread, read by every shard.
// A sequence lock (odd while writing) lets a reader detect and retry a torn copy; readers copy
// only when the sequence changed, once per batch at most.

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

// Entry layout, in 32-bit words; the MAC sits in bytes 48..53.
const E_FAMILY = 0;
const E_PREFIX_LEN = 1;
const E_PREFIX = 2; // 4 words
const E_UNDERLAY_FAMILY = 6;
const E_UNDERLAY = 7; // 4 words
const E_PEER = 11;
const E_MAC_BYTE = 48;
export const ENTRY_WORDS = 16;

export function allocateTable(maxRoutes: number): SharedArrayBuffer {
  return new SharedArrayBuffer((HEADER_WORDS + maxRoutes * ENTRY_WORDS) * 4);
}

export function tableCapacity(sab: SharedArrayBuffer): number {
  return (sab.byteLength / 4 - HEADER_WORDS) / ENTRY_WORDS;
}

export class SharedTableWriter {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(private readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
    this.bytes = new Uint8Array(sab);
    this.view = new DataView(sab);
  }

  /** Replaces the whole table; returns the new version. Throws when over capacity. */
  publish(routes: readonly RouteRecord[]): number {
    const capacity = tableCapacity(this.sab);
    if (routes.length > capacity) throw new RangeError(`route table full: ${routes.length} routes, capacity ${capacity}`);
    Atomics.add(this.words, SEQ, 1); // odd: write in progress
    for (let i = 0; i < routes.length; i++) this.writeEntry(i, routes[i]);
    Atomics.store(this.words, COUNT, routes.length);
    return Atomics.add(this.words, SEQ, 1) + 1;
  }

  private writeEntry(i: number, r: RouteRecord): void {
    const w = HEADER_WORDS + i * ENTRY_WORDS;
    this.bytes.fill(0, w * 4, (w + ENTRY_WORDS) * 4);
    this.words[w + E_FAMILY] = r.family;
    this.words[w + E_PREFIX_LEN] = r.prefixLen;
    putAddress(this.view, (w + E_PREFIX) * 4, r.prefix);
    this.words[w + E_UNDERLAY_FAMILY] = r.underlayFamily;
    putAddress(this.view, (w + E_UNDERLAY) * 4, r.underlay);
    this.words[w + E_PEER] = r.peerId;
    this.bytes.set(r.vtepMAC, w * 4 + E_MAC_BYTE);
  }
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
  private readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
    this.bytes = new Uint8Array(sab);
    this.view = new DataView(sab);
  }

  /** Cheap: one atomic load. Even values are stable versions. */
  version(): number {
    return Atomics.load(this.words, SEQ);
  }

  /** A consistent copy, or undefined while the writer is mid-update (try again next batch). */
  snapshot(): TableSnapshot | undefined {
    const before = Atomics.load(this.words, SEQ);
    if (before & 1) return undefined;
    const count = Atomics.load(this.words, COUNT);
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
      const w = HEADER_WORDS + i * ENTRY_WORDS;
      s.family[i] = this.words[w + E_FAMILY];
      s.prefixLen[i] = this.words[w + E_PREFIX_LEN];
      s.underlayFamily[i] = this.words[w + E_UNDERLAY_FAMILY];
      s.peerId[i] = this.words[w + E_PEER];
      for (let k = 0; k < 4; k++) {
        s.prefix[i * 4 + k] = this.view.getUint32((w + E_PREFIX + k) * 4);
        s.underlay[i * 4 + k] = this.view.getUint32((w + E_UNDERLAY + k) * 4);
      }
      s.mac.set(this.bytes.subarray(w * 4 + E_MAC_BYTE, w * 4 + E_MAC_BYTE + 6), i * 6);
    }
    return Atomics.load(this.words, SEQ) === before ? s : undefined;
  }
}

/** Addresses are stored as big-endian words, so word k is bytes 4k..4k+3 of the address. */
function putAddress(view: DataView, byteOffset: number, addr: Buffer): void {
  for (let k = 0; k < addr.length / 4; k++) view.setUint32(byteOffset + k * 4, addr.readUInt32BE(k * 4));
}
