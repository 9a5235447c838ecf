// Open-addressing hash map from int32 keys to non-negative int32 values, in two typed arrays:
// no allocation and no boxing on lookup, unlike a Map keyed by unsigned 32-bit numbers.
export class Int32Map {
  private readonly keys: Int32Array;
  private readonly vals: Int32Array; // value + 1; 0 marks an empty slot
  private readonly mask: number;
  private readonly shift: number;

  constructor(expected: number) {
    let bits = 4;
    while (1 << bits < expected * 2) bits++;
    this.keys = new Int32Array(1 << bits);
    this.vals = new Int32Array(1 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
  }

  /** Whether it holds `expected` keys as well as one made for them would. */
  fits(expected: number): boolean {
    return this.vals.length >= expected * 2;
  }

  /** Empties it, keeping its arrays. */
  clear(): void {
    this.vals.fill(0);
  }

  set(key: number, value: number): void {
    let i = this.slot(key);
    while (this.vals[i] !== 0 && this.keys[i] !== (key | 0)) i = (i + 1) & this.mask;
    this.keys[i] = key;
    this.vals[i] = value + 1;
  }

  /** The value, or -1 when the key is absent. */
  get(key: number): number {
    const k = key | 0;
    let i = this.slot(k);
    for (;;) {
      const v = this.vals[i];
      if (v === 0) return -1;
      if (this.keys[i] === k) return v - 1;
      i = (i + 1) & this.mask;
    }
  }

  private slot(key: number): number {
    // Fibonacci hashing: the high bits of key * 2^32/φ.
    return Math.imul(key, 0x9e3779b1) >>> this.shift;
  }
}
