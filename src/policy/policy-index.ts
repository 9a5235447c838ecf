// The world as NetworkPolicy reads it: policies checked and parsed, who owns each address, which
// namespaces carry which labels, which pods each policy selects. Built once per change on the
// main thread; the reference semantics, explain and the compiler all read this one index, so they
// agree on who is who. They differ only in how they match (plainly, or from compiled tables).
import type { V1LabelSelector } from '@kubernetes/client-node';
import { selectorMatches } from './label-selector.js';
import { addressFromKey, addressKey, mappedAddress } from './mapped-address.js';
import { parsePolicy, type ParsedPeer, type ParsedPolicy, type PolicyProblem } from './parsed-policy.js';
import type { PolicyPod, PolicyWorld } from './world.js';

const NAME_LABEL = 'kubernetes.io/metadata.name';

export class PolicyIndex {
  readonly policies: ParsedPolicy[];
  readonly problems: PolicyProblem[];
  /**
   * Pods a policy can select or name as a peer: with an IP, not hostNetwork (a hostNetwork pod
   * counts as its node: ipBlock matches it by address, selectors never do).
   */
  readonly pods: PolicyPod[] = [];
  /** Node names, in world order, then any only named by a pod. */
  readonly nodeNames: string[] = [];
  private readonly podByAddress = new Map<string, number>();
  private readonly nodeByAddress = new Map<string, number>();
  private readonly nodeIndex = new Map<string, number>();
  private readonly namespaceLabels = new Map<string, Record<string, string>>();
  private readonly podsByNamespace = new Map<string, number[]>();
  private readonly selected = new Map<ParsedPolicy, readonly number[]>();

  constructor(readonly world: PolicyWorld) {
    for (const ns of world.namespaces) this.namespaceLabels.set(ns.name, ns.labels);
    for (const n of world.nodes) this.nodeOf(n.name);
    for (const n of world.nodes) for (const a of n.addresses) this.addNodeAddress(a, this.nodeOf(n.name));
    for (const pod of world.pods) {
      if (pod.hostNetwork) {
        if (pod.nodeName !== undefined) for (const a of pod.ips) this.addNodeAddress(a, this.nodeOf(pod.nodeName));
        continue;
      }
      if (pod.ips.length === 0) continue;
      const i = this.pods.length;
      this.pods.push(pod);
      let list = this.podsByNamespace.get(pod.namespace);
      if (!list) this.podsByNamespace.set(pod.namespace, (list = []));
      list.push(i);
      // Two pods claiming one address (a stale status): the first in world order keeps it.
      for (const a of pod.ips) {
        const bytes = mappedAddress(a);
        if (!bytes) continue;
        const key = addressKey(bytes);
        if (!this.podByAddress.has(key)) this.podByAddress.set(key, i);
      }
    }
    this.policies = world.policies.map((np, i) => parsePolicy(np, i));
    this.problems = this.policies.flatMap((p) => p.problems);
    this.reportUnknownNamedPorts();
  }

  /** Index in `pods` of the pod with this address, -1 when none (outside, a node, hostNetwork). */
  podAt(addr: Uint8Array): number {
    return this.podByAddress.get(addressKey(addr)) ?? -1;
  }

  /** Index in `nodeNames` of the node with this address (hostNetwork pods' included), or -1. */
  nodeAt(addr: Uint8Array): number {
    return this.nodeByAddress.get(addressKey(addr)) ?? -1;
  }

  /** Every pod address with the pod that has it, 16 bytes each. */
  *podAddresses(): IterableIterator<[Uint8Array, number]> {
    for (const [key, pod] of this.podByAddress) yield [addressFromKey(key), pod];
  }

  /** Every node address (hostNetwork pods' included), 16 bytes each. */
  *nodeAddresses(): IterableIterator<Uint8Array> {
    for (const key of this.nodeByAddress.keys()) yield addressFromKey(key);
  }

  /** A pod's node as an index in `nodeNames`, -1 when unscheduled. */
  podNode(pod: number): number {
    const name = this.pods[pod].nodeName;
    return name === undefined ? -1 : (this.nodeIndex.get(name) ?? -1);
  }

  /** A namespace's labels; one the world has not listed yet carries only its name label. */
  labelsOfNamespace(ns: string): Record<string, string> {
    return this.namespaceLabels.get(ns) ?? { [NAME_LABEL]: ns };
  }

  namespacesWithPods(): IterableIterator<[string, number[]]> {
    return this.podsByNamespace.entries();
  }

  podsOfNamespace(ns: string): readonly number[] {
    return this.podsByNamespace.get(ns) ?? [];
  }

  selects(policy: ParsedPolicy, pod: number): boolean {
    const p = this.pods[pod];
    if (p.namespace !== policy.namespace) return false;
    return policy.podSelector === undefined || selectorMatches(policy.podSelector, p.labels);
  }

  /** The pods a policy selects (computed once per policy). */
  selectedPods(policy: ParsedPolicy): readonly number[] {
    let pods = this.selected.get(policy);
    if (!pods) this.selected.set(policy, (pods = this.podsOfNamespace(policy.namespace).filter((i) => this.selects(policy, i))));
    return pods;
  }

  /** Whether a pods peer (podSelector and/or namespaceSelector) of `policy` names this pod. */
  peerSelectsPod(policy: ParsedPolicy, peer: ParsedPeer & { kind: 'pods' }, pod: number): boolean {
    const p = this.pods[pod];
    return this.namespaceMatches(policy, peer.namespaceSelector, p.namespace) && (peer.podSelector === undefined || selectorMatches(peer.podSelector, p.labels));
  }

  namespaceMatches(policy: ParsedPolicy, sel: V1LabelSelector | undefined, ns: string): boolean {
    return sel === undefined ? ns === policy.namespace : selectorMatches(sel, this.labelsOfNamespace(ns));
  }

  private nodeOf(name: string): number {
    let i = this.nodeIndex.get(name);
    if (i === undefined) {
      i = this.nodeNames.length;
      this.nodeNames.push(name);
      this.nodeIndex.set(name, i);
    }
    return i;
  }

  private addNodeAddress(text: string, node: number): void {
    const bytes = mappedAddress(text);
    if (bytes && !this.nodeByAddress.has(addressKey(bytes))) this.nodeByAddress.set(addressKey(bytes), node);
  }

  // A named port that no pod it could apply to declares is valid for the API but matches
  // nothing: worth a line in the log under the policy's name.
  private reportUnknownNamedPorts(): void {
    const anyPod = new Set<string>();
    for (const p of this.pods) for (const pp of p.ports) if (pp.name !== undefined) anyPod.add(`${pp.name}/${pp.protocol}`);
    for (const policy of this.policies) {
      for (const dir of ['ingress', 'egress'] as const) {
        if (!policy.isolates[dir]) continue;
        for (const rule of policy.rules[dir]) {
          if (!rule.valid || !rule.ports) continue;
          rule.ports.forEach((port, i) => {
            if (typeof port.port !== 'string') return;
            const has = dir === 'egress' ? anyPod.has(`${port.port}/${port.protocol}`) : this.selectedPods(policy).some((c) => this.pods[c].ports.some((pp) => pp.name === port.port && pp.protocol === port.protocol));
            if (!has) {
              this.problems.push({
                policy: `${policy.namespace}/${policy.name}`,
                field: `spec.${dir}[${rule.index}].ports[${i}].port`,
                problem: `no ${dir === 'ingress' ? 'selected ' : ''}pod has a container port named "${port.port}" (${port.protocol}): this entry matches nothing until one does`,
              });
            }
          });
        }
      }
    }
  }
}
