// IP → MAC of stations behind peer nodes, learned from the ARP and neighbour discovery frames that
// peers send us; the ARP/ND proxy answers from it. IPv4 addresses are kept IPv4-mapped
// (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) so that one table holds both families. At the cap nothing
// new is learned (a request we cannot answer is flooded as before); the main thread ages entries.
import { ageOf, stampOf } from './seen-stamp.js';
import { allocateHash, SharedHash, slotsFor } from './shared-hash.js';

/** Value words: the MAC's bytes 0–1, its bytes 2–5, and a seen stamp (seen-stamp.ts). */
const V_MAC_HIGH = 0;
const V_MAC_LOW = 1;
const V_SEEN = 2;
const SHAPE_WORDS = { keyWords: 4, valueWords: 3, extraFloats: 0 };
const LEARN_SPINS = 64;
/** Lock-free refresh attempts before taking the lock, as in the FDB. */
const REFRESH_TRIES = 4;

export interface NeighbourEntry {
  /** 16 bytes; IPv4 addresses IPv4-mapped. */
  ip: Buffer;
  mac: Buffer;
  seen: number;
}

export function allocateNeighbours(max: number): SharedArrayBuffer {
  return allocateHash({ slots: slotsFor(max), ...SHAPE_WORDS });
}

export class Neighbours {
  /** The batch's clock (ms since the epoch), set once per batch like Fdb.now. */
  now = 0;
  private readonly table: SharedHash;
  private readonly key = new Int32Array(4);
  /** What a lookup copies: the MAC. What the lock holder writes: the MAC and the stamp. */
  private readonly macWords = new Int32Array(2);
  private readonly values = new Int32Array(3);

  constructor(
    sab: SharedArrayBuffer,
    private readonly max: number,
  ) {
    this.table = new SharedHash(sab, { slots: slotsFor(max), ...SHAPE_WORDS });
  }

  /** Copies into mac[0..6] the MAC of the IPv4 address at buf[off .. off+4]; false when unknown. */
  lookupV4(buf: Uint8Array, off: number, mac: Uint8Array): boolean {
    this.keyV4(buf, off);
    return this.lookup(mac);
  }

  /** The same for the IPv6 address at buf[off .. off+16]. */
  lookupV6(buf: Uint8Array, off: number, mac: Uint8Array): boolean {
    this.keyV6(buf, off);
    return this.lookup(mac);
  }

  /** Learns that the IPv4 address at buf[ipOff] has the MAC at buf[macOff]. */
  learnV4(buf: Uint8Array, ipOff: number, macOff: number): void {
    this.keyV4(buf, ipOff);
    this.learn(buf, macOff);
  }

  learnV6(buf: Uint8Array, ipOff: number, macOff: number): void {
    this.keyV6(buf, ipOff);
    this.learn(buf, macOff);
  }

  /** Removes entries not refreshed for `agingMs`. Main thread. */
  age(now: number, agingMs: number): number {
    const t = this.table;
    let removed = 0;
    t.lock();
    try {
      for (let slot = 0; slot < t.slots; slot++) {
        while (t.used(slot) && ageOf(t.value(slot, V_SEEN), now) > agingMs) {
          t.remove(slot);
          removed++;
        }
      }
    } finally {
      t.unlock();
    }
    return removed;
  }

  /** Every entry, as of `now` (ms since the epoch). */
  entries(now: number): NeighbourEntry[] {
    const t = this.table;
    const key = new Int32Array(4);
    const values = new Int32Array(3);
    const out: NeighbourEntry[] = [];
    t.readEach(key, values, () => {
      const ip = Buffer.alloc(16);
      for (let k = 0; k < 4; k++) ip.writeInt32BE(key[k], 4 * k);
      const mac = Buffer.alloc(6);
      mac.writeUInt16BE(values[V_MAC_HIGH] & 0xffff, 0);
      mac.writeInt32BE(values[V_MAC_LOW], 2);
      out.push({ ip, mac, seen: now - ageOf(values[V_SEEN], now) });
    });
    return out;
  }

  private lookup(mac: Uint8Array): boolean {
    if (this.table.find(this.key, this.macWords) < 0) return false;
    const hi = this.macWords[V_MAC_HIGH];
    const lo = this.macWords[V_MAC_LOW];
    mac[0] = hi >>> 8;
    mac[1] = hi & 0xff;
    mac[2] = lo >>> 24;
    mac[3] = (lo >>> 16) & 0xff;
    mac[4] = (lo >>> 8) & 0xff;
    mac[5] = lo & 0xff;
    return true;
  }

  private learn(buf: Uint8Array, macOff: number): void {
    const t = this.table;
    const stamp = stampOf(this.now);
    const hi = (buf[macOff] << 8) | buf[macOff + 1];
    const lo = (buf[macOff + 2] << 24) | (buf[macOff + 3] << 16) | (buf[macOff + 4] << 8) | buf[macOff + 5];
    for (let tries = 0; tries < REFRESH_TRIES; tries++) {
      const slot = t.find(this.key, this.macWords);
      if (slot < 0 || this.macWords[V_MAC_HIGH] !== hi || this.macWords[V_MAC_LOW] !== lo) break;
      // Refreshed only if the slot still holds what find() read (see Fdb.learn).
      if (!t.claimFound(slot)) continue;
      t.store(slot, V_SEEN, stamp);
      t.release(slot);
      return;
    }
    if (!t.tryLock(LEARN_SPINS)) return;
    try {
      this.values[V_MAC_HIGH] = hi;
      this.values[V_MAC_LOW] = lo;
      this.values[V_SEEN] = stamp;
      const held = t.findLocked(this.key);
      if (held >= 0) t.setValues(held, this.values);
      else if (t.count() < this.max) t.insert(this.key, this.values);
    } finally {
      t.unlock();
    }
  }

  private keyV4(buf: Uint8Array, off: number): void {
    this.key[0] = 0;
    this.key[1] = 0;
    this.key[2] = 0xffff;
    this.key[3] = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
  }

  private keyV6(buf: Uint8Array, off: number): void {
    for (let k = 0; k < 4; k++) {
      const o = off + 4 * k;
      this.key[k] = (buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3];
    }
  }
}
