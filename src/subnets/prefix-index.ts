// The prefixes of one address family that a set of items claim, sorted by address, so that the
// items whose prefix overlaps a given one are found in O(log n) per prefix length in use, not by
// a walk of every item. Two prefixes overlap only when one contains the other, so the overlaps of
// P are its containers (P masked to each shorter length in use, looked up) and what P contains
// (a run of the sorted order from P on). Addresses are compared as 32-bit words held in numbers:
// nothing is allocated to compare or look up.
import type { Cidr } from './cidr.js';

interface Entry<T> {
  /** The network address as big-endian 32-bit words: one for IPv4, four for IPv6. */
  words: Uint32Array;
  prefixLen: number;
  item: T;
}

export class PrefixIndex<T> {
  private readonly entries: Entry<T>[] = [];
  /** Entries per prefix length: the lengths whose containers a lookup tries. */
  private readonly perLength: Int32Array;
  private readonly wordCount: number;
  /** The looked-up prefix masked to a shorter length (reused). */
  private readonly masked: Uint32Array;

  constructor(readonly family: 4 | 6) {
    this.wordCount = family === 4 ? 1 : 4;
    this.perLength = new Int32Array(this.wordCount * 32 + 1);
    this.masked = new Uint32Array(this.wordCount);
  }

  get size(): number {
    return this.entries.length;
  }

  add(cidr: Cidr, item: T): void {
    const words = this.wordsOf(cidr);
    this.entries.splice(this.lowerBound(words, cidr.prefixLen), 0, { words, prefixLen: cidr.prefixLen, item });
    this.perLength[cidr.prefixLen]++;
  }

  /** Removes the item's entry for `cidr`; false when there is none. */
  delete(cidr: Cidr, item: T): boolean {
    const words = this.wordsOf(cidr);
    for (let i = this.lowerBound(words, cidr.prefixLen); i < this.entries.length && this.compare(this.entries[i], words, cidr.prefixLen) === 0; i++) {
      if (this.entries[i].item !== item) continue;
      this.entries.splice(i, 1);
      this.perLength[cidr.prefixLen]--;
      return true;
    }
    return false;
  }

  /** Calls `visit` with every item whose prefix overlaps `cidr` (the same prefix included). */
  overlapping(cidr: Cidr, visit: (item: T) => void): void {
    const words = this.wordsOf(cidr);
    const len = cidr.prefixLen;
    // Containers: a shorter prefix in use that equals `cidr` masked to its length.
    for (let shorter = 0; shorter < len; shorter++) {
      if (this.perLength[shorter] === 0) continue;
      mask(words, shorter, this.masked);
      for (let i = this.lowerBound(this.masked, shorter); i < this.entries.length && this.compare(this.entries[i], this.masked, shorter) === 0; i++) visit(this.entries[i].item);
    }
    // Contained (or equal): they sort from `cidr` on, one run, until an address outside it.
    for (let i = this.lowerBound(words, len); i < this.entries.length && this.contains(words, len, this.entries[i]); i++) visit(this.entries[i].item);
  }

  private wordsOf(cidr: Cidr): Uint32Array {
    if (cidr.family !== this.family) throw new Error(`an IPv${cidr.family} prefix in the IPv${this.family} index`);
    const words = new Uint32Array(this.wordCount);
    for (let i = 0; i < this.wordCount; i++) words[i] = cidr.addr.readUInt32BE(i * 4);
    return words;
  }

  /** The first index whose entry sorts at or after (words, prefixLen): by address, then shorter first. */
  private lowerBound(words: Uint32Array, prefixLen: number): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.entries[mid], words, prefixLen) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private compare(e: Entry<T>, words: Uint32Array, prefixLen: number): number {
    for (let i = 0; i < this.wordCount; i++) if (e.words[i] !== words[i]) return e.words[i] < words[i] ? -1 : 1;
    return e.prefixLen - prefixLen;
  }

  /** Whether the prefix (words, prefixLen) contains the entry's prefix. */
  private contains(words: Uint32Array, prefixLen: number, e: Entry<T>): boolean {
    if (e.prefixLen < prefixLen) return false;
    for (let i = 0; i < this.wordCount; i++) if (maskWord(e.words[i], prefixLen - i * 32) !== words[i]) return false;
    return true;
  }
}

/** The first `bits` bits of a word (all of it from 32 on, none at 0 or below). */
function maskWord(word: number, bits: number): number {
  if (bits >= 32) return word;
  if (bits <= 0) return 0;
  return (word & (0xffffffff << (32 - bits))) >>> 0;
}

function mask(words: Uint32Array, prefixLen: number, out: Uint32Array): void {
  for (let i = 0; i < words.length; i++) out[i] = maskWord(words[i], prefixLen - i * 32);
}
