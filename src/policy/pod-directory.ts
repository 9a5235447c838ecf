// Who is who, from the world's pods and nodes: which pod or node has each address, each pod's
// node, and the pods of each namespace indexed by label, so that a selector starts from the pods
// that carry one of the labels it names instead of from every pod. Rebuilt only when a pod or a
// node changed: a change of policies or namespaces keeps the directory of the world before, and
// a change of pods' labels alone (relabelled()) re-indexes only their namespaces.
import type { V1LabelSelector } from '@kubernetes/client-node';
import { selectorMatches } from './label-selector.js';
import { addressKey, mappedAddress } from './mapped-address.js';
import { sameItems } from './same-items.js';
import type { PodPort, PolicyNode, PolicyPod } from './world.js';

const NONE: readonly number[] = [];

/** Takes each address of forEachAddress (an object's method, not a closure made per call: see compile-policy.ts). */
export interface AddressVisitor {
  address(a0: number, a1: number, a2: number, a3: number, pod: number, node: number): void;
}

/** Each pod's addresses as Map keys, by pod object (the world's objects are never changed in place). */
const addressKeys = new WeakMap<PolicyPod, string[]>();

/** Word k (0..3, big-endian) of an address key (addressKey: eight 16-bit chars). */
const keyWord = (key: string, k: number): number => (key.charCodeAt(2 * k) << 16) | key.charCodeAt(2 * k + 1);

export class PodDirectory {
  /**
   * Pods a policy can select or name as a peer: with an IP, not hostNetwork (a hostNetwork pod
   * counts as its node: ipBlock matches it by address, selectors never do).
   */
  readonly pods: PolicyPod[] = [];
  /** Node names, in world order, then any only named by a pod. */
  readonly nodeNames: string[];
  /** "name/protocol" of every named container port. */
  readonly portNames: Set<string>;
  /**
   * The same object while every pod keeps its index, addresses, node and ports, and every node its
   * addresses (only labels changed): what is built from those alone is kept by it.
   */
  readonly placement: object;
  private readonly podByAddress: Map<string, number>;
  private readonly nodeByAddress: Map<string, number>;
  private readonly nodeIndex: Map<string, number>;
  private readonly podsByNamespace: Map<string, number[]>;
  /** Per namespace: label key → value → its pods, ascending. */
  private readonly podsByLabel: Map<string, Map<string, Map<string, number[]>>>;

  /** `relabelledFrom`: a directory of the same pods in the same places, whose label index is kept but for the namespaces named. */
  private constructor(
    private readonly worldPods: readonly PolicyPod[],
    private readonly worldNodes: readonly PolicyNode[],
    relabelledFrom?: { directory: PodDirectory; namespaces: ReadonlySet<string> },
  ) {
    if (relabelledFrom !== undefined) {
      const d = relabelledFrom.directory;
      this.placement = d.placement;
      this.nodeNames = d.nodeNames;
      this.portNames = d.portNames;
      this.podByAddress = d.podByAddress;
      this.nodeByAddress = d.nodeByAddress;
      this.nodeIndex = d.nodeIndex;
      this.podsByNamespace = d.podsByNamespace;
      this.podsByLabel = new Map(d.podsByLabel);
      let i = 0;
      for (const pod of worldPods) if (!pod.hostNetwork && pod.ips.length > 0) this.pods[i++] = pod;
      for (const ns of relabelledFrom.namespaces) {
        this.podsByLabel.delete(ns);
        for (const k of this.podsOfNamespace(ns)) this.indexLabels(this.pods[k], k);
      }
      return;
    }
    this.placement = {};
    this.nodeNames = [];
    this.portNames = new Set();
    this.podByAddress = new Map();
    this.nodeByAddress = new Map();
    this.nodeIndex = new Map();
    this.podsByNamespace = new Map();
    this.podsByLabel = new Map();
    for (const n of worldNodes) this.nodeOf(n.name);
    for (const n of worldNodes) for (const a of n.addresses) this.addNodeAddress(a, this.nodeOf(n.name));
    for (const pod of worldPods) {
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
      this.indexLabels(pod, i);
      for (const pp of pod.ports) if (pp.name !== undefined) this.portNames.add(`${pp.name}/${pp.protocol}`);
      // Two pods claiming one address (a stale status): the first in world order keeps it.
      for (const key of addressKeysOf(pod)) if (!this.podByAddress.has(key)) this.podByAddress.set(key, i);
    }
  }

  static of(pods: readonly PolicyPod[], nodes: readonly PolicyNode[]): PodDirectory {
    return new PodDirectory(pods, nodes);
  }

  /**
   * The directory of `pods` and `nodes` from this one: this very one when they are the objects it
   * was built from; one that re-indexes the labels of the namespaces whose pods changed when only
   * pods' labels changed (each pod keeps its place, addresses, node and ports); else built anew.
   * `relabelled`: the pods whose labels changed, for the caller to find what they touch.
   */
  next(pods: readonly PolicyPod[], nodes: readonly PolicyNode[]): { directory: PodDirectory; relabelled: Array<{ before: PolicyPod; after: PolicyPod }> | undefined } {
    if (this.builtFrom(pods, nodes)) return { directory: this, relabelled: [] };
    const relabelled = sameItems(this.worldNodes, nodes) ? relabelledPods(this.worldPods, pods) : undefined;
    if (relabelled === undefined) return { directory: new PodDirectory(pods, nodes), relabelled: undefined };
    const namespaces = new Set(relabelled.map((c) => c.after.namespace));
    return { directory: new PodDirectory(pods, nodes, { directory: this, namespaces }), relabelled };
  }

  /** Whether it was built from these very pod and node objects, in this order (the world's objects are never changed in place). */
  builtFrom(pods: readonly PolicyPod[], nodes: readonly PolicyNode[]): boolean {
    return sameItems(this.worldPods, pods) && sameItems(this.worldNodes, nodes);
  }

  /** Index in `pods` of the pod with this address, -1 when none (outside, a node, hostNetwork). */
  podAt(addr: Uint8Array): number {
    return this.podByAddress.get(addressKey(addr)) ?? -1;
  }

  /** Index in `nodeNames` of the node with this address (hostNetwork pods' included), or -1. */
  nodeAt(addr: Uint8Array): number {
    return this.nodeByAddress.get(addressKey(addr)) ?? -1;
  }

  /** How many distinct addresses pods and nodes have. */
  addressCount(): number {
    let n = this.podByAddress.size;
    for (const key of this.nodeByAddress.keys()) if (!this.podByAddress.has(key)) n++;
    return n;
  }

  /** Every pod and node address once, as four big-endian words, with its pod and node (-1: none). */
  forEachAddress(visitor: AddressVisitor): void {
    for (const [key, pod] of this.podByAddress) visitor.address(keyWord(key, 0), keyWord(key, 1), keyWord(key, 2), keyWord(key, 3), pod, this.nodeByAddress.get(key) ?? -1);
    for (const [key, node] of this.nodeByAddress) if (!this.podByAddress.has(key)) visitor.address(keyWord(key, 0), keyWord(key, 1), keyWord(key, 2), keyWord(key, 3), -1, node);
  }

  /** A pod's node as an index in `nodeNames`, -1 when unscheduled. */
  podNode(pod: number): number {
    const name = this.pods[pod].nodeName;
    return name === undefined ? -1 : (this.nodeIndex.get(name) ?? -1);
  }

  podsOfNamespace(ns: string): readonly number[] {
    return this.podsByNamespace.get(ns) ?? NONE;
  }

  /** Namespaces with at least one pod. */
  namespaces(): IterableIterator<string> {
    return this.podsByNamespace.keys();
  }

  /** The pods of `ns` that `sel` matches (every pod of it when absent), ascending. */
  podsMatching(ns: string, sel: V1LabelSelector | undefined): number[] {
    if (sel === undefined) return [...this.podsOfNamespace(ns)];
    return this.candidates(ns, sel).filter((i) => selectorMatches(sel, this.pods[i].labels));
  }

  /**
   * The pods of `ns` that can match `sel`, ascending: the smallest bucket of a matchLabels pair or
   * of an In expression's values, else every pod of the namespace. The caller still matches each.
   */
  private candidates(ns: string, sel: V1LabelSelector): readonly number[] {
    let best = this.podsOfNamespace(ns);
    const byKey = this.podsByLabel.get(ns);
    if (!byKey || best.length === 0) return best;
    const want = sel.matchLabels;
    if (want) {
      for (const k in want) {
        const bucket = byKey.get(k)?.get(want[k]) ?? NONE;
        if (bucket.length < best.length) best = bucket;
      }
    }
    for (const e of sel.matchExpressions ?? []) {
      if (e.operator !== 'In' || !e.values) continue;
      const byValue = byKey.get(e.key);
      const buckets = e.values.map((v) => byValue?.get(v) ?? NONE);
      const size = buckets.reduce((n, b) => n + b.length, 0);
      if (size >= best.length) continue;
      best = buckets.length === 1 ? buckets[0] : buckets.flat().sort((a, b) => a - b);
    }
    return best;
  }

  private indexLabels(pod: PolicyPod, i: number): void {
    let byKey = this.podsByLabel.get(pod.namespace);
    if (!byKey) this.podsByLabel.set(pod.namespace, (byKey = new Map()));
    for (const k in pod.labels) {
      let byValue = byKey.get(k);
      if (!byValue) byKey.set(k, (byValue = new Map()));
      const v = pod.labels[k];
      const bucket = byValue.get(v);
      if (bucket) bucket.push(i);
      else byValue.set(v, [i]);
    }
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
}

function addressKeysOf(pod: PolicyPod): string[] {
  let keys = addressKeys.get(pod);
  if (keys === undefined) {
    keys = [];
    for (const a of pod.ips) {
      const bytes = mappedAddress(a);
      if (bytes) keys.push(addressKey(bytes));
    }
    addressKeys.set(pod, keys);
  }
  return keys;
}

/** The pods replaced by a copy with other labels alone, or undefined when anything else changed (a pod added, removed, moved or otherwise changed). */
function relabelledPods(before: readonly PolicyPod[], after: readonly PolicyPod[]): Array<{ before: PolicyPod; after: PolicyPod }> | undefined {
  if (before.length !== after.length) return undefined;
  const changed: Array<{ before: PolicyPod; after: PolicyPod }> = [];
  for (let i = 0; i < before.length; i++) {
    const b = before[i];
    const a = after[i];
    if (a === b) continue;
    if (a.namespace !== b.namespace || a.name !== b.name || a.nodeName !== b.nodeName || a.hostNetwork !== b.hostNetwork || !sameItems(a.ips, b.ips) || !samePorts(a.ports, b.ports)) return undefined;
    changed.push({ before: b, after: a });
  }
  return changed;
}

function samePorts(a: readonly PodPort[], b: readonly PodPort[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].name !== b[i].name || a[i].port !== b[i].port || a[i].protocol !== b[i].protocol) return false;
  return true;
}
