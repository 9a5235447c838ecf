// The highest offered rate a path carries with at most a given loss, found as RFC 2544 §26.1
// finds a forwarder's throughput: trials of fixed length at an offered rate, a binary search on
// that rate between one that passed and one that failed, until the two are within `precision`
// of each other. (RFC 2544 asks for zero loss; a namespace test bed on a shared machine drops a
// few packets at any rate, so the bar is a loss fraction, 0.1 % by default.)
// Pure: the trial is passed in (iperf3 in the bench, a model in the tests).

/** Offers `rate` packets/s for one trial and returns the fraction lost (0..1) as the receiver counted. */
export type RateTrial = (rate: number) => Promise<number>;

export interface RateSearchOptions {
  /** The first rate tried, e.g. the most the sender can offer; the result is never above it. */
  ceiling: number;
  /** Largest loss fraction a trial may show and pass (RFC 2544: 0). */
  maxLoss: number;
  /** Stop when the failed rate is within this fraction above the passed one. */
  precision: number;
  /** At most this many trials; the search stops with the best rate passed so far. */
  maxTrials: number;
}

export interface RateSearchResult {
  /** Highest rate that passed (0 if none did). */
  rate: number;
  /** Lowest rate that failed (Infinity if none did: the ceiling passed). */
  failed: number;
  trials: { rate: number; loss: number }[];
}

export async function searchRate(trial: RateTrial, opts: RateSearchOptions): Promise<RateSearchResult> {
  if (!(opts.ceiling > 0) || !(opts.precision > 0) || opts.maxTrials < 1) throw new RangeError('searchRate: ceiling and precision must be > 0, maxTrials ≥ 1');
  const trials: RateSearchResult['trials'] = [];
  let passed = 0;
  let failed = Infinity;
  let rate = opts.ceiling;
  while (trials.length < opts.maxTrials) {
    const loss = await trial(rate);
    trials.push({ rate, loss });
    if (loss <= opts.maxLoss) passed = rate;
    else failed = rate;
    if (failed === Infinity || failed - passed <= failed * opts.precision) break;
    rate = (passed + failed) / 2;
  }
  return { rate: passed, failed, trials };
}

/** How many trials a search from the ceiling takes to get within `precision`: one at the ceiling, then halvings. */
export function trialsFor(precision: number): number {
  return 1 + Math.ceil(Math.log2(1 / precision));
}
