// The world as NetworkPolicy reads it: policies checked and parsed, who owns each address, which
// namespaces carry which labels, which pods each policy selects. Built once per change on the
// main thread; the reference semantics, explain and the compiler all read this one index, so they
// agree on who is who. They differ only in how they match (plainly, or from compiled tables).
import type { V1LabelSelector, V1NetworkPolicy } from '@kubernetes/client-node';
import { selectorMatches } from './label-selector.js';
import { parsePolicy, type ParsedPeer, type ParsedPolicy, type PolicyProblem } from './parsed-policy.js';
import { PodDirectory, type PodChange } from './pod-directory.js';
import { sameItems } from './same-items.js';
import type { PolicyPod, PolicyWorld } from './world.js';

const NAME_LABEL = 'kubernetes.io/metadata.name';

type PodsPeer = ParsedPeer & { kind: 'pods' };

/** A pods peer's pods, and the peer and policy namespace they were found from. */
interface PeerMembers {
  pods: readonly number[];
  namespace: string;
  peer: PodsPeer;
}

/** A policy's named ports checked against pods: the problems, and what they were found from. */
interface NamedPortCheck {
  placement: object;
  /** The directory's port names then (PodDirectory.portNames). */
  portNames: object;
  /** What the policy selected, when an ingress named port was checked against it. */
  selected: readonly number[] | undefined;
  problems: PolicyProblem[];
}

/** Each policy's named-port check, by its rules (a policy kept or moved keeps them). */
const namedPortProblems = new WeakMap<ParsedPolicy['rules'], NamedPortCheck>();

/** Whether a pod change at a slot changes what `sel` selects in the namespaces `inNamespaces` accepts: the pod there before or after is selected, not both (absent `sel`: every pod). */
function changeDecides(sel: V1LabelSelector | undefined, inNamespaces: (ns: string) => boolean, c: PodChange): boolean {
  return selectedBy(sel, inNamespaces, c.before) !== selectedBy(sel, inNamespaces, c.after);
}

const selectedBy = (sel: V1LabelSelector | undefined, inNamespaces: (ns: string) => boolean, pod: PolicyPod | undefined): boolean =>
  pod !== undefined && inNamespaces(pod.namespace) && (sel === undefined || selectorMatches(sel, pod.labels));
/** Each pods peer's key: peers with equal keys name the same pods. */
const peerKeys = new WeakMap<PodsPeer, string>();

export class PolicyIndex {
  readonly policies: ParsedPolicy[];
  readonly problems: PolicyProblem[];
  /** The directory's pods: those a policy can select or name as a peer. */
  readonly pods: PolicyPod[];
  /** Node names, in world order, then any only named by a pod. */
  readonly nodeNames: string[];
  readonly directory: PodDirectory;
  /** The slots whose pod changed since `previous` (ascending), undefined when the directory was built anew. */
  readonly changedSlots: readonly number[] | undefined;
  private readonly namespaceLabels = new Map<string, Record<string, string>>();
  private readonly selected = new Map<ParsedPolicy, readonly number[]>();
  /** Parsed policies by the object each was parsed from. */
  private readonly parsed = new Map<V1NetworkPolicy, ParsedPolicy>();
  /** The pods of each pods peer, by peerKey, and what they were found from. */
  private readonly members: Map<string, PeerMembers>;

  /**
   * `previous`: the index of the world before. Where this world holds the same objects (the
   * world's objects are never changed in place), its work is kept: policies stay parsed; pods keep
   * their slots, and the pod directory is patched for the pods that came, went or changed; the
   * pods each policy and each peer selects stay unless such a pod or a namespace changed could
   * change them. A change of one policy parses and selects for that policy only.
   * `slots`: without `previous`, each slot's pod (VACANT: none), as PodDirectory.of takes them.
   */
  constructor(
    readonly world: PolicyWorld,
    previous?: PolicyIndex,
    slots?: readonly PolicyPod[],
  ) {
    for (const ns of world.namespaces) this.namespaceLabels.set(ns.name, ns.labels);
    const next = previous?.directory.next(world.pods, world.nodes);
    this.directory = next?.directory ?? PodDirectory.of(world.pods, world.nodes, slots);
    this.pods = this.directory.pods;
    this.nodeNames = this.directory.nodeNames;
    /** Slots whose pod changed; undefined when the directory was built anew (nothing is kept). */
    const changes = next?.changes;
    this.changedSlots = changes?.map((c) => c.slot).sort((a, b) => a - b);
    const namespacesSame = previous !== undefined && sameItems(previous.world.namespaces, world.namespaces);
    this.members = changes === undefined ? new Map() : changes.length === 0 && namespacesSame ? previous!.members : this.keptMembers(previous!, changes);
    this.policies = world.policies.map((np, i) => {
      const before = previous?.parsed.get(np);
      const policy = before === undefined ? parsePolicy(np, i) : before.index === i ? before : { ...before, index: i };
      this.parsed.set(np, policy);
      const selected = changes !== undefined && before !== undefined ? previous!.selected.get(before) : undefined;
      if (selected && !changes!.some((c) => changeDecides(policy.podSelector, (ns) => ns === policy.namespace, c))) this.selected.set(policy, selected);
      return policy;
    });
    this.problems = this.policies.flatMap((p) => p.problems);
    this.reportUnknownNamedPorts();
  }

  /** Index in `pods` of the pod with this address, -1 when none (outside, a node, hostNetwork). */
  podAt(addr: Uint8Array): number {
    return this.directory.podAt(addr);
  }

  /** Index in `nodeNames` of the node with this address (hostNetwork pods' included), or -1. */
  nodeAt(addr: Uint8Array): number {
    return this.directory.nodeAt(addr);
  }

  /** A pod's node as an index in `nodeNames`, -1 when unscheduled. */
  podNode(pod: number): number {
    return this.directory.podNode(pod);
  }

  /** A namespace's labels; one the world has not listed yet carries only its name label. */
  labelsOfNamespace(ns: string): Record<string, string> {
    return this.namespaceLabels.get(ns) ?? { [NAME_LABEL]: ns };
  }

  podsOfNamespace(ns: string): readonly number[] {
    return this.directory.podsOfNamespace(ns);
  }

  selects(policy: ParsedPolicy, pod: number): boolean {
    const p = this.pods[pod];
    if (p.namespace !== policy.namespace) return false;
    return policy.podSelector === undefined || selectorMatches(policy.podSelector, p.labels);
  }

  /** The pods a policy selects, ascending (computed once per policy). */
  selectedPods(policy: ParsedPolicy): readonly number[] {
    let pods = this.selected.get(policy);
    if (!pods) this.selected.set(policy, (pods = this.directory.podsMatching(policy.namespace, policy.podSelector)));
    return pods;
  }

  /** A key for a pods peer of `policy`: peers with equal keys name the same pods. */
  peerKey(policy: ParsedPolicy, peer: PodsPeer): string {
    let key = peerKeys.get(peer);
    if (key === undefined) peerKeys.set(peer, (key = JSON.stringify([peer.namespaceSelector === undefined ? policy.namespace : '', peer.namespaceSelector, peer.podSelector])));
    return key;
  }

  /** The pods a pods peer of `policy` names, ascending: those peerSelectsPod names, found from the label index. */
  peerMembers(policy: ParsedPolicy, peer: PodsPeer): readonly number[] {
    const key = this.peerKey(policy, peer);
    const kept = this.members.get(key);
    if (kept) return kept.pods;
    let pods: number[];
    if (peer.namespaceSelector === undefined) pods = this.directory.podsMatching(policy.namespace, peer.podSelector);
    else {
      pods = [];
      let namespaces = 0;
      for (const ns of this.directory.namespaces()) {
        if (!selectorMatches(peer.namespaceSelector, this.labelsOfNamespace(ns))) continue;
        for (const i of this.directory.podsMatching(ns, peer.podSelector)) pods.push(i);
        namespaces++;
      }
      if (namespaces > 1) pods.sort((x, y) => x - y);
    }
    this.members.set(key, { pods, namespace: policy.namespace, peer });
    return pods;
  }

  /**
   * The pod sets of `previous` that this world's changes leave as they were: a pod changed at a
   * slot changes only the sets of peers whose namespaces hold it and whose podSelector matches
   * the pod there before or after, not both; a changed namespace only those whose
   * namespaceSelector matches it before or after.
   */
  private keptMembers(previous: PolicyIndex, changes: readonly PodChange[]): Map<string, PeerMembers> {
    const changedNamespaces: string[] = [];
    for (const ns of new Set([...previous.namespaceLabels.keys(), ...this.namespaceLabels.keys()])) {
      if (previous.namespaceLabels.get(ns) !== this.namespaceLabels.get(ns)) changedNamespaces.push(ns);
    }
    const kept = new Map<string, PeerMembers>();
    for (const [key, m] of previous.members) {
      const sel = m.peer.namespaceSelector;
      if (sel !== undefined && changedNamespaces.some((ns) => selectorMatches(sel, previous.labelsOfNamespace(ns)) !== selectorMatches(sel, this.labelsOfNamespace(ns)))) continue;
      const inNamespaces = (ns: string) => (sel === undefined ? ns === m.namespace : selectorMatches(sel, this.labelsOfNamespace(ns)));
      if (changes.some((c) => changeDecides(m.peer.podSelector, inNamespaces, c))) continue;
      kept.set(key, m);
    }
    return kept;
  }

  /** Whether a pods peer (podSelector and/or namespaceSelector) of `policy` names this pod. */
  peerSelectsPod(policy: ParsedPolicy, peer: PodsPeer, pod: number): boolean {
    const p = this.pods[pod];
    return this.namespaceMatches(policy, peer.namespaceSelector, p.namespace) && (peer.podSelector === undefined || selectorMatches(peer.podSelector, p.labels));
  }

  namespaceMatches(policy: ParsedPolicy, sel: V1LabelSelector | undefined, ns: string): boolean {
    return sel === undefined ? ns === policy.namespace : selectorMatches(sel, this.labelsOfNamespace(ns));
  }

  // A named port that no pod it could apply to declares is valid for the API but matches
  // nothing: worth a line in the log under the policy's name. Kept per policy while the pods it
  // was checked against are the same (what it selects, and every pod's ports for egress): in
  // the same placement, or in the one patched from it when the port names are the same and no
  // pod it selects changed.
  private reportUnknownNamedPorts(): void {
    const { directory } = this;
    for (const policy of this.policies) {
      const kept = namedPortProblems.get(policy.rules);
      let checked: NamedPortCheck;
      if (kept !== undefined && (kept.selected === undefined || kept.selected === this.selectedPods(policy)) && kept.placement === directory.placement) checked = kept;
      else if (kept !== undefined && (kept.selected === undefined || kept.selected === this.selectedPods(policy)) && this.stillHolds(kept)) checked = { ...kept, placement: directory.placement };
      else checked = this.unknownNamedPorts(policy);
      if (checked !== kept) namedPortProblems.set(policy.rules, checked);
      for (const p of checked.problems) this.problems.push(p);
    }
  }

  /** Whether a check made in the placement this directory was patched from holds in this one. */
  private stillHolds(kept: NamedPortCheck): boolean {
    const { directory, changedSlots } = this;
    if (kept.placement !== directory.placedFrom || kept.portNames !== directory.portNames || changedSlots === undefined) return false;
    return kept.selected === undefined || !changedSlots.some((slot) => kept.selected!.includes(slot));
  }

  private unknownNamedPorts(policy: ParsedPolicy): NamedPortCheck {
    const check: NamedPortCheck = { placement: this.directory.placement, portNames: this.directory.portNames, selected: undefined, problems: [] };
    for (const dir of ['ingress', 'egress'] as const) {
      if (!policy.isolates[dir]) continue;
      for (const rule of policy.rules[dir]) {
        if (!rule.valid || !rule.ports) continue;
        rule.ports.forEach((port, i) => {
          if (typeof port.port !== 'string') return;
          if (dir === 'ingress') check.selected = this.selectedPods(policy);
          const has = dir === 'egress' ? this.directory.hasPortName(`${port.port}/${port.protocol}`) : check.selected!.some((c) => this.pods[c].ports.some((pp) => pp.name === port.port && pp.protocol === port.protocol));
          if (!has) {
            check.problems.push({
              policy: `${policy.namespace}/${policy.name}`,
              field: `spec.${dir}[${rule.index}].ports[${i}].port`,
              problem: `no ${dir === 'ingress' ? 'selected ' : ''}pod has a container port named "${port.port}" (${port.protocol}): this entry matches nothing until one does`,
            });
          }
        });
      }
    }
    return check;
  }
}
