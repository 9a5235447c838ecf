// The main thread's fold of the shards' UDP GSO reports: one change per family, however many shards.
import { describe, expect, it } from 'vitest';
import { GsoFamilies, isGsoChange, type GsoChange } from './gso-changes.js';

const change = (worker: number, family: 4 | 6, on: boolean): GsoChange => ({ type: 'udp-gso', worker, family, on, errno: on ? 0 : 5, retryMs: on ? 0 : 1000 });

describe('GsoFamilies', () => {
  it('reports a family off at its first socket and back on at its last, each family apart', () => {
    const f = new GsoFamilies();
    expect(f.fold(change(0, 4, false))).toEqual(change(0, 4, false));
    expect(f.fold(change(1, 4, false))).toBeUndefined(); // already reported
    expect(f.fold(change(1, 6, false))).toEqual(change(1, 6, false)); // the other family is its own
    expect(f.fold(change(0, 4, true))).toBeUndefined(); // worker 1's IPv4 socket is still off
    expect(f.fold(change(1, 4, true))).toEqual(change(1, 4, true));
    expect(f.fold(change(1, 4, true))).toBeUndefined(); // on again, nothing new
  });

  it('recognises a shard message', () => {
    expect(isGsoChange(change(0, 4, false))).toBe(true);
    expect(isGsoChange({ type: 'other' })).toBe(false);
    expect(isGsoChange(null)).toBe(false);
  });
});
