// Differential property: the daemon's PolicyCompiler, which keeps the work of the world before
// wherever the new world holds the same objects and keeps each pod in its slot, builds word for
// word the buffer a compile from scratch builds given the same slots (its address hash: the same
// entries, each reached by its probe, in slots that may differ), with the same names and
// problems, and decides every drawn flow as the reference semantics of the world do, after every
// change of a random sequence (a policy, pod, namespace or node replaced, added or removed; a pod
// or namespace relabelled; several of these in one world; or nothing changed), as the Kubernetes
// source hands worlds over: new lists, unchanged objects shared.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NAMESPACES, NODE_ADDRESSES, flow, labels, pod, policy, world } from '../../test/policy-worlds.js';
import { propertyRuns } from '../../test/property-runs.js';
import { CompiledPolicy } from '../datapath/policy/compiled-policy.js';
import { ADDRESS_WORDS, A_NODE, A_POD, H_HASH_OFF, H_PODS_OFF, addressHash } from '../datapath/policy/policy-layout.js';
import { FLOW_ALLOW, FLOW_DENY_INGRESS } from '../datapath/policy/flow-decider.js';
import { compilePolicy, PolicyCompiler } from './compile-policy.js';
import { mappedAddress } from './mapped-address.js';
import { VACANT } from './pod-directory.js';
import { PolicyIndex } from './policy-index.js';
import { PROTOCOL_NUMBERS, referenceDecide } from './reference.js';
import type { PolicyPod, PolicyProtocol, PolicyWorld } from './world.js';

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

/** Word for word, but for the address hash: the same entries there, each in a slot its probe reaches. */
function expectSameBuffer(got: SharedArrayBuffer, want: SharedArrayBuffer, what: string): void {
  const g = new Int32Array(got);
  const w = new Int32Array(want);
  expect(g.length, what).toBe(w.length);
  const from = w[H_HASH_OFF];
  const to = w[H_PODS_OFF];
  expect([...g.subarray(0, from), ...g.subarray(to)], what).toEqual([...w.subarray(0, from), ...w.subarray(to)]);
  expect(hashEntries(g, from, to), what).toEqual(hashEntries(w, from, to));
}

/** The hash's entries as text, sorted; fails unless each is reached by probing from its home slot. */
function hashEntries(w: Int32Array, from: number, to: number): string[] {
  const slots = (to - from) / ADDRESS_WORDS;
  const empty = (i: number) => w[from + i * ADDRESS_WORDS + A_POD] < 0 && w[from + i * ADDRESS_WORDS + A_NODE] < 0;
  const entries: string[] = [];
  for (let i = 0; i < slots; i++) {
    if (empty(i)) continue;
    const s = from + i * ADDRESS_WORDS;
    for (let j = addressHash(w[s], w[s + 1], w[s + 2], w[s + 3]) & (slots - 1); j !== i; j = (j + 1) & (slots - 1)) expect(empty(j), `slot ${j} on the probe to ${i}`).toBe(false);
    entries.push([...w.subarray(s, s + ADDRESS_WORDS)].join(' '));
  }
  return entries.sort();
}

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
  it('builds after every change the buffer a compile from scratch on the same slots builds and decides as the reference, warmed or not between changes', () => {
    const kinds = new Set<string>();
    let vacated = 0;
    fc.assert(
      fc.property(world, fc.array(change, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(3), { minLength: 8, maxLength: 8 }), fc.array(flow, { minLength: 8, maxLength: 8 }), (first, changes, warmRuns, flows) => {
        const compiler = new PolicyCompiler();
        let w = first;
        compiler.compile(w, 1);
        changes.forEach((c, step) => {
          // The daemon warms the compiler between changes: it must leave no trace in the next buffer.
          for (let r = 0; r < warmRuns[step]; r++) compiler.warm(step + r);
          w = applied(w, c, step);
          const incremental = compiler.compile(w, step + 2);
          const slots = compiler.slots();
          const scratch = compilePolicy(w, step + 2, slots);
          expectSameBuffer(incremental.sab, scratch.sab, `after ${JSON.stringify(c)}`);
          expect(incremental.policyNames).toEqual(scratch.policyNames);
          expect(incremental.problems).toEqual(scratch.problems);
          // The slots hold the world's pods with an IP and without hostNetwork, each once.
          const placed = slots.filter((p) => p !== VACANT);
          expect(new Set(placed).size).toBe(placed.length);
          expect(new Set(placed)).toEqual(new Set(w.pods.filter((p) => !p.hostNetwork && p.ips.length > 0)));
          if (placed.length < slots.length) vacated++;
          // The flows are decided as the reference semantics of the world decide them (on the same
          // slots: of two pods claiming one address, a stale status, the lower slot has it).
          const decider = new CompiledPolicy(incremental.sab);
          const reference = new PolicyIndex(w, undefined, slots);
          for (const f of flows) {
            const [src, dst] = f.ends.map((a) => mappedAddress(a)!);
            const [num, proto] = f.port.split('/');
            const protocol = proto in PROTOCOL_NUMBERS ? PROTOCOL_NUMBERS[proto as PolicyProtocol] : Number(proto);
            const verdict = decider.decide({ src, dst, protocol, dstPort: Number(num) });
            expect({ verdict, policy: decider.reason() }, `${f.ends.join(' → ')} ${f.port} after ${JSON.stringify(c)}`).toEqual(referenceDecide(reference, src, dst, protocol, Number(num)));
          }
          kinds.add(c.kind);
        });
      }),
      { numRuns: propertyRuns(200) },
    );
    expect([...kinds].sort()).toEqual(['namespace', 'node', 'none', 'pod', 'policy', 'relabel', 'several']);
    expect(vacated, 'worlds with a vacant slot').toBeGreaterThan(0);
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

  it('re-indexes a relabelled pod in place and places a pod added anew', () => {
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

describe('pod slots', () => {
  const pods: PolicyPod[] = ['a', 'b', 'c'].map((name, i) => ({ namespace: 'x', name, labels: { pod: name }, ips: [`10.244.0.${i + 1}`], nodeName: 'n0', hostNetwork: false, ports: [] }));
  const w: PolicyWorld = { pods, namespaces: [{ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } }], nodes: [{ name: 'n0', addresses: ['192.0.2.1'] }], policies: [] };

  it("leaves a deleted pod's slot vacant and gives it to the next pod added, the others keeping theirs", () => {
    const first = new PolicyIndex(w);
    const deleted = new PolicyIndex({ ...w, pods: [pods[0], pods[2]] }, first);
    expect(deleted.pods).toEqual([pods[0], VACANT, pods[2]]);
    expect(deleted.podAt(mappedAddress('10.244.0.3')!)).toBe(2);
    expect(deleted.podAt(mappedAddress('10.244.0.2')!)).toBe(-1);
    expect(deleted.directory.podsMatching('x', undefined)).toEqual([0, 2]);
    const d = { ...pods[1], name: 'd', labels: { pod: 'd' }, ips: ['10.244.0.4'] };
    const e = { ...pods[1], name: 'e', ips: ['10.244.0.5'] };
    const added = new PolicyIndex({ ...w, pods: [e, pods[0], d, pods[2]] }, deleted);
    expect(added.pods).toEqual([pods[0], e, pods[2], d]);
    expect(added.directory.podsMatching('x', { matchLabels: { pod: 'd' } })).toEqual([3]);
  });

  it('keeps a pod replaced by one of the same name (a new IP) in its slot, and an address claimed twice with the lowest slot', () => {
    const first = new PolicyIndex(w);
    const moved = { ...pods[0], ips: ['10.244.0.3'] };
    const next = new PolicyIndex({ ...w, pods: [pods[1], pods[2], moved] }, first);
    expect(next.pods).toEqual([moved, pods[1], pods[2]]);
    expect(next.podAt(mappedAddress('10.244.0.3')!)).toBe(0);
    expect(next.podAt(mappedAddress('10.244.0.1')!)).toBe(-1);
    const gone = new PolicyIndex({ ...w, pods: [pods[1], pods[2]] }, next);
    expect(gone.podAt(mappedAddress('10.244.0.3')!)).toBe(2);
  });
});
