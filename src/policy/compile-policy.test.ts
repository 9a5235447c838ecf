// The compiled buffer beyond what small random worlds reach: pod sets stored as multi-word
// bitsets and as long sorted lists, a hash with collisions, and what the header carries.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { CompiledPolicy } from '../datapath/policy/compiled-policy.js';
import { FlowCheck } from '../../test/policy-flow-check.js';
import { compilePolicy } from './compile-policy.js';
import type { PolicyPod, PolicyWorld } from './world.js';

/** 300 pods in 3 namespaces; tier = i % 7 so peers select sets of every density. */
function bigWorld(policies: V1NetworkPolicy[]): PolicyWorld {
  const pods: PolicyPod[] = [];
  for (let i = 0; i < 300; i++) {
    pods.push({ namespace: `ns${i % 3}`, name: `p${i}`, labels: { tier: String(i % 7), rare: i % 97 === 0 ? 'yes' : 'no' }, ips: [`10.244.${i >> 8}.${i & 255}`, `fd00:10:244::${i.toString(16)}`], nodeName: `n${i % 4}`, hostNetwork: false, ports: [{ name: 'web', port: 8000 + (i % 5), protocol: 'TCP' }] });
  }
  return { pods, namespaces: [0, 1, 2].map((n) => ({ name: `ns${n}`, labels: { 'kubernetes.io/metadata.name': `ns${n}`, n: String(n) } })), nodes: [0, 1, 2, 3].map((n) => ({ name: `n${n}`, addresses: [`192.0.2.${n + 1}`] })), policies };
}

describe('compiled NetworkPolicy: sizes the random worlds do not reach', () => {
  it('pod sets of every density (bitsets over many words, long lists) decide as the reference does', () => {
    const w = bigWorld([
      { metadata: { namespace: 'ns0', name: 'dense' }, spec: { podSelector: {}, ingress: [{ _from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['3'] }] } }] }] } },
      { metadata: { namespace: 'ns1', name: 'sparse' }, spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { rare: 'yes' } } }, { podSelector: { matchLabels: { tier: '5' } } }], ports: [{ port: 'web' }] }] } },
    ]);
    const check = new FlowCheck(w);
    const seen = new Set<string>();
    for (let s = 0; s < 300; s += 11) {
      for (let d = 0; d < 300; d++) {
        for (const port of ['8000/TCP', '8003/TCP']) {
          const got = check.decide(w.pods[s].ips[0], w.pods[d].ips[0], port);
          expect(got.compiled, `${w.pods[s].name} → ${w.pods[d].name} ${port}`).toEqual(got.reference);
          seen.add(String(got.reference.verdict));
        }
      }
    }
    expect([...seen].sort()).toEqual(['0', '1', '2']);
  });

  it('carries its generation, and refuses a buffer that is not one', () => {
    const built = compilePolicy(bigWorld([]), 42);
    expect(new CompiledPolicy(built.sab).generation()).toBe(42);
    expect(new CompiledPolicy(built.sab).podCount()).toBe(300);
    expect(() => new CompiledPolicy(new SharedArrayBuffer(64))).toThrow(/not a compiled NetworkPolicy/);
  });

  it('names each policy for reason(): index → "namespace/name"', () => {
    const w = bigWorld([{ metadata: { namespace: 'ns2', name: 'deny' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } }]);
    const built = compilePolicy(w, 1);
    const decider = new CompiledPolicy(built.sab);
    const q = { src: new Uint8Array(16), dst: new Uint8Array(16), protocol: 6, dstPort: 80 };
    q.src.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 244, 0, 1]);
    q.dst.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 244, 0, 2]); // p2, in ns2
    decider.decide(q);
    expect(built.policyNames[decider.reason()]).toBe('ns2/deny');
  });
});
