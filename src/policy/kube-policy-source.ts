// The policy world from the Kubernetes API: one list-watch per kind (pods of every namespace,
// namespaces, nodes, networkpolicies), each object trimmed on arrival to what world.ts keeps,
// and every burst of changes coalesced into one new PolicyWorld for the listeners.
//
// A world is published only while every kind is synced: listed, and no failure since. A pod
// is isolated from its first packet once vxroute knows it, so a world built from pods without
// the policies that select them (or the reverse) could open traffic the cluster denies. While
// the API server is away the last good world stays in force; /readyz says why.
import { CoreV1Api, loadYaml, NetworkingV1Api, type KubeConfig, type V1Namespace, type V1NetworkPolicy, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
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
  nodes: ListWatchKind<V1Node, PolicyNode>;
  networkpolicies: ListWatchKind<V1NetworkPolicy, V1NetworkPolicy>;
}

/** A policy as the world keeps it: its name and spec; no annotations (kubectl's last-applied copy), no managed fields, no status. */
export function trimPolicy(p: V1NetworkPolicy): V1NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.metadata?.name, namespace: p.metadata?.namespace }, spec: p.spec };
}

function policyKinds(kc: KubeConfig): Kinds {
  const core = kc.makeApiClient(CoreV1Api);
  const net = kc.makeApiClient(NetworkingV1Api);
  return {
    pods: { resource: 'pods', path: '/api/v1/pods', list: () => core.listPodForAllNamespaces(), trim: podFromApi },
    namespaces: { resource: 'namespaces', path: '/api/v1/namespaces', list: () => core.listNamespace(), trim: namespaceFromApi },
    nodes: { resource: 'nodes', path: '/api/v1/nodes', list: () => core.listNode(), trim: nodeFromApi },
    networkpolicies: {
      resource: 'networkpolicies',
      path: '/apis/networking.k8s.io/v1/networkpolicies',
      list: () => net.listNetworkPolicyForAllNamespaces(),
      // A watch hands over plain JSON; the list, client-node's typed objects (an ingress rule's
      // `from` is `_from` there). The world holds the typed form only.
      fromWatch: (raw) => loadYaml<V1NetworkPolicy>(JSON.stringify(raw)),
      trim: trimPolicy,
    },
  };
}

/** The world now, from one plain list of each kind: for one-shot commands (`vxroute policy explain`). */
export async function readPolicyWorld(kc: KubeConfig): Promise<PolicyWorld> {
  const k = policyKinds(kc);
  const [pods, namespaces, nodes, policies] = await Promise.all([k.pods.list(), k.namespaces.list(), k.nodes.list(), k.networkpolicies.list()]);
  return {
    pods: pods.items.map(k.pods.trim),
    namespaces: namespaces.items.map(k.namespaces.trim),
    nodes: nodes.items.map(k.nodes.trim),
    policies: policies.items.map(k.networkpolicies.trim),
  };
}

export class KubePolicySource {
  private readonly pods: ListWatchSource<V1Pod, PolicyPod>;
  private readonly namespaces: ListWatchSource<V1Namespace, PolicyNamespace>;
  private readonly nodes: ListWatchSource<V1Node, PolicyNode>;
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

  constructor(kc: KubeConfig, private readonly log: Logger) {
    const kinds = policyKinds(kc);
    const make = <A extends { metadata?: object }, T>(kind: ListWatchKind<A, T>) =>
      new ListWatchSource(kc, kind, (contents) => this.changed(kind.resource, contents), (problem, retryInMs) =>
        this.log.warn({ err: problem, retryInMs }, 'lost the API server for network policy; the last policy world stays in force'),
      );
    this.pods = make(kinds.pods);
    this.namespaces = make(kinds.namespaces);
    this.nodes = make(kinds.nodes);
    this.policies = make(kinds.networkpolicies);
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
    for (const s of this.all) s.stop();
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
    const why = [...this.pending].map(([resource, n]) => `${resource}: ${n} change${n === 1 ? '' : 's'}`).join(', ') || 'listed';
    this.pending.clear();
    const world: PolicyWorld = { pods: this.pods.values(), namespaces: this.namespaces.values(), nodes: this.nodes.values(), policies: this.policies.values() };
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
}
