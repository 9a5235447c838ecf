// The main thread's fold of the shards' policy switches: one report per generation, once every worker has it.
import { describe, expect, it } from 'vitest';
import { isPolicyAdopted, PolicyAdoption, type PolicyAdopted } from './policy-adoption.js';

const adopted = (worker: number, generation: number, at: number): PolicyAdopted => ({ type: 'policy-adopted', worker, generation, at });

describe('PolicyAdoption', () => {
  it('reports a generation once every worker decides with it, at the last worker\'s time', () => {
    const a = new PolicyAdoption(2, 1);
    expect(a.fold(adopted(0, 2, 100))).toBeUndefined();
    expect(a.fold(adopted(1, 2, 130))).toEqual({ generation: 2, at: 130 });
  });

  it('reports a generation a worker skipped as the newer one both reached, and nothing twice', () => {
    const a = new PolicyAdoption(2, 1);
    expect(a.fold(adopted(0, 2, 100))).toBeUndefined();
    expect(a.fold(adopted(1, 3, 120))).toEqual({ generation: 2, at: 120 }); // worker 1 went from 1 straight to 3
    expect(a.fold(adopted(0, 3, 140))).toEqual({ generation: 3, at: 140 });
    expect(a.fold(adopted(0, 3, 150))).toBeUndefined();
  });

  it('tells its messages from the shards\' others', () => {
    expect(isPolicyAdopted(adopted(0, 2, 1))).toBe(true);
    expect(isPolicyAdopted({ type: 'udp-gso' })).toBe(false);
    expect(isPolicyAdopted(null)).toBe(false);
  });
});
