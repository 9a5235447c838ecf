// The compiled buffer's address hash (open addressing, linear probing, at most half full; layout
// in src/datapath/policy/policy-layout.ts): who has each pod IP and node address. Built once per
// directory placement; a directory patched for pods added, deleted or moved (PodDirectory.next)
// patches a copy of its predecessor's hash for the addresses that changed owner, so a pod that
// comes or goes costs its own addresses, not 10,000. A patched hash holds the same entries as one
// built from scratch, though not always in the same slots (the probe order differs).
import { ADDRESS_WORDS, A_ADDR, A_NODE, A_POD, addressHash } from '../datapath/policy/policy-layout.js';
import type { AddressVisitor, PodDirectory } from './pod-directory.js';

/** Each directory placement's address hash, built or patched at its first compile: a change of policies, namespaces or labels copies it. */
const addressHashes = new WeakMap<object, Int32Array>();

/** The address hash of every pod IP and node address, at most half full, as the buffer holds it. */
export function addressHashOf(directory: PodDirectory): Int32Array {
  let hash = addressHashes.get(directory.placement);
  if (hash !== undefined) return hash;
  const capacity = capacityFor(directory.addressCount());
  const before = directory.placedFrom === undefined ? undefined : addressHashes.get(directory.placedFrom);
  if (before !== undefined && before.length === capacity * ADDRESS_WORDS) {
    hash = before.slice();
    directory.forEachMovedAddress(new AddressHashPatcher(hash, capacity));
  } else {
    hash = new Int32Array(capacity * ADDRESS_WORDS);
    for (let i = 0; i < capacity; i++) {
      hash[i * ADDRESS_WORDS + A_POD] = -1;
      hash[i * ADDRESS_WORDS + A_NODE] = -1;
    }
    directory.forEachAddress(new AddressHashWriter(hash, capacity));
  }
  addressHashes.set(directory.placement, hash);
  return hash;
}

/** The smallest power of two, at least 8, that holds `addresses` at most half full. */
function capacityFor(addresses: number): number {
  let capacity = 8;
  while (capacity < addresses * 2) capacity *= 2;
  return capacity;
}

const isEmpty = (hash: Int32Array, i: number): boolean => hash[i * ADDRESS_WORDS + A_POD] < 0 && hash[i * ADDRESS_WORDS + A_NODE] < 0;

/** Writes each address into the empty slot its probe reaches first. */
class AddressHashWriter implements AddressVisitor {
  constructor(
    private readonly hash: Int32Array,
    private readonly capacity: number,
  ) {}

  address(a0: number, a1: number, a2: number, a3: number, pod: number, node: number): void {
    const { hash } = this;
    const mask = this.capacity - 1;
    let i = addressHash(a0, a1, a2, a3) & mask;
    while (!isEmpty(hash, i)) i = (i + 1) & mask;
    const s = i * ADDRESS_WORDS;
    hash[s + A_ADDR] = a0;
    hash[s + A_ADDR + 1] = a1;
    hash[s + A_ADDR + 2] = a2;
    hash[s + A_ADDR + 3] = a3;
    hash[s + A_POD] = pod;
    hash[s + A_NODE] = node;
  }
}

/** Gives each address its new owner: updated in its slot, written into the first empty one, or removed when no one has it. */
class AddressHashPatcher implements AddressVisitor {
  private readonly writer: AddressHashWriter;

  constructor(
    private readonly hash: Int32Array,
    private readonly capacity: number,
  ) {
    this.writer = new AddressHashWriter(hash, capacity);
  }

  address(a0: number, a1: number, a2: number, a3: number, pod: number, node: number): void {
    const { hash } = this;
    const mask = this.capacity - 1;
    let i = addressHash(a0, a1, a2, a3) & mask;
    for (; !isEmpty(hash, i); i = (i + 1) & mask) {
      const s = i * ADDRESS_WORDS;
      if (hash[s + A_ADDR] !== a0 || hash[s + A_ADDR + 1] !== a1 || hash[s + A_ADDR + 2] !== a2 || hash[s + A_ADDR + 3] !== a3) continue;
      if (pod < 0 && node < 0) this.remove(i);
      else {
        hash[s + A_POD] = pod;
        hash[s + A_NODE] = node;
      }
      return;
    }
    if (pod >= 0 || node >= 0) this.writer.address(a0, a1, a2, a3, pod, node);
  }

  /** Empties slot i and moves back each later entry of its run that a probe would no longer reach (Knuth's algorithm R). */
  private remove(i: number): void {
    const { hash } = this;
    const mask = this.capacity - 1;
    for (let j = (i + 1) & mask; !isEmpty(hash, j); j = (j + 1) & mask) {
      const s = j * ADDRESS_WORDS;
      const home = addressHash(hash[s + A_ADDR], hash[s + A_ADDR + 1], hash[s + A_ADDR + 2], hash[s + A_ADDR + 3]) & mask;
      // The entry stays when its home lies cyclically in (i, j]: its probe never passes slot i.
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue;
      hash.copyWithin(i * ADDRESS_WORDS, s, s + ADDRESS_WORDS);
      i = j;
    }
    hash.fill(0, i * ADDRESS_WORDS, i * ADDRESS_WORDS + A_POD);
    hash[i * ADDRESS_WORDS + A_POD] = -1;
    hash[i * ADDRESS_WORDS + A_NODE] = -1;
  }
}
