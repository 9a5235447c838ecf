// Differential property: the daemon's PolicyCompiler, which keeps the work of the world before
// wherever the new world holds the same objects, builds word for word the buffer a compile from
// scratch builds, with the same names and problems, after every change of a random sequence
// (a policy, pod, namespace or node replaced, added or removed; a pod or namespace relabelled;
// several of these in one world; or nothing changed), as the Kubernetes source hands worlds
// over: new lists, unchanged objects shared.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NAMESPACES, NODE_ADDRESSES, labels, pod, policy, world } from '../../test/policy-worlds.js';
import { propertyRuns } from '../../test/property-runs.js';
import { CompiledPolicy } from '../datapath/policy/compiled-policy.js';
import { FLOW_ALLOW, FLOW_DENY_INGRESS } from '../datapath/policy/flow-decider.js';
import { compilePolicy, PolicyCompiler } from './compile-policy.js';
import { mappedAddress } from './mapped-address.js';
import { PolicyIndex } from './policy-index.js';
import type { PolicyPod, PolicyWorld } from './world.js';

type Change =
  | { kind: 'policy'; at: number; with: V1NetworkPolicy | undefined }
  | { kind: 'pod'; at: number; with: Omit<PolicyPod, 'hostNetwork'> | undefined }
  | { kind: 'relabel'; at: number; labels: Record<string, string>; copyIps: boolean }
  | { kind: 'namespace'; at: number; labels: Record<string, string> | undefined }
  | { kind: 'node'; at: number; addresses: string[] }
  | { kind: 'none' }
  | { kind: 'several'; changes: Change[] };

// `with` undefined removes the object at `at`; `at` past the end adds one.
const single: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant('policy' as const), at: fc.nat(8), with: fc.option(policy, { nil: undefined }) }),
  fc.record({ kind: fc.constant('pod' as const), at: fc.nat(16), with: fc.option(pod, { nil: undefined }) }),
  fc.record({ kind: fc.constant('relabel' as const), at: fc.nat(16), labels: labels(['pod', 'app']), copyIps: fc.boolean() }),
  fc.record({ kind: fc.constant('namespace' as const), at: fc.nat(2), labels: fc.option(labels(['ns', 'team']), { nil: undefined }) }),
  fc.record({ kind: fc.constant('node' as const), at: fc.nat(2), addresses: fc.subarray([...NODE_ADDRESSES.flat(), '192.0.2.9']) }),
  fc.constant({ kind: 'none' as const }),
);
// Changes that reach the compiler in one world (the source coalesces a burst of events).
const change: fc.Arbitrary<Change> = fc.oneof(single, single, single, fc.record({ kind: fc.constant('several' as const), changes: fc.array(single, { minLength: 2, maxLength: 4 }) }));

/** The world after `c`: new lists, every object not changed shared with `w`. */
function applied(w: PolicyWorld, c: Change, step: number): PolicyWorld {
  const next = { pods: [...w.pods], namespaces: [...w.namespaces], nodes: [...w.nodes], policies: [...w.policies] };
  const put = <T>(list: T[], at: number, item: T | undefined) => {
    const i = at % (list.length + 1);
    if (item === undefined) list.splice(i, 1);
    else if (i === list.length) list.push(item);
    else list[i] = item;
  };
  switch (c.kind) {
    case 'policy':
      put(next.policies, c.at, c.with && { ...c.with, metadata: { ...c.with.metadata, name: `c${step}` } });
      break;
    case 'pod':
      put(next.pods, c.at, c.with && { ...c.with, name: `c${step}`, hostNetwork: false });
      break;
    case 'relabel':
      if (next.pods.length > 0) {
        const p = next.pods[c.at % next.pods.length];
        next.pods[c.at % next.pods.length] = { ...p, labels: c.labels, ips: c.copyIps ? [...p.ips] : p.ips };
      }
      break;
    case 'namespace': {
      const name = NAMESPACES[c.at];
      const i = next.namespaces.findIndex((n) => n.name === name);
      const ns = c.labels && { name, labels: { 'kubernetes.io/metadata.name': name, ...c.labels } };
      if (i < 0) {
        if (ns) next.namespaces.push(ns);
      } else if (ns) next.namespaces[i] = ns;
      else next.namespaces.splice(i, 1);
      break;
    }
    case 'node':
      next.nodes[c.at] = { name: next.nodes[c.at].name, addresses: c.addresses };
      break;
    case 'none':
      break;
    case 'several':
      return c.changes.reduce((v, one, k) => applied(v, one, step * 10 + k), next);
  }
  return next;
}

describe('incremental NetworkPolicy compile', () => {
  it('builds after every change the buffer a compile from scratch builds, warmed or not between changes', () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(world, fc.array(change, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(3), { minLength: 8, maxLength: 8 }), (first, changes, warmRuns) => {
        const compiler = new PolicyCompiler();
        let w = first;
        compiler.compile(w, 1);
        changes.forEach((c, step) => {
          // The daemon warms the compiler between changes: it must leave no trace in the next buffer.
          for (let r = 0; r < warmRuns[step]; r++) compiler.warm(step + r);
          w = applied(w, c, step);
          const incremental = compiler.compile(w, step + 2);
          const scratch = compilePolicy(w, step + 2);
          expect(new Int32Array(incremental.sab), `after ${JSON.stringify(c)}`).toEqual(new Int32Array(scratch.sab));
          expect(incremental.policyNames).toEqual(scratch.policyNames);
          expect(incremental.problems).toEqual(scratch.problems);
          kinds.add(c.kind);
        });
      }),
      { numRuns: propertyRuns(200) },
    );
    expect([...kinds].sort()).toEqual(['namespace', 'node', 'none', 'pod', 'policy', 'relabel', 'several']);
  });

  it('follows a relabelled pod out of the policy that selected it', () => {
    const w: PolicyWorld = {
      pods: [{ namespace: 'x', name: 'a', labels: { pod: 'a' }, ips: ['10.244.0.1'], nodeName: 'n0', hostNetwork: false, ports: [] }],
      namespaces: [{ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } }],
      nodes: [{ name: 'n0', addresses: ['192.0.2.1'] }],
      policies: [{ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] } }],
    };
    const compiler = new PolicyCompiler();
    const before = new CompiledPolicy(compiler.compile(w, 1).sab);
    const relabelled = { ...w, pods: [{ ...w.pods[0], labels: { pod: 'b' } }] };
    const after = new CompiledPolicy(compiler.compile(relabelled, 2).sab);
    const q = { src: mappedAddress('192.0.2.9')!, dst: mappedAddress('10.244.0.1')!, protocol: 6, dstPort: 80 };
    expect(before.decide(q)).toBe(FLOW_DENY_INGRESS);
    expect(after.decide(q)).toBe(FLOW_ALLOW);
  });

  it('re-indexes a relabelled pod in place and rebuilds the directory when a pod is added', () => {
    const pods: PolicyPod[] = ['a', 'b'].map((name, i) => ({ namespace: 'x', name, labels: { pod: name }, ips: [`10.244.0.${i + 1}`], nodeName: 'n0', hostNetwork: false, ports: [] }));
    const w: PolicyWorld = { pods, namespaces: [{ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } }], nodes: [{ name: 'n0', addresses: ['192.0.2.1'] }], policies: [] };
    const first = new PolicyIndex(w);
    const relabelled = new PolicyIndex({ ...w, pods: [pods[0], { ...pods[1], labels: { pod: 'c' } }] }, first);
    expect(relabelled.directory.placement).toBe(first.directory.placement);
    expect(relabelled.directory.podsMatching('x', { matchLabels: { pod: 'c' } })).toEqual([1]);
    expect(relabelled.directory.podsMatching('x', { matchLabels: { pod: 'b' } })).toEqual([]);
    const added = new PolicyIndex({ ...w, pods: [...pods, { ...pods[1], name: 'd', ips: ['10.244.0.4'] }] }, relabelled);
    expect(added.directory.placement).not.toBe(first.directory.placement);
  });
});
