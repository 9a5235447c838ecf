import { describe, expect, it } from 'vitest';
import { PeerIds } from './peer-ids.js';

describe('PeerIds', () => {
  it('keeps a node its id across updates and reuses freed ids only when full', () => {
    const ids = new PeerIds(3);
    ids.update(['a', 'b']);
    const a = ids.get('a');
    expect(ids.update(['b', 'a', 'c']).reused).toEqual([]);
    expect(ids.get('a')).toBe(a);
    expect(ids.update(['a', 'c']).reused).toEqual([]);
    expect(ids.get('b')).toBeUndefined();
    const { reused } = ids.update(['a', 'c', 'd']);
    expect(reused).toHaveLength(1);
    expect(ids.get('d')).toBe(reused[0]);
    expect(() => ids.update(['a', 'c', 'd', 'e'])).toThrow(/more than 3/);
  });

  it('names the node holding an id, and no node once it left or for an id never given', () => {
    const ids = new PeerIds(2);
    ids.update(['a', 'b']);
    expect(ids.name(ids.get('a')!)).toBe('a');
    expect(ids.name(ids.get('b')!)).toBe('b');
    const freed = ids.get('b')!;
    ids.update(['a']);
    expect(ids.name(freed)).toBeUndefined();
    const { reused } = ids.update(['a', 'c']);
    expect(reused).toEqual([freed]);
    expect(ids.name(freed)).toBe('c');
    for (const id of [-1, 2, 1.5, 99]) expect(ids.name(id)).toBeUndefined();
  });
});
