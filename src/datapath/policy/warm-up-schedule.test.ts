import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../policy/compile-policy.js';
import type { PolicyWorld } from '../../policy/world.js';
import { CompiledPolicy } from './compiled-policy.js';
import { WARM_CONNECTIONS } from './policy-warm-up.js';
import { WarmUpSchedule } from './warm-up-schedule.js';

const SLOT = 2048;
const BURST = 50;

/** A world of `nodes` nodes and `pods` pods on them, the kind memory-flat's daemon sees with pods = 0. */
function world(nodes: number, pods: number): PolicyWorld {
  return {
    nodes: Array.from({ length: nodes }, (_, k) => ({ name: `n${k}`, addresses: [`192.0.2.${1 + k}`] })),
    pods: Array.from({ length: pods }, (_, i) => ({ namespace: 'ns', name: `p${i}`, labels: {}, ips: [`10.244.0.${1 + i}`, `fd00:10:244::${(1 + i).toString(16)}`], nodeName: 'n0', hostNetwork: false, ports: [] })),
    namespaces: [{ name: 'ns', labels: { 'kubernetes.io/metadata.name': 'ns' } }],
    policies: [],
  };
}

let generation = 0;
const compiled = (nodes: number, pods: number): CompiledPolicy => new CompiledPolicy(compilePolicy(world(nodes, pods), ++generation).sab);

/** A schedule and how often it reported the shard warm. */
function schedule(): { s: WarmUpSchedule; warmed: () => number } {
  let warmed = 0;
  return { s: new WarmUpSchedule(SLOT, () => warmed++), warmed: () => warmed };
}

describe('when a shard warms its policy stage', () => {
  it('a burst of pod-less policy worlds after a pod-less start starts no warm-up: the one at start was theirs', () => {
    const { s, warmed } = schedule();
    s.atStart(compiled(3, 0));
    expect(s.started).toBe(1);
    for (let k = 0; k < BURST; k++) {
      s.adopted(compiled(3 + (k % 5), 0));
      expect(s.pending).toBe(false);
    }
    expect(s.started).toBe(1);
    expect(warmed()).toBe(0);
  });

  it('the first world with pods starts one sliced warm-up, which no later world restarts, and is reported warm once it ends', () => {
    const { s, warmed } = schedule();
    s.atStart(compiled(3, 0));
    s.adopted(compiled(3, 0));
    s.adopted(compiled(3, 4));
    expect(s.started).toBe(2);
    expect(s.pending).toBe(true);
    // Worlds arriving while it runs, with pods and without: the same warm-up goes on.
    for (let k = 0; k < BURST; k++) s.adopted(compiled(3, k % 2 === 0 ? 0 : 5 + k));
    expect(s.started).toBe(2);
    let slices = 0;
    while (s.pending) {
      s.step(16);
      slices++;
    }
    expect(slices).toBe(Math.ceil(WARM_CONNECTIONS / 16));
    expect(warmed()).toBe(1);
    for (let k = 0; k < BURST; k++) s.adopted(compiled(3, k % 3));
    expect(s.started).toBe(2);
    expect(s.pending).toBe(false);
    expect(warmed()).toBe(1);
  });

  it('a start with pods is warm at once and warms never again', () => {
    const { s, warmed } = schedule();
    s.atStart(compiled(3, 4));
    expect(warmed()).toBe(1);
    for (let k = 0; k < BURST; k++) s.adopted(compiled(3, k % 3));
    expect(s.started).toBe(1);
    expect(s.pending).toBe(false);
    expect(warmed()).toBe(1);
  });
});
