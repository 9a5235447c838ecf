// With keepOldGenerationClose(), V8 collects the old generation before its garbage piles up far
// past what is live: the same allocation pattern (a live set, then rounds of garbage that survives
// into the old generation) peaks at a smaller committed heap than with V8's own growing factor.
// Each run is a fresh node (the flag is process-wide) running the built module.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('../../dist/src/cli/old-generation.js', import.meta.url));

/** Peak committed heap (MB) over rounds of garbage beside 100,000 live objects. */
function peakHeap(close: boolean): number {
  const script = `
    const { keepOldGenerationClose } = await import(${JSON.stringify(MODULE)});
    if (${close}) keepOldGenerationClose();
    const live = Array.from({ length: 100000 }, (_, i) => ({ i, s: 'node-' + i }));
    let peak = 0;
    for (let round = 0; round < 150; round++) {
      globalThis.sink = Array.from({ length: 20000 }, (_, i) => ({ i, s: 'x-' + i + '-' + round }));
      await new Promise((r) => setImmediate(r));
      peak = Math.max(peak, process.memoryUsage().heapTotal);
    }
    console.log(live.length && peak / 2 ** 20);`;
  return Number(execFileSync(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', script], { encoding: 'utf8' }));
}

it('keeps the old generation closer to what is live than V8 alone does', () => {
  const alone = peakHeap(false);
  const close = peakHeap(true);
  expect(close).toBeGreaterThan(0);
  expect(close).toBeLessThan(alone * 0.75);
});
