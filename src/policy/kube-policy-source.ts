// The policy world from the Kubernetes API: one list-watch per kind (pods of every namespace,
// namespaces, nodes, networkpolicies), each object trimmed on arrival to what world.ts keeps,
// and every burst of changes coalesced into one new PolicyWorld for the listeners. The nodes'
// list-watch is the subnet source's too when the daemon passes it in (kube-nodes.ts).
//
// A world is published only while every kind is synced: listed, and no failure since. A pod
// is isolated from its first packet once vxroute knows it, so a world built from pods without
// the policies that select them (or the reverse) could open traffic the cluster denies. While
// the API server is away the last good world stays in force; /readyz says why.
import type { V1Namespace, V1NetworkPolicy, V1NetworkPolicyIngressRule, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiGet, type KubeConnection } from '../subnets/kube-api.js';
import { nodeListWatch, trimNode, type NodeListWatch } from '../subnets/kube-nodes.js';
import { namespaceFromApi, nodeFromApi, podFromApi } from './from-api.js';
import { ListWatchSource, type ListWatchKind, type ListWatchState } from './list-watch-source.js';
import type { PolicyNamespace, PolicyNode, PolicyPod, PolicyWorld } from './world.js';

export type PolicyListener = (world: PolicyWorld, why: string) => void;

/** What /metrics and the logs tell of the source. */
export interface PolicySourceStatus {
  pods: number;
  namespaces: number;
  nodes: number;
  policies: number;
  /** Date.now() when the last world was published; undefined before the first. */
  lastWorldAt: number | undefined;
  worlds: number;
}

interface Kinds {
  pods: ListWatchKind<V1Pod, PolicyPod>;
  namespaces: ListWatchKind<V1Namespace, PolicyNamespace>;
  networkpolicies: ListWatchKind<V1NetworkPolicy, V1NetworkPolicy>;
}

/** A policy as the world keeps it: its name and spec; no annotations (kubectl's last-applied copy), no managed fields, no status. */
export function trimPolicy(p: V1NetworkPolicy): V1NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.metadata?.name, namespace: p.metadata?.namespace }, spec: p.spec };
}

/** A policy off the wire in client-node's typed form, which the world holds: an ingress rule's `from` is `_from` there. */
export function policyFromWire(raw: unknown): V1NetworkPolicy {
  const p = raw as V1NetworkPolicy;
  if (!p.spec?.ingress) return p;
  const ingress = (p.spec.ingress as (V1NetworkPolicyIngressRule & { from?: unknown })[]).map(({ from, ...rule }) => (from === undefined ? rule : { ...rule, _from: from })) as V1NetworkPolicyIngressRule[];
  return { ...p, spec: { ...p.spec, ingress } };
}

const KINDS: Kinds = {
  pods: { resource: 'pods', path: '/api/v1/pods', trim: podFromApi },
  namespaces: { resource: 'namespaces', path: '/api/v1/namespaces', trim: namespaceFromApi },
  networkpolicies: { resource: 'networkpolicies', path: '/apis/networking.k8s.io/v1/networkpolicies', fromWire: policyFromWire, trim: trimPolicy },
};

/** The world now, from one plain list of each kind: for one-shot commands (`vxroute policy explain`). */
export async function readPolicyWorld(conn: KubeConnection): Promise<PolicyWorld> {
  const list = <A, T>(kind: ListWatchKind<A, T>) => apiGet<{ items?: unknown[] }>(conn, kind.path).then((l) => (l.items ?? []).map((raw) => kind.trim(kind.fromWire ? kind.fromWire(raw) : (raw as A))));
  const [pods, namespaces, nodes, policies] = await Promise.all([list(KINDS.pods), list(KINDS.namespaces), apiGet<{ items?: V1Node[] }>(conn, '/api/v1/nodes'), list(KINDS.networkpolicies)]);
  return { pods, namespaces, nodes: (nodes.items ?? []).map((n) => nodeFromApi(trimNode(n))), policies };
}

export class KubePolicySource {
  private readonly pods: ListWatchSource<V1Pod, PolicyPod>;
  private readonly namespaces: ListWatchSource<V1Namespace, PolicyNamespace>;
  private readonly nodes: NodeListWatch;
  /** The node list-watch is ours alone (not shared): we start and stop it. */
  private readonly ownsNodes: boolean;
  /**
   * Each node's PolicyNode by name, the same object while its name and addresses are: a change of
   * the node's other fields (flannel's annotations, its pod CIDR) must not make the compiler
   * rebuild its pod directory, which it does when a node object is new.
   */
  private readonly policyNodes = new Map<string, PolicyNode>();
  private readonly policies: ListWatchSource<V1NetworkPolicy, V1NetworkPolicy>;
  private readonly all: ListWatchSource<{ metadata?: object }, unknown>[];
  private readonly listeners: PolicyListener[] = [];
  private world: PolicyWorld | undefined;
  private firstWorld: ((w: PolicyWorld) => void) | undefined;
  /** Changes since the last world, by kind. */
  private readonly pending = new Map<string, number>();
  private rebuildQueued: NodeJS.Immediate | undefined;
  private lastWorldAt: number | undefined;
  private worlds = 0;

  constructor(
    conn: KubeConnection,
    private readonly log: Logger,
    /** The Node list-watch shared with the subnet source; its creator starts and stops it. */
    shared?: NodeListWatch,
  ) {
    const follow = <A extends { metadata?: object }, T>(source: ListWatchSource<A, T>) => {
      source.subscribe({
        changed: (contents) => this.changed(source.resource, contents),
        failed: (problem, retryInMs) => this.log.warn({ err: problem, retryInMs }, 'lost the API server for network policy; the last policy world stays in force'),
      });
      return source;
    };
    this.pods = follow(new ListWatchSource(conn, KINDS.pods));
    this.namespaces = follow(new ListWatchSource(conn, KINDS.namespaces));
    this.nodes = follow(shared ?? nodeListWatch(conn));
    this.ownsNodes = shared === undefined;
    this.policies = follow(new ListWatchSource(conn, KINDS.networkpolicies));
    this.all = [this.pods, this.namespaces, this.nodes, this.policies] as ListWatchSource<{ metadata?: object }, unknown>[];
  }

  /** Starts every list-watch; resolves with the first world (which listeners get too). */
  start(): Promise<PolicyWorld> {
    return new Promise((resolve) => {
      this.firstWorld = resolve;
      for (const s of this.all) s.start();
    });
  }

  /** Every world, the first included, with what changed since the one before. The world's objects are shared with later worlds: read them, never change them. */
  onWorld(listener: PolicyListener): void {
    this.listeners.push(listener);
  }

  /** The world in force: the last published, undefined before all kinds were first listed. */
  current(): PolicyWorld | undefined {
    return this.world;
  }

  /** Why the world may be stale or missing (for /readyz), undefined when it follows the API. */
  problem(): string | undefined {
    for (const s of this.all) {
      const p = s.problem();
      if (p) return `network policy: API server: ${p}`;
    }
    if (this.world) return undefined;
    return `network policy: waiting for the first list of ${this.all.filter((s) => s.state() !== 'synced').map((s) => s.resource).join(', ') || 'the world'}`;
  }

  status(): PolicySourceStatus {
    return { pods: this.pods.size(), namespaces: this.namespaces.size(), nodes: this.nodes.size(), policies: this.policies.size(), lastWorldAt: this.lastWorldAt, worlds: this.worlds };
  }

  stop(): void {
    for (const s of this.all) if (s !== this.nodes || this.ownsNodes) s.stop();
    if (this.rebuildQueued) clearImmediate(this.rebuildQueued);
    this.rebuildQueued = undefined;
  }

  private changed(resource: string, contents: boolean): void {
    if (contents) this.pending.set(resource, (this.pending.get(resource) ?? 0) + 1);
    // Events of one read from the socket arrive in one go: the world is built once after them.
    this.rebuildQueued ??= setImmediate(() => this.rebuild());
  }

  private rebuild(): void {
    this.rebuildQueued = undefined;
    if (!this.all.every((s) => s.state() === ('synced' satisfies ListWatchState))) return; // never a partial world
    if (this.world && this.pending.size === 0) return;
    const nodes = this.policyNodeList();
    // The node list-watch keeps flannel's annotations too: a change to them alone is none here.
    if (this.world && this.pending.size === 1 && this.pending.has('nodes') && sameItems(this.world.nodes, nodes)) return void this.pending.clear();
    const why = [...this.pending].map(([resource, n]) => `${resource}: ${n} change${n === 1 ? '' : 's'}`).join(', ') || 'listed';
    this.pending.clear();
    const world: PolicyWorld = { pods: this.pods.values(), namespaces: this.namespaces.values(), nodes, policies: this.policies.values() };
    this.world = world;
    this.lastWorldAt = Date.now();
    this.worlds++;
    if (this.firstWorld) {
      const resolve = this.firstWorld;
      this.firstWorld = undefined;
      resolve(world);
    }
    for (const l of this.listeners) l(world, this.worlds === 1 ? 'listed' : why);
  }

  private policyNodeList(): PolicyNode[] {
    const nodes = this.nodes.values().map((n) => {
      const p = nodeFromApi(n);
      const before = this.policyNodes.get(p.name);
      return before !== undefined && sameNode(before, p) ? before : p;
    });
    this.policyNodes.clear();
    for (const p of nodes) this.policyNodes.set(p.name, p);
    return nodes;
  }
}

const sameNode = (a: PolicyNode, b: PolicyNode): boolean => a.name === b.name && a.addresses.join() === b.addresses.join();

/** Same length and the same objects in order (unchanged nodes keep their PolicyNode), or equal ones. */
function sameItems(a: PolicyNode[], b: PolicyNode[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i] || sameNode(x, b[i]));
}
