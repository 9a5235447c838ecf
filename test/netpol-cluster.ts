// The upstream NetworkPolicy e2e suite's cluster (kubernetes/kubernetes test/e2e/network/netpol,
// kubemanager.go and probe.go) in network namespaces: namespaces x, y, z labelled ns=<name>, pods
// a, b, c in each labelled pod=<name>, each serving TCP and UDP on 80 and 81 under container
// ports serve-<port>-<proto>, through the test API server; two nodes run `vxroute run --kube`
// (four pods each) and one runs flannel's kernel VXLAN (one pod), so no pair has both ends on a
// kernel node. Each pod is a probe agent (src/lab/probe-agent.ts): a matrix is 81 probes made at
// once, re-probed until it matches or a deadline passes, as upstream's ValidateOrFail does. The
// cluster is ready once every pair reaches every port of both protocols (waitForHTTPServers).
import { expect } from 'vitest';
import { KernelFlanneld } from '../src/lab/kernel-flanneld.js';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { ProbeAgentProcess } from '../src/lab/probe-agent-process.js';
import type { CounterSnapshot } from '../src/datapath/counter-snapshot.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { MODEL_NAMESPACES, MODEL_PODS } from './netpol-model.js';
import type { NetworkPolicy } from './netpol-policies.js';
import { compare, Reachability, truthTables, type Observed, type PodString } from './netpol-reachability.js';

export const MODEL_PORTS = [80, 81] as const;
export type ProbeProtocol = 'TCP' | 'UDP';

/** Which node each pod runs on: 0 and 1 run vxroute, 2 flannel's kernel VXLAN. */
export const PLACEMENT: Record<PodString, 0 | 1 | 2> = {
  'x/a': 0, 'y/c': 0, 'z/b': 0, 'z/c': 0,
  'x/b': 1, 'y/a': 1, 'y/b': 1, 'z/a': 1,
  'x/c': 2,
};

/** One probe's bound: a denied probe costs this much, so a round of probes about as much. */
const PROBE_TIMEOUT_MS = 2_000;
/** How long a matrix is re-probed before the case fails (upstream probes twice, with backoff). */
const VALIDATE_MS = 45_000;
/** How long the cluster may take to answer every probe before any policy (upstream's waitForHTTPServers). */
const SERVING_MS = 90_000;
/** How long a change may take to be compiled by both daemons. */
const COMPILE_MS = 20_000;

export interface TestCase {
  port: number;
  protocol: ProbeProtocol;
  reachability: Reachability;
}

const podLabels = (name: string): Record<string, string> => ({ pod: name });
const namespaceLabels = (name: string): Record<string, string> => ({ ns: name });

function registered(n: LabNode): KubeObject {
  return { metadata: { name: n.name }, spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: n.publicIP }] } };
}

export class NetpolCluster {
  readonly pods: PodString[] = MODEL_NAMESPACES.flatMap((ns) => MODEL_PODS.map((p) => `${ns}/${p}`));
  private readonly ips = new Map<PodString, string>();
  private readonly netns = new Map<PodString, string>();
  private readonly agents = new Map<PodString, ProbeAgentProcess>();
  private readonly daemons: VxrouteProcess[] = [];
  /** An agent in each vxroute node's namespace, reading its daemon's counters. */
  private readonly nodeAgents: ProbeAgentProcess[] = [];
  private lab: Lab | undefined;
  private readonly api = new KubeApiServer();

  private constructor() {}

  static async create(): Promise<NetpolCluster> {
    const cluster = new NetpolCluster();
    try {
      await cluster.start();
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
    return cluster;
  }

  private async start(): Promise<void> {
    const lab = (this.lab = await Lab.create());
    const kubeconfig = await lab.addApiServer(this.api);
    const nodes = [await lab.addNode('vxroute', 4), await lab.addNode('vxroute', 4), await lab.addNode('kernel', 1)];
    for (const n of nodes) this.api.upsertNode(registered(n));
    const flanneld = new KernelFlanneld(this.api, nodes[2]);
    flanneld.publish();
    for (const ns of MODEL_NAMESPACES) this.api.upsertNamespace({ metadata: { name: ns, labels: namespaceLabels(ns) } });
    const taken = [0, 0, 0];
    for (const pod of this.pods) {
      const node = PLACEMENT[pod];
      const labPod = nodes[node].pods[taken[node]++];
      this.ips.set(pod, labPod.ip);
      this.netns.set(pod, labPod.ns);
      this.api.upsertPod(this.podObject(pod, nodes[node].name, podLabels(pod.split('/')[1])));
    }
    const started = await Promise.all(
      this.pods.map(async (pod) => {
        const agent = await ProbeAgentProcess.start(this.netns.get(pod)!, pod, [...MODEL_PORTS]);
        lab.onDispose(() => agent.kill());
        return [pod, agent] as const;
      }),
    );
    for (const [pod, agent] of started) this.agents.set(pod, agent);
    for (const n of nodes.slice(0, 2)) {
      const agent = await ProbeAgentProcess.start(n.ns, n.name);
      lab.onDispose(() => agent.kill());
      this.nodeAgents.push(agent);
    }
    const netConf = await lab.writeNetConf();
    for (const n of nodes.slice(0, 2)) this.daemons.push(await lab.startVxrouteKube(n, kubeconfig, netConf, ['--workers', '2']));
    for (const d of this.daemons) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 3, 20_000);
    await flanneld.sync();
    for (const protocol of ['TCP', 'UDP'] as const) {
      for (const port of MODEL_PORTS) await this.validate({ port, protocol, reachability: this.reachability() }, SERVING_MS);
    }
  }

  /** Upstream's pod: one container per port and protocol, each port named serve-<port>-<proto>. */
  private podObject(pod: PodString, nodeName: string, labels: Record<string, string>): KubeObject {
    const [namespace, name] = pod.split('/');
    const containers = MODEL_PORTS.flatMap((port) =>
      (['TCP', 'UDP'] as const).map((protocol) => ({ name: `cont-${port}-${protocol.toLowerCase()}`, ports: [{ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol }] })),
    );
    const ip = this.ips.get(pod)!;
    return { metadata: { namespace, name, labels }, spec: { nodeName, containers }, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } };
  }

  async dispose(): Promise<void> {
    await this.lab?.dispose();
    await this.api.close();
  }

  ip(pod: PodString): string {
    return this.ips.get(pod)!;
  }

  /** A matrix over every pod of the model, every pair expected to reach (`allowed`) or not. */
  reachability(allowed = true): Reachability {
    return new Reachability(this.pods, allowed);
  }

  /** Creates (or replaces) a policy in `namespace` and waits until both daemons compiled it. */
  async createPolicy(namespace: string, policy: NetworkPolicy): Promise<void> {
    await this.change(() => {
      this.api.upsertNetworkPolicy({ metadata: { namespace, name: policy.name }, spec: policy.spec as Record<string, unknown> });
      return 1;
    });
  }

  /** upstream's UpdatePolicy: the same name, a new spec. */
  updatePolicy(namespace: string, policy: NetworkPolicy): Promise<void> {
    return this.createPolicy(namespace, policy);
  }

  /** upstream's cleanNetworkPolicies: deletes every policy. */
  async deletePolicies(): Promise<void> {
    await this.change(() => {
      let n = 0;
      for (const p of this.api.list('networkpolicies')) n += Number(this.api.deleteNetworkPolicy(p.metadata.namespace!, p.metadata.name));
      return n;
    });
  }

  /** Gives the pod these labels besides pod=<name> (upstream's AddPodLabels). */
  async addPodLabels(pod: PodString, labels: Record<string, string>): Promise<void> {
    await this.change(() => this.setPodLabels(pod, { ...podLabels(pod.split('/')[1]), ...labels }));
  }

  /** Gives the namespace this label besides ns=<name> (upstream's AddNamespaceLabel). */
  async addNamespaceLabel(namespace: string, key: string, value: string): Promise<void> {
    await this.change(() => this.setNamespaceLabels(namespace, { ...namespaceLabels(namespace), [key]: value }));
  }

  /** The model as it started: no policy, every label as created. */
  async reset(): Promise<void> {
    await this.change(() => {
      let n = 0;
      for (const p of this.api.list('networkpolicies')) n += Number(this.api.deleteNetworkPolicy(p.metadata.namespace!, p.metadata.name));
      for (const pod of this.pods) n += this.setPodLabels(pod, podLabels(pod.split('/')[1]));
      for (const ns of MODEL_NAMESPACES) n += this.setNamespaceLabels(ns, namespaceLabels(ns));
      return n;
    });
  }

  /** 1 when the labels changed (a watch event the daemons compile), 0 when they were already these. */
  private setPodLabels(pod: PodString, labels: Record<string, string>): number {
    const [namespace, name] = pod.split('/');
    const current = this.api.get('pods', namespace, name)!;
    if (JSON.stringify(current.metadata.labels) === JSON.stringify(labels)) return 0;
    this.api.upsertPod({ ...current, metadata: { ...current.metadata, labels } });
    return 1;
  }

  private setNamespaceLabels(namespace: string, labels: Record<string, string>): number {
    const current = this.api.get('namespaces', undefined, namespace)!;
    const withName = { ...labels, 'kubernetes.io/metadata.name': namespace };
    if (JSON.stringify(current.metadata.labels) === JSON.stringify(withName)) return 0;
    this.api.upsertNamespace({ ...current, metadata: { ...current.metadata, labels } });
    return 1;
  }

  /**
   * Makes `changes` (it returns how many watch events they are) and waits until both daemons
   * compiled worlds holding all of them: the compile log says how many changes went into each.
   */
  private async change(changes: () => number): Promise<void> {
    const marks = this.daemons.map((d) => d.logs.length);
    const n = changes();
    const compiled = (d: VxrouteProcess, mark: number): number =>
      d.logs.slice(mark).reduce((sum, l) => {
        if (l.msg !== 'network policy compiled') return sum;
        for (const m of String(l.why).matchAll(/(?:pods|namespaces|networkpolicies): (\d+) change/g)) sum += Number(m[1]);
        return sum;
      }, 0);
    await expect.poll(() => Math.min(...this.daemons.map((d, i) => compiled(d, marks[i]))), { timeout: COMPILE_MS, interval: 50 }).toBeGreaterThanOrEqual(n);
  }

  /** Policy drops counted by both daemons, both directions. */
  private async denied(): Promise<number> {
    const counters = await Promise.all(this.daemons.map(async (d, i) => JSON.parse(await this.nodeAgents[i].get(d.metricsAddr, '/debug/counters', COMPILE_MS)) as CounterSnapshot));
    return counters.reduce((sum, { drops }) => sum + drops.policy_denied_egress + drops.policy_denied_ingress, 0);
  }

  /** Asserted: every pair but a pod to itself (upstream ignores loopback); the one pod on the kernel node leaves no pair out of reach. */
  private readonly asserted = (from: PodString, to: PodString): boolean => from !== to;

  /** Every ordered pair probed at once. */
  private async probeAll(tc: TestCase): Promise<Observed> {
    const observed: Observed = new Map(this.pods.map((p) => [p, new Map()]));
    await Promise.all(
      this.pods.flatMap((from) =>
        this.pods.map(async (to) => {
          const answer = await this.agents.get(from)!.probe(tc.protocol, this.ip(to), tc.port, PROBE_TIMEOUT_MS);
          observed.get(from)!.set(to, answer === to);
        }),
      ),
    );
    return observed;
  }

  /**
   * upstream's ValidateOrFail: probes the matrix until the asserted pairs match the expectation
   * and the daemons counted at least one policy drop per asserted denial in that round, or fails
   * after VALIDATE_MS printing the truth tables of the last round.
   */
  async validate(tc: TestCase, withinMs = VALIDATE_MS): Promise<void> {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const before = await this.denied();
      const observed = await this.probeAll(tc);
      const counted = (await this.denied()) - before;
      const c = compare(tc.reachability, observed, this.asserted);
      if (c.wrong === 0 && counted >= c.deniedAsserted) return;
      if (Date.now() > deadline) {
        const why = c.wrong > 0 ? `${c.wrong} wrong results in the reachability matrix` : `the matrix matched, but the daemons counted ${counted} policy drops for ${c.deniedAsserted} denied pairs`;
        throw new Error(`${tc.port}/${tc.protocol}: ${why}\n\n${truthTables(tc.reachability, observed, this.asserted)}`);
      }
    }
  }
}
