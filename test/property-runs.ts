// How many cases each property test generates: the default keeps `npm test` short; a longer
// fuzzing run scales every count with VXROUTE_PROPERTY_RUNS_SCALE (e.g. 10). A failure prints its
// seed and shrunk counterexample; fc.assert's { seed, path } replays it.
const scale = Number(process.env.VXROUTE_PROPERTY_RUNS_SCALE ?? 1);

export function propertyRuns(runs: number): number {
  return Math.max(1, Math.round(runs * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}
