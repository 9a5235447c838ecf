// The rate search against model paths: a loss curve with a known knee, with and without noise in
// the measured loss. Pure: no network, the trial is a function of the offered rate.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { searchRate, trialsFor, type RateTrial } from './rate-search.js';

const CEILING = 1_000_000;
const MAX_LOSS = 0.001;

/** A forwarder that carries `knee` packets/s and drops the rest, plus a constant background loss. */
const path = (knee: number, background = 0.0002): RateTrial => async (rate) => Math.max(0, (rate - knee) / rate) + background;

/** mulberry32: a seeded PRNG, so that a failing noisy case replays. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('searchRate (RFC 2544 §26.1 binary search)', () => {
  it('brackets the knee within its precision', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1_000, max: CEILING - 1 }), fc.constantFrom(0.01, 0.02, 0.05, 0.1), async (knee, precision) => {
        const r = await searchRate(path(knee), { ceiling: CEILING, maxLoss: MAX_LOSS, precision, maxTrials: 40 });
        // Just above the knee, the loss is still under MAX_LOSS: the true answer is knee·(1 + ~0.08 %).
        const truth = knee / (1 - (MAX_LOSS - 0.0002));
        expect(r.rate).toBeLessThanOrEqual(truth);
        expect(r.failed).toBeGreaterThan(truth);
        expect(r.failed - r.rate).toBeLessThanOrEqual(r.failed * precision);
        expect(r.trials.every((t) => (t.loss <= MAX_LOSS) === (t.rate <= r.rate))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('needs 1 + ⌈log2(1/precision)⌉ trials when the knee is near the ceiling', async () => {
    const r = await searchRate(path(0.9 * CEILING), { ceiling: CEILING, maxLoss: MAX_LOSS, precision: 0.05, maxTrials: 40 });
    expect(r.trials.length).toBeLessThanOrEqual(trialsFor(0.05));
    expect(trialsFor(0.05)).toBe(6);
  });

  it('stops at the first trial when the ceiling passes', async () => {
    const r = await searchRate(path(2 * CEILING), { ceiling: CEILING, maxLoss: MAX_LOSS, precision: 0.05, maxTrials: 6 });
    expect(r).toEqual({ rate: CEILING, failed: Infinity, trials: [{ rate: CEILING, loss: 0.0002 }] });
  });

  it('reports 0 when no rate passes, after at most maxTrials', async () => {
    const r = await searchRate(async () => 0.01, { ceiling: CEILING, maxLoss: MAX_LOSS, precision: 0.05, maxTrials: 5 });
    expect(r.rate).toBe(0);
    expect(r.trials).toHaveLength(5);
    expect(r.failed).toBe(r.trials[4].rate);
  });

  it('lands near the knee when the measured loss is noisy', async () => {
    // Each trial's loss is off by up to ±0.05 percentage points: near the knee a verdict can flip,
    // which moves the answer by at most the rates where that noise decides.
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const knee = 10_000 + next() * 800_000;
      const noisy: RateTrial = async (rate) => Math.max(0, (await path(knee)(rate)) + (next() - 0.5) * 0.001);
      const r = await searchRate(noisy, { ceiling: CEILING, maxLoss: MAX_LOSS, precision: 0.02, maxTrials: 40 });
      // The verdict is certain below knee·(1 + 0.0003) and above knee / (1 − 0.0013).
      expect(r.rate, `seed ${seed}`).toBeLessThanOrEqual(knee / (1 - 0.0013));
      expect(r.rate, `seed ${seed}`).toBeGreaterThanOrEqual(knee * (1 + 0.0003) * (1 - 0.02) - 1e-6);
    }
  });

  it('refuses a search that cannot end', async () => {
    await expect(searchRate(path(1), { ceiling: 0, maxLoss: MAX_LOSS, precision: 0.05, maxTrials: 6 })).rejects.toThrow(RangeError);
    await expect(searchRate(path(1), { ceiling: 1, maxLoss: MAX_LOSS, precision: 0, maxTrials: 6 })).rejects.toThrow(RangeError);
  });
});
