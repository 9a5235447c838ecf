// The shared hash's write claims, one step at a time: the interleaving of a lock-free refresh
// with a deletion that the concurrent test (fdb.concurrency.test.ts) cannot force on demand.
import { describe, expect, it } from 'vitest';
import { allocateHash, SharedHash, type HashShape } from './shared-hash.js';

const SHAPE: HashShape = { slots: 16, keyWords: 1, valueWords: 1, extraFloats: 0 };
const key = (k: number): Int32Array => Int32Array.of(k);

/** Three keys with one home slot: each alone in an empty table lands on its home. */
function keysWithOneHome(): number[] {
  const scratch = new SharedHash(allocateHash(SHAPE), SHAPE);
  const byHome = new Map<number, number[]>();
  for (let k = 1; ; k++) {
    const home = scratch.insert(key(k), key(0));
    scratch.remove(home);
    const keys = byHome.get(home) ?? [];
    keys.push(k);
    byHome.set(home, keys);
    if (keys.length === 3) return keys;
  }
}

describe('SharedHash', () => {
  it('refuses a refresh of a slot that a deletion has shifted another entry into since find()', () => {
    const hash = new SharedHash(allocateHash(SHAPE), SHAPE);
    const [first, refreshed, behind] = keysWithOneHome();
    const home = hash.insert(key(first), key(10));
    hash.insert(key(refreshed), key(20));
    hash.insert(key(behind), key(30));
    const values = new Int32Array(1);

    // A shard finds the entry it will refresh ...
    const found = hash.find(key(refreshed), values);
    expect(found).toBe((home + 1) % SHAPE.slots);
    // ... the main thread deletes the entry in front of it: it and the one behind shift back ...
    hash.lock();
    hash.remove(home);
    hash.unlock();
    // ... and the refresh that follows must not land on the entry now in its slot.
    expect(hash.claimFound(found)).toBe(false);

    // Found again, where it moved to, it is refreshed there; the other entry is untouched.
    const moved = hash.find(key(refreshed), values);
    expect(moved).toBe(home);
    expect(hash.claimFound(moved)).toBe(true);
    hash.store(moved, 0, values[0] + 1);
    hash.release(moved);
    const got = (k: number) => (hash.find(key(k), values) < 0 ? undefined : values[0]);
    expect([got(first), got(refreshed), got(behind)]).toEqual([undefined, 21, 30]);
  });
});
