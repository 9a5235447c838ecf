// NetworkPolicy enforced by vxroute's own datapath, end to end in namespaces: the test API server,
// two nodes running `vxroute run --kube` and a kernel flannel node, a pod on each in namespace x
// (x/a, x/b on vxroute nodes, x/c on the kernel node) serving TCP 80 and 81 (their names) and 82
// (an echo). A denied probe must fail AND be counted as policy_denied by a daemon: a connection
// refused or lost for another reason never passes for a denial. The kernel node keeps its veth's
// tx offload on, so its bulk TCP reaches vxroute as unsegmented TSO packets, judged all the same.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KernelFlanneld } from '../src/lab/kernel-flanneld.js';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode, type Pod } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { expectDeniedPerSegmentThenWhole } from './denied-stream.js';
import { replacePolicies } from './policy-changes.js';

const WAIT = { timeout: 20_000, interval: 200 };
const NAMES = ['a', 'b', 'c'] as const;
type Name = (typeof NAMES)[number];

function registered(n: LabNode): KubeObject {
  return { metadata: { name: n.name }, spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: n.publicIP }] } };
}

const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ metadata: { namespace: 'x', name }, spec });
const DENY_INGRESS = policy('deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
const DENY_EGRESS_FROM_A = policy('deny-egress-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] });
const allowIngress = (to: Name, from: Name, port?: number): KubeObject =>
  policy(`allow-${from}-to-${to}`, {
    podSelector: { matchLabels: { pod: to } },
    ingress: [{ from: [{ podSelector: { matchLabels: { pod: from } } }], ...(port ? { ports: [{ protocol: 'TCP', port }] } : {}) }],
  });

describe('NetworkPolicy in vxroute’s datapath, across vxroute and kernel nodes', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let nodes: LabNode[];
  const pods = new Map<Name, Pod>();
  const daemons: VxrouteProcess[] = [];

  beforeAll(async () => {
    lab = await Lab.create();
    api = new KubeApiServer();
    const kubeconfig = await lab.addApiServer(api);
    nodes = [await lab.addNode('vxroute'), await lab.addNode('vxroute'), await lab.addNode('kernel', 1, { txOffload: true })];
    for (const n of nodes) api.upsertNode(registered(n));
    const flanneld = new KernelFlanneld(api, nodes[2]);
    flanneld.publish();
    api.upsertNamespace({ metadata: { name: 'x', labels: { team: 'x' } } });
    NAMES.forEach((name, i) => {
      const pod = nodes[i].pods[0];
      pods.set(name, pod);
      api.upsertPod({
        metadata: { namespace: 'x', name, labels: { pod: name } },
        spec: { nodeName: nodes[i].name, containers: [{ name: 'server', ports: [80, 81, 82].map((p) => ({ name: `serve-${p}-tcp`, containerPort: p })) }] },
        status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }] },
      });
      for (const port of [80, 81]) serve(pod, port, `SYSTEM:echo ${name}`);
      serve(pod, 82, 'EXEC:cat');
    });
    const netConf = await lab.writeNetConf();
    for (const n of nodes.slice(0, 2)) daemons.push(await lab.startVxrouteKube(n, kubeconfig, netConf, ['--workers', '2']));
    for (const d of daemons) {
      await d.waitForLog((l) => l.msg === 'ready', 30_000);
      await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 3, 20_000);
    }
    await flanneld.sync();
    for (const pod of pods.values()) await vi.waitFor(async () => expect((await tryInNs(pod.ns, 'ss', ['-Hltn', 'sport = :82'])).stdout).toMatch(/LISTEN/), WAIT);
  });

  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  function serve(pod: Pod, port: number, answer: string): void {
    // Its own process group: socat forks a child per connection, which a kill of the listener alone would leave running.
    const server = spawn('ip', ['netns', 'exec', pod.ns, 'socat', `TCP-LISTEN:${port},fork,reuseaddr`, answer], { stdio: 'ignore', detached: true });
    lab.onDispose(() => process.kill(-server.pid!, 'SIGKILL'));
  }

  /** Replaces every policy with `policies`, waiting until the daemons compiled all these changes. */
  const setPolicies = (...policies: KubeObject[]): Promise<void> => replacePolicies(api, daemons, policies, WAIT);

  async function denied(): Promise<number> {
    let sum = 0;
    for (const d of daemons) {
      const { drops } = await d.counters();
      sum += drops.policy_denied_egress + drops.policy_denied_ingress;
    }
    return sum;
  }

  /** One TCP connection from `from` to `to`'s port: the name it answers with, or undefined. */
  async function probe(from: Name, to: Name, port: number): Promise<string | undefined> {
    const r = await tryInNs(pods.get(from)!.ns, 'socat', ['-u', `TCP:${pods.get(to)!.ip}:${port},connect-timeout=2`, '-'], 10_000);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async function expectReaches(from: Name, to: Name, port = 80): Promise<void> {
    await vi.waitFor(async () => expect(await probe(from, to, port)).toBe(to), WAIT);
  }

  /** Denied: the connection fails while a daemon counts a policy drop for it. */
  async function expectDenied(from: Name, to: Name, port = 80): Promise<void> {
    await vi.waitFor(async () => {
      const before = await denied();
      expect(await probe(from, to, port)).toBeUndefined();
      expect(await denied()).toBeGreaterThan(before);
    }, WAIT);
  }

  it('lets every pod reach every other while no policy selects them', async () => {
    await setPolicies();
    for (const from of NAMES) for (const to of NAMES) if (from !== to) await expectReaches(from, to);
  });

  it('isolates every pod of x for ingress under a default deny, the kernel node’s pod included', async () => {
    await setPolicies(DENY_INGRESS);
    for (const from of NAMES) for (const to of NAMES) if (from !== to) await expectDenied(from, to);
  });

  it('opens exactly the peers and port an allow rule names, and its replies reach an isolated client', async () => {
    await setPolicies(DENY_INGRESS, allowIngress('a', 'b', 80));
    await expectReaches('b', 'a', 80); // b is isolated for ingress too: a's replies pass as part of b's connection
    await expectDenied('b', 'a', 81);
    await expectDenied('c', 'a', 80);
    await expectDenied('a', 'b', 80);
  });

  it('checks a kernel node pod’s ingress rules on the vxroute side, both ways', async () => {
    await setPolicies(DENY_INGRESS, allowIngress('c', 'a', 80), allowIngress('a', 'c', 81));
    await expectReaches('a', 'c', 80);
    await expectDenied('b', 'c', 80);
    await expectReaches('c', 'a', 81);
    await expectDenied('c', 'a', 80);
  });

  it('enforces egress isolation of the source pod', async () => {
    await setPolicies(DENY_EGRESS_FROM_A, policy('a-to-c', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { pod: 'c' } } }] }] }));
    await expectReaches('a', 'c', 80);
    await expectDenied('a', 'b', 80);
    await expectReaches('b', 'a', 80); // egress isolation of a does not stop its replies
  });

  it('applies a policy change to an open connection: held while denied, flowing again when allowed', async () => {
    await setPolicies(DENY_INGRESS, allowIngress('a', 'b'));
    const client: ChildProcessWithoutNullStreams = spawn('ip', ['netns', 'exec', pods.get('b')!.ns, 'socat', '-', `TCP:${pods.get('a')!.ip}:82,connect-timeout=5`]);
    lab.onDispose(() => client.kill('SIGKILL'));
    let echoed = '';
    client.stdout.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
    client.stdin.write('one\n');
    await vi.waitFor(() => expect(echoed).toBe('one\n'), WAIT);

    await setPolicies(DENY_INGRESS);
    const before = await denied();
    client.stdin.write('two\n');
    await vi.waitFor(async () => expect(await denied()).toBeGreaterThan(before), WAIT); // the segment (and its retransmissions) dropped
    expect(echoed).toBe('one\n');

    await setPolicies(DENY_INGRESS, allowIngress('a', 'b'));
    await vi.waitFor(() => expect(echoed).toBe('one\ntwo\n'), { timeout: 30_000, interval: 200 }); // TCP's retransmission gets through
    client.kill('SIGKILL');
  });

  it('drops a denied flow the kernel node sends as TSO packets, counting each segment, and carries it whole once allowed', async () => {
    // The kernel's first window leaves as TSO packets of several segments, each arriving whole.
    await expectDeniedPerSegmentThenWhole({
      lab,
      clientNs: pods.get('c')!.ns,
      server: `${pods.get('a')!.ip}:82`,
      allow: () => setPolicies(DENY_INGRESS, allowIngress('a', 'c')),
      deny: () => setPolicies(DENY_INGRESS),
      judge: daemons[0],
      denied,
      wholeWrites: async () => (await daemons[0].counters()).workers.reduce((a, w) => a + w.wholeTsoWrites, 0),
      wait: WAIT,
    });
  });
});
