// Who is who, from the world's pods and nodes: which pod or node has each address, each pod's
// node, and the pods of each namespace indexed by label, so that a selector starts from the pods
// that carry one of the labels it names instead of from every pod. Each pod has a slot (its
// index in the compiled buffer) that it keeps while it lives: a pod deleted leaves its slot
// vacant, a pod added takes the lowest vacant slot or a new one at the end, so a pod that comes or
// goes changes no other pod's index. next() patches the directory for the pods that changed and
// rebuilds it (slots kept) only when a node or a hostNetwork pod changed.
import type { V1LabelSelector } from '@kubernetes/client-node';
import { selectorMatches } from './label-selector.js';
import { addressKey, mappedAddress } from './mapped-address.js';
import { sameItems } from './same-items.js';
import type { PodPort, PolicyNode, PolicyPod } from './world.js';

const NONE: readonly number[] = [];

/** A slot no pod holds (its pod was deleted and none took it yet): no address leads to it, no selector matches it. */
export const VACANT: PolicyPod = Object.freeze({ namespace: '', name: '', labels: {}, ips: [], nodeName: undefined, hostNetwork: false, ports: [] });

/** A pod that came, went or was replaced at its slot between two worlds (undefined: none there). */
export interface PodChange {
  slot: number;
  before: PolicyPod | undefined;
  after: PolicyPod | undefined;
}

/** Takes each address of forEachAddress (an object's method, not a closure made per call: see compile-policy.ts). */
export interface AddressVisitor {
  address(a0: number, a1: number, a2: number, a3: number, pod: number, node: number): void;
}

/** Each pod's addresses as Map keys, by pod object (the world's objects are never changed in place). */
const addressKeys = new WeakMap<PolicyPod, string[]>();

/** Word k (0..3, big-endian) of an address key (addressKey: eight 16-bit chars). */
const keyWord = (key: string, k: number): number => (key.charCodeAt(2 * k) << 16) | key.charCodeAt(2 * k + 1);

/** Whether a pod gets a slot: it has an IP and is not hostNetwork (a hostNetwork pod counts as its node). */
const slotted = (pod: PolicyPod): boolean => !pod.hostNetwork && pod.ips.length > 0;

/** What a directory is made of; a patched directory shares every part its changes leave alone. */
interface DirectoryParts {
  worldPods: readonly PolicyPod[];
  worldNodes: readonly PolicyNode[];
  hostNetworkPods: readonly PolicyPod[];
  pods: PolicyPod[];
  slotOf: Map<PolicyPod, number>;
  vacant: readonly number[];
  placement: object;
  /** The placement of the directory this one was patched from when the patch gave it a new one. */
  placedFrom: object | undefined;
  /** Then the addresses whose owner the patch changed. */
  movedAddresses: readonly string[];
  nodeNames: string[];
  nodeIndex: Map<string, number>;
  nodeByAddress: Map<string, number>;
  podByAddress: Map<string, number>;
  claimants: Map<string, readonly number[]>;
  portNameCounts: Map<string, number>;
  portNames: object;
  podsByNamespace: Map<string, readonly number[]>;
  podsByLabel: Map<string, Map<string, Map<string, number[]>>>;
}

export class PodDirectory {
  /**
   * By slot, pods a policy can select or name as a peer: with an IP, not hostNetwork (a
   * hostNetwork pod counts as its node: ipBlock matches it by address, selectors never do);
   * VACANT where none.
   */
  readonly pods: PolicyPod[];
  /** Node names, in world order, then any only named by a hostNetwork pod. */
  readonly nodeNames: string[];
  /**
   * The same object while every slot keeps its pod's addresses, node and ports, and every node
   * its addresses (only labels changed): what is built from those alone is kept by it.
   */
  readonly placement: object;
  /**
   * When next() patched this directory from one with another placement, that placement: what was
   * built from it can be patched for next()'s changes rather than built again.
   */
  readonly placedFrom: object | undefined;
  /** The same object while the set of named container ports (hasPortName) is the same. */
  readonly portNames: object;
  private readonly p: DirectoryParts;

  private constructor(parts: DirectoryParts) {
    this.p = parts;
    this.pods = parts.pods;
    this.nodeNames = parts.nodeNames;
    this.placement = parts.placement;
    this.placedFrom = parts.placedFrom;
    this.portNames = parts.portNames;
  }

  /** The directory of a world; `slots`: each slot's pod (VACANT: none), else the slotted pods in world order. */
  static of(pods: readonly PolicyPod[], nodes: readonly PolicyNode[], slots?: readonly PolicyPod[]): PodDirectory {
    const parts: DirectoryParts = {
      worldPods: pods,
      worldNodes: nodes,
      hostNetworkPods: pods.filter((pod) => pod.hostNetwork),
      pods: slots === undefined ? pods.filter(slotted) : [...slots],
      slotOf: new Map(),
      vacant: [],
      placement: {},
      placedFrom: undefined,
      movedAddresses: [],
      nodeNames: [],
      nodeIndex: new Map(),
      nodeByAddress: new Map(),
      podByAddress: new Map(),
      claimants: new Map(),
      portNameCounts: new Map(),
      portNames: {},
      podsByNamespace: new Map(),
      podsByLabel: new Map(),
    };
    for (const n of nodes) nodeOf(parts, n.name);
    for (const n of nodes) for (const a of n.addresses) addNodeAddress(parts, a, nodeOf(parts, n.name));
    for (const pod of parts.hostNetworkPods) if (pod.nodeName !== undefined) for (const a of pod.ips) addNodeAddress(parts, a, nodeOf(parts, pod.nodeName));
    const vacant: number[] = [];
    parts.pods.forEach((pod, slot) => {
      if (pod === VACANT) {
        vacant.push(slot);
        return;
      }
      parts.slotOf.set(pod, slot);
      let list = parts.podsByNamespace.get(pod.namespace) as number[] | undefined;
      if (!list) parts.podsByNamespace.set(pod.namespace, (list = []));
      list.push(slot);
      indexLabels(parts.podsByLabel, pod, slot);
      countPortNames(parts.portNameCounts, pod, 1);
      for (const key of addressKeysOf(pod)) claim(parts, key, slot);
    });
    parts.vacant = vacant;
    return new PodDirectory(parts);
  }

  /**
   * The directory of `pods` and `nodes` from this one: this very one when they are the objects it
   * was built from; else every pod keeps its slot (a pod replaced by one of the same namespace and
   * name included), deleted pods leave theirs vacant and new pods take the lowest vacant ones.
   * Patched for the pods that changed; built anew on those slots when a node or a hostNetwork pod
   * changed. `changes`: the slots whose pod changed, undefined when built anew (nothing is kept).
   */
  next(pods: readonly PolicyPod[], nodes: readonly PolicyNode[]): { directory: PodDirectory; changes: PodChange[] | undefined } {
    if (this.builtFrom(pods, nodes)) return { directory: this, changes: [] };
    const { slots, vacant, changes } = this.slotsFor(pods);
    const hostNetworkPods = pods.filter((pod) => pod.hostNetwork);
    if (!sameItems(this.p.worldNodes, nodes) || !sameItems(this.p.hostNetworkPods, hostNetworkPods)) return { directory: PodDirectory.of(pods, nodes, slots), changes: undefined };
    const p = this.p;
    const parts: DirectoryParts = { ...p, worldPods: pods, hostNetworkPods, pods: slots, vacant, placedFrom: undefined, movedAddresses: [] };
    if (changes.length > 0) {
      parts.slotOf = new Map(p.slotOf);
      for (const c of changes) {
        if (c.before !== undefined) parts.slotOf.delete(c.before);
        if (c.after !== undefined) parts.slotOf.set(c.after, c.slot);
      }
      parts.podsByLabel = new Map(p.podsByLabel);
      const namespaces = new Set<string>();
      for (const c of changes) for (const pod of [c.before, c.after]) if (pod !== undefined) namespaces.add(pod.namespace);
      for (const ns of namespaces) parts.podsByLabel.delete(ns);
      if (!changes.every(relabelOnly)) this.place(parts, changes, namespaces);
      for (const ns of namespaces) for (const slot of parts.podsByNamespace.get(ns) ?? NONE) indexLabels(parts.podsByLabel, slots[slot], slot);
    }
    return { directory: new PodDirectory(parts), changes };
  }

  /** Whether it was built from these very pod and node objects, in this order (the world's objects are never changed in place). */
  builtFrom(pods: readonly PolicyPod[], nodes: readonly PolicyNode[]): boolean {
    return sameItems(this.p.worldPods, pods) && sameItems(this.p.worldNodes, nodes);
  }

  /** Index in `pods` of the pod with this address, -1 when none (outside, a node, hostNetwork). */
  podAt(addr: Uint8Array): number {
    return this.p.podByAddress.get(addressKey(addr)) ?? -1;
  }

  /** Index in `nodeNames` of the node with this address (hostNetwork pods' included), or -1. */
  nodeAt(addr: Uint8Array): number {
    return this.p.nodeByAddress.get(addressKey(addr)) ?? -1;
  }

  /** Whether some pod has a container port of this name and protocol ("name/protocol"). */
  hasPortName(nameAndProtocol: string): boolean {
    return this.p.portNameCounts.has(nameAndProtocol);
  }

  /** How many distinct addresses pods and nodes have. */
  addressCount(): number {
    const { podByAddress, nodeByAddress } = this.p;
    let n = podByAddress.size;
    for (const key of nodeByAddress.keys()) if (!podByAddress.has(key)) n++;
    return n;
  }

  /** Every pod and node address once, as four big-endian words, with its pod and node (-1: none): pods' in slot order, then nodes'. */
  forEachAddress(visitor: AddressVisitor): void {
    const { podByAddress, nodeByAddress } = this.p;
    for (let slot = 0; slot < this.pods.length; slot++) {
      const keys = addressKeysOf(this.pods[slot]);
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k];
        if (podByAddress.get(key) === slot && keys.indexOf(key) === k) visitor.address(keyWord(key, 0), keyWord(key, 1), keyWord(key, 2), keyWord(key, 3), slot, nodeByAddress.get(key) ?? -1);
      }
    }
    for (const [key, node] of nodeByAddress) if (!podByAddress.has(key)) visitor.address(keyWord(key, 0), keyWord(key, 1), keyWord(key, 2), keyWord(key, 3), -1, node);
  }

  /** Each address whose owner next() changed when it patched this directory from `placedFrom`, as forEachAddress gives them (-1 -1: no one has it now). */
  forEachMovedAddress(visitor: AddressVisitor): void {
    const { podByAddress, nodeByAddress } = this.p;
    for (const key of this.p.movedAddresses) visitor.address(keyWord(key, 0), keyWord(key, 1), keyWord(key, 2), keyWord(key, 3), podByAddress.get(key) ?? -1, nodeByAddress.get(key) ?? -1);
  }

  /** A pod's node as an index in `nodeNames`, -1 when unscheduled (or vacant). */
  podNode(pod: number): number {
    const name = this.pods[pod].nodeName;
    return name === undefined ? -1 : (this.p.nodeIndex.get(name) ?? -1);
  }

  podsOfNamespace(ns: string): readonly number[] {
    return this.p.podsByNamespace.get(ns) ?? NONE;
  }

  /** Namespaces with at least one pod. */
  namespaces(): IterableIterator<string> {
    return this.p.podsByNamespace.keys();
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
    const byKey = this.p.podsByLabel.get(ns);
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

  /**
   * Each slot's pod in the world of `pods`: a pod kept, or replaced by one of the same namespace
   * and name, stays in its slot; the slots of pods gone become vacant; new pods, in world order,
   * take the lowest vacant slots, then new ones at the end.
   */
  private slotsFor(pods: readonly PolicyPod[]): { slots: PolicyPod[]; vacant: number[]; changes: PodChange[] } {
    const before = this.pods;
    const slots = [...before];
    const present = new Uint8Array(before.length);
    const unmatched: PolicyPod[] = [];
    for (const pod of pods) {
      if (!slotted(pod)) continue;
      const slot = this.p.slotOf.get(pod);
      if (slot === undefined) unmatched.push(pod);
      else present[slot] = 1;
    }
    const touched: number[] = [];
    const gone = new Map<string, number>();
    for (let s = 0; s < before.length; s++) {
      if (present[s] === 0 && before[s] !== VACANT) {
        const key = `${before[s].namespace}/${before[s].name}`;
        if (!gone.has(key)) gone.set(key, s);
        slots[s] = VACANT;
        touched.push(s);
      }
    }
    const added: PolicyPod[] = [];
    for (const pod of unmatched) {
      const key = `${pod.namespace}/${pod.name}`;
      const s = gone.get(key);
      if (s === undefined) added.push(pod);
      else {
        slots[s] = pod;
        gone.delete(key);
      }
    }
    const vacant = mergedAscending(this.p.vacant, [...gone.values()]);
    let v = 0;
    for (const pod of added) {
      const s = v < vacant.length ? vacant[v++] : slots.length;
      slots[s] = pod;
      touched.push(s);
    }
    const changes: PodChange[] = [];
    for (const s of new Set(touched)) {
      const b = s < before.length && before[s] !== VACANT ? before[s] : undefined;
      const a = slots[s] !== VACANT ? slots[s] : undefined;
      if (a !== b) changes.push({ slot: s, before: b, after: a });
    }
    return { slots, vacant: vacant.slice(v), changes };
  }

  /** Moves the addresses, namespace lists and port names of `changes` into `parts` (copies of this directory's). */
  private place(parts: DirectoryParts, changes: readonly PodChange[], namespaces: ReadonlySet<string>): void {
    parts.placement = {};
    parts.placedFrom = this.placement;
    const moved = new Set<string>();
    parts.podByAddress = new Map(this.p.podByAddress);
    parts.claimants = new Map(this.p.claimants);
    parts.portNameCounts = new Map(this.p.portNameCounts);
    for (const c of changes) {
      if (c.before === undefined) continue;
      for (const key of addressKeysOf(c.before)) {
        release(parts, key, c.slot);
        moved.add(key);
      }
      countPortNames(parts.portNameCounts, c.before, -1);
    }
    for (const c of changes) {
      if (c.after === undefined) continue;
      for (const key of addressKeysOf(c.after)) {
        claim(parts, key, c.slot);
        moved.add(key);
      }
      countPortNames(parts.portNameCounts, c.after, 1);
    }
    parts.movedAddresses = [...moved];
    const names = parts.portNameCounts;
    if (names.size !== this.p.portNameCounts.size || [...names.keys()].some((k) => !this.p.portNameCounts.has(k))) parts.portNames = {};
    parts.podsByNamespace = new Map(this.p.podsByNamespace);
    for (const ns of namespaces) {
      const leaving = new Set<number>();
      const coming: number[] = [];
      for (const c of changes) {
        if (c.before?.namespace === ns && c.after?.namespace !== ns) leaving.add(c.slot);
        if (c.after?.namespace === ns && c.before?.namespace !== ns) coming.push(c.slot);
      }
      const list = this.podsOfNamespace(ns).filter((s) => !leaving.has(s));
      const merged = mergedAscending(list, coming.sort((a, b) => a - b));
      if (merged.length === 0) parts.podsByNamespace.delete(ns);
      else parts.podsByNamespace.set(ns, merged);
    }
  }
}

/** A change of labels alone: same slot, addresses, node and ports. */
function relabelOnly(c: PodChange): boolean {
  const { before: b, after: a } = c;
  return a !== undefined && b !== undefined && a.nodeName === b.nodeName && sameItems(a.ips, b.ips) && samePorts(a.ports, b.ports);
}

/** Two ascending lists as one. */
function mergedAscending(a: readonly number[], b: readonly number[]): number[] {
  if (b.length === 0) return [...a];
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i] < b[j]) ? a[i++] : b[j++]);
  return out;
}

/** Gives `slot` a claim on an address: the lowest slot claiming it has it (a stale status can leave two pods claiming one). */
function claim(parts: DirectoryParts, key: string, slot: number): void {
  const owner = parts.podByAddress.get(key);
  if (owner === undefined) {
    parts.podByAddress.set(key, slot);
    return;
  }
  const list = parts.claimants.get(key) ?? [owner];
  if (list.includes(slot)) return;
  const claimants = mergedAscending(list, [slot]);
  parts.claimants.set(key, claimants);
  parts.podByAddress.set(key, claimants[0]);
}

function release(parts: DirectoryParts, key: string, slot: number): void {
  const list = parts.claimants.get(key);
  if (list === undefined) {
    if (parts.podByAddress.get(key) === slot) parts.podByAddress.delete(key);
    return;
  }
  const claimants = list.filter((s) => s !== slot);
  if (claimants.length === 1) parts.claimants.delete(key);
  else parts.claimants.set(key, claimants);
  parts.podByAddress.set(key, claimants[0]);
}

function countPortNames(counts: Map<string, number>, pod: PolicyPod, by: 1 | -1): void {
  for (const pp of pod.ports) {
    if (pp.name === undefined) continue;
    const key = `${pp.name}/${pp.protocol}`;
    const n = (counts.get(key) ?? 0) + by;
    if (n === 0) counts.delete(key);
    else counts.set(key, n);
  }
}

function indexLabels(podsByLabel: DirectoryParts['podsByLabel'], pod: PolicyPod, slot: number): void {
  let byKey = podsByLabel.get(pod.namespace);
  if (!byKey) podsByLabel.set(pod.namespace, (byKey = new Map()));
  for (const k in pod.labels) {
    let byValue = byKey.get(k);
    if (!byValue) byKey.set(k, (byValue = new Map()));
    const v = pod.labels[k];
    const bucket = byValue.get(v);
    if (bucket) bucket.push(slot);
    else byValue.set(v, [slot]);
  }
}

function nodeOf(parts: DirectoryParts, name: string): number {
  let i = parts.nodeIndex.get(name);
  if (i === undefined) {
    i = parts.nodeNames.length;
    parts.nodeNames.push(name);
    parts.nodeIndex.set(name, i);
  }
  return i;
}

function addNodeAddress(parts: DirectoryParts, text: string, node: number): void {
  const bytes = mappedAddress(text);
  if (bytes && !parts.nodeByAddress.has(addressKey(bytes))) parts.nodeByAddress.set(addressKey(bytes), node);
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

function samePorts(a: readonly PodPort[], b: readonly PodPort[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].name !== b[i].name || a[i].port !== b[i].port || a[i].protocol !== b[i].protocol) return false;
  return true;
}
