// Differential property: on random worlds (test/policy-worlds.ts), the compiled buffer's decide()
// and reason() equal the reference semantics for every flow between the world's addresses and
// outside ones.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { propertyRuns } from '../../test/property-runs.js';
import { FlowCheck } from '../../test/policy-flow-check.js';
import { flow, world } from '../../test/policy-worlds.js';

describe('compiled NetworkPolicy against the reference semantics', () => {
  it('decides every flow of every random world as the reference does, with the same reason', () => {
    const seen = [0, 0, 0]; // allow, deny egress, deny ingress: the worlds must reach all three
    fc.assert(
      fc.property(world, fc.array(flow, { minLength: 1, maxLength: 24 }), (w, flows) => {
        const check = new FlowCheck(w);
        for (const f of flows) {
          const [src, dst] = f.ends;
          const got = check.decide(src, dst, f.port);
          expect(got.compiled, `${src} → ${dst} ${f.port}`).toEqual(got.reference);
          seen[got.reference.verdict]++;
        }
      }),
      { numRuns: propertyRuns(1500) },
    );
    const total = seen[0] + seen[1] + seen[2];
    for (const n of seen) expect(n / total, `verdicts allow/egress/ingress: ${seen.join('/')}`).toBeGreaterThan(0.05);
    console.log(`verdicts allow/deny-egress/deny-ingress: ${seen.join('/')}`);
  });
});
