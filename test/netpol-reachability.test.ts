// The reachability matrix of the NetworkPolicy e2e suite: upstream's expectation helpers, the
// comparison that decides a round (a wrong matrix must never pass) and the printed truth tables.
import { describe, expect, it } from 'vitest';
import { compare, Reachability, truthTables, type Observed } from './netpol-reachability.js';

const PODS = ['x/a', 'x/b', 'y/a'];
const everyPair = (): boolean => true;

function observedFrom(r: Reachability, flip: [string, string][] = []): Observed {
  const o: Observed = new Map(PODS.map((f) => [f, new Map(PODS.map((t) => [t, r.expected(f, t)]))]));
  for (const [f, t] of flip) o.get(f)!.set(t, !r.expected(f, t));
  return o;
}

describe('Reachability', () => {
  it('sets expectations as upstream does: by peer, by all ingress, by all egress, by pair', () => {
    const r = new Reachability(PODS);
    r.expectPeer({}, { namespace: 'x' }, false);
    r.expectAllEgress('y/a', false);
    r.expect('x/b', 'x/a', true);
    expect(PODS.map((f) => PODS.map((t) => Number(r.expected(f, t))))).toEqual([
      [0, 0, 1],
      [1, 0, 1],
      [0, 0, 0],
    ]);
    r.expectAllIngress('y/a', true);
    expect(PODS.map((f) => r.expected(f, 'y/a'))).toEqual([true, true, true]);
  });

  it('refuses a pod outside the model', () => {
    expect(() => new Reachability(PODS).expect('z/a', 'x/a', false)).toThrow(/no pod z\/a/);
  });

  it('counts a wrong asserted pair as wrong, and one that is not asserted as ignored', () => {
    const r = new Reachability(PODS);
    r.expectAllIngress('x/a', false);
    const observed = observedFrom(r, [['x/b', 'x/a']]);
    expect(compare(r, observed, everyPair)).toEqual({ right: 8, wrong: 1, ignored: 0, deniedAsserted: 3 });
    const notXb = (f: string): boolean => f !== 'x/b';
    expect(compare(r, observed, notXb)).toEqual({ right: 6, wrong: 0, ignored: 3, deniedAsserted: 2 });
  });

  it('prints expected, observed and comparison tables as upstream does, marking unasserted differences apart', () => {
    const r = new Reachability(PODS);
    r.expectAllIngress('x/a', false);
    const observed = observedFrom(r, [['x/b', 'x/a'], ['y/a', 'x/b']]);
    const text = truthTables(r, observed, (f, t) => !(f === 'y/a' && t === 'x/b'));
    expect(text).toContain('reachability: correct:7, incorrect:1, not asserted:1, result=false');
    expect(text).toContain('expected:\n\n-\tx/a\tx/b\ty/a\nx/a\tX\t.\t.\nx/b\tX\t.\t.\ny/a\tX\t.\t.');
    expect(text).toContain('observed:\n\n-\tx/a\tx/b\ty/a\nx/a\tX\t.\t.\nx/b\t.\t.\t.\ny/a\tX\tX\t.');
    expect(text).toContain('comparison:\n\n-\tx/a\tx/b\ty/a\nx/a\t.\t.\t.\nx/b\tX\t.\t.\ny/a\t.\t~\t.');
  });
});
