// `vxroute run --kube` follows the policy world from the start, in a node namespace against the
// test API server: it forwards nothing before the first world (a pod is isolated from its first
// packet), is not ready while a kind it needs is refused, compiles each world as it changes, logs
// when its workers have switched to it and shows the world's counts on /metrics, and with
// --no-network-policy asks the API for no pod, namespace or policy.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';

const WAIT = { timeout: 20_000 };

function registered(n: LabNode): KubeObject {
  return { metadata: { name: n.name }, spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: n.publicIP }] } };
}

const denyAll = (namespace: string): KubeObject => ({ metadata: { namespace, name: 'default-deny' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } });

describe('vxroute run --kube: the policy world', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let kubeconfig: string;
  let netConf: string;
  let nodes: LabNode[];

  beforeAll(async () => {
    lab = await Lab.create();
    api = new KubeApiServer();
    kubeconfig = await lab.addApiServer(api);
    nodes = [await lab.addNode('vxroute', 0), await lab.addNode('vxroute', 0)];
    for (const n of nodes) api.upsertNode(registered(n));
    api.upsertNamespace({ metadata: { name: 'x' } });
    api.upsertPod({ metadata: { namespace: 'x', name: 'a', labels: { pod: 'a' } }, spec: { nodeName: nodes[0].name, containers: [{ name: 'c' }] }, status: { phase: 'Running', podIP: '10.244.1.10', podIPs: [{ ip: '10.244.1.10' }] } });
    netConf = await lab.writeNetConf();
  });

  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  it('starts forwarding only with the first world, is not ready while networkpolicies are refused, and compiles each change', async () => {
    api.refuse('networkpolicies', 403);
    const d = await lab.startVxrouteKube(nodes[0], kubeconfig, netConf, ['--workers', '1'], { ready: false });
    await vi.waitFor(async () => expect((await d.readyz()).body).toMatch(/not ready: network policy: API server: networkpolicies: .*HTTP 403.*--no-network-policy/), WAIT);
    // No world without the policies, so no datapath yet.
    expect(d.logs.some((l) => l.msg === 'network policy compiled' || l.msg === 'table loaded' || l.msg === 'ready')).toBe(false);

    api.refuse('networkpolicies', undefined);
    const listed = await d.waitForLog((l) => l.msg === 'network policy compiled', 30_000);
    expect(listed).toMatchObject({ pods: 1, namespaces: 1, nodes: 2, policies: 0, why: 'listed', generation: 1 });
    await d.waitForLog((l) => l.msg === 'ready', 20_000);
    await vi.waitFor(async () => expect((await d.readyz()).status).toBe(200), WAIT);

    const from = d.logs.length;
    const changedAt = Date.now();
    api.upsertNetworkPolicy(denyAll('x'));
    expect(await d.waitForLog((l) => l.msg === 'network policy compiled', 15_000, from)).toMatchObject({ policies: 1, why: 'networkpolicies: 1 change', generation: 2 });
    // The worker says when it switched (what bench/policy-cost.ts times a change by).
    const inForce = await d.waitForLog((l) => l.msg === 'network policy in force on every worker', 15_000, from);
    expect(inForce.generation).toBe(2);
    expect(inForce.at).toBeGreaterThanOrEqual(changedAt);
    const metrics = (await d.get('/metrics')).body;
    expect(metrics).toMatch(/^vxroute_policy_objects\{kind="pods"\} 1$/m);
    expect(metrics).toMatch(/^vxroute_policy_objects\{kind="networkpolicies"\} 1$/m);
    expect(metrics).toMatch(/^vxroute_policy_objects\{kind="nodes"\} 2$/m);
    const at = Number(/^vxroute_policy_world_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(at).toBeGreaterThan(Date.now() / 1000 - 600);
    await d.stop();
  });

  it('asks for no pod, namespace or policy with --no-network-policy', async () => {
    const before = (['pods', 'namespaces', 'networkpolicies'] as const).map((r) => api.statsOf(r).lists + api.statsOf(r).watches);
    const d = await lab.startVxrouteKube(nodes[1], kubeconfig, netConf, ['--workers', '1', '--no-network-policy']);
    await d.waitForLog((l) => l.msg === 'ready', 20_000);
    expect((await d.readyz()).status).toBe(200);
    expect((['pods', 'namespaces', 'networkpolicies'] as const).map((r) => api.statsOf(r).lists + api.statsOf(r).watches)).toEqual(before);
    expect(d.logs.some((l) => l.msg === 'network policy compiled')).toBe(false);
    expect((await d.get('/metrics')).body).not.toMatch(/vxroute_policy_objects/);
    await d.stop();
  });
});
