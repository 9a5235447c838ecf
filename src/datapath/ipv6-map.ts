// Open-addressing hash map from 128-bit keys (four 32-bit words) to non-negative int32 values,
// in typed arrays: IPv6 prefixes and underlay addresses looked up without allocating.
export class Ipv6Map {
  private readonly keys: Int32Array;
  private readonly vals: Int32Array; // value + 1; 0 marks an empty slot
  private readonly mask: number;

  constructor(expected: number) {
    let bits = 4;
    while (1 << bits < expected * 2) bits++;
    this.keys = new Int32Array(4 << bits);
    this.vals = new Int32Array(1 << bits);
    this.mask = (1 << bits) - 1;
  }

  /** Whether it holds `expected` keys as well as one made for them would. */
  fits(expected: number): boolean {
    return this.vals.length >= expected * 2;
  }

  /** Empties it, keeping its arrays. */
  clear(): void {
    this.vals.fill(0);
  }

  set(w0: number, w1: number, w2: number, w3: number, value: number): void {
    let i = this.slot(w0, w1, w2, w3);
    while (this.vals[i] !== 0 && !this.matches(i, w0, w1, w2, w3)) i = (i + 1) & this.mask;
    const k = i * 4;
    this.keys[k] = w0;
    this.keys[k + 1] = w1;
    this.keys[k + 2] = w2;
    this.keys[k + 3] = w3;
    this.vals[i] = value + 1;
  }

  /** The value, or -1 when the key is absent. */
  get(w0: number, w1: number, w2: number, w3: number): number {
    let i = this.slot(w0, w1, w2, w3);
    for (;;) {
      const v = this.vals[i];
      if (v === 0) return -1;
      if (this.matches(i, w0, w1, w2, w3)) return v - 1;
      i = (i + 1) & this.mask;
    }
  }

  private matches(i: number, w0: number, w1: number, w2: number, w3: number): boolean {
    const k = i * 4;
    return this.keys[k] === (w0 | 0) && this.keys[k + 1] === (w1 | 0) && this.keys[k + 2] === (w2 | 0) && this.keys[k + 3] === (w3 | 0);
  }

  private slot(w0: number, w1: number, w2: number, w3: number): number {
    const h = Math.imul(w0 ^ Math.imul(w1 ^ Math.imul(w2 ^ Math.imul(w3, 0x85ebca6b), 0xc2b2ae35), 0x27d4eb2f), 0x9e3779b1);
    return (h ^ (h >>> 15)) & this.mask;
  }
}
