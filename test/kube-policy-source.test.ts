// The policy source, driven through @kubernetes/client-node's lists and Watch against the test
// API server: every world it hands out is checked after adds, updates and deletes of each kind,
// dropped watches, 410 Gone, a kind the role does not grant, and the server going away and back.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { loopbackKubeConfig } from '../src/lab/loopback-kubeconfig.js';
import { KubePolicySource, readPolicyWorld } from '../src/policy/kube-policy-source.js';
import type { PolicyWorld } from '../src/policy/world.js';

/** How long to wait for what the watch or the source does next, on a loaded machine. */
const WAIT = { timeout: 15_000 };
const silent = pino({ level: 'silent' });


/** A pod as the kubelet reports it, with the fields the world drops (managed fields, statuses). */
function pod(namespace: string, name: string, labels: Record<string, string>, ip: string | undefined, extra: { phase?: string; node?: string; ready?: string } = {}): KubeObject {
  return {
    metadata: {
      namespace, name, labels, uid: `uid-${namespace}-${name}`,
      managedFields: [{ manager: 'kubelet', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:conditions': {} } } }],
    },
    spec: {
      nodeName: extra.node ?? 'n1',
      containers: [{ name: 'server', image: 'registry.k8s.io/e2e-test-images/agnhost:2.47', ports: [{ name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' }, { name: 'serve-81-udp', containerPort: 81, protocol: 'UDP' }] }],
    },
    status: {
      phase: extra.phase ?? 'Running',
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      conditions: [{ type: 'Ready', status: extra.ready ?? 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }],
    },
  };
}

function policy(namespace: string, name: string, fromPod: string, port = 80): KubeObject {
  return {
    metadata: { namespace, name, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"a":"long copy of the spec"}' } },
    spec: {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: fromPod } }, namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['x', 'y'] }] } }], ports: [{ port, protocol: 'TCP' }] }],
    },
  };
}

const node = (name: string, address: string): KubeObject => ({ metadata: { name }, spec: { podCIDR: '10.244.1.0/24' }, status: { addresses: [{ type: 'InternalIP', address }, { type: 'Hostname', address: name }] } });

const pods = (w: PolicyWorld | undefined) => w?.pods.map((p) => `${p.namespace}/${p.name} ${JSON.stringify(p.labels)} ${p.ips.join(',')}`).sort();
const policies = (w: PolicyWorld | undefined) => w?.policies.map((p) => `${p.metadata?.namespace}/${p.metadata?.name} from pod=${p.spec?.ingress?.[0]._from?.[0].podSelector?.matchLabels?.pod} port ${String(p.spec?.ingress?.[0].ports?.[0].port)}`).sort();
const namespaces = (w: PolicyWorld | undefined) => w?.namespaces.map((n) => `${n.name} ${JSON.stringify(n.labels)}`).sort();

/** The e2e suite's start: namespaces x and y, pod a in each, one policy in x, two nodes. */
function seed(api: KubeApiServer): void {
  api.upsertNamespace({ metadata: { name: 'x', labels: { ns: 'x' } } });
  api.upsertNamespace({ metadata: { name: 'y', labels: { ns: 'y' } } });
  api.upsertPod(pod('x', 'a', { pod: 'a' }, '10.244.1.10'));
  api.upsertPod(pod('y', 'a', { pod: 'a' }, '10.244.2.10', { node: 'n2' }));
  api.upsertNetworkPolicy(policy('x', 'allow-b', 'b'));
  api.upsertNode(node('n1', '192.0.2.1'));
  api.upsertNode(node('n2', '192.0.2.2'));
}

describe.each(['event', 'http'] as const)('Kubernetes policy source (410 Gone as %s)', (expired) => {
  let api: KubeApiServer;
  let source: KubePolicySource | undefined;
  let port = 0;
  const worlds: PolicyWorld[] = [];
  const latest = () => worlds.at(-1);

  afterEach(async () => {
    source?.stop();
    source = undefined;
    await api?.close();
    worlds.length = 0;
  });

  async function begin(log = silent): Promise<PolicyWorld> {
    api = new KubeApiServer({ expired, bookmarkMs: 200 });
    seed(api);
    port = await api.listen('127.0.0.1', 0);
    source = new KubePolicySource(loopbackKubeConfig(port), log);
    source.onWorld((w) => worlds.push(w));
    return source.start();
  }

  it('lists every kind into one world, trimmed, policies in client-node’s typed form', async () => {
    const first = await begin();
    expect(worlds).toEqual([first]);
    expect(pods(first)).toEqual(['x/a {"pod":"a"} 10.244.1.10', 'y/a {"pod":"a"} 10.244.2.10']);
    expect(first.pods.find((p) => p.namespace === 'x')).toEqual({
      namespace: 'x', name: 'a', labels: { pod: 'a' }, ips: ['10.244.1.10'], nodeName: 'n1', hostNetwork: false,
      ports: [{ name: 'serve-80-tcp', port: 80, protocol: 'TCP' }, { name: 'serve-81-udp', port: 81, protocol: 'UDP' }],
    });
    expect(namespaces(first)).toEqual(['x {"kubernetes.io/metadata.name":"x","ns":"x"}', 'y {"kubernetes.io/metadata.name":"y","ns":"y"}']);
    expect(first.nodes.map((n) => [n.name, n.addresses])).toEqual([['n1', ['192.0.2.1']], ['n2', ['192.0.2.2']]]);
    expect(policies(first)).toEqual(['x/allow-b from pod=b port 80']);
    expect(first.policies[0].metadata).toEqual({ name: 'allow-b', namespace: 'x' }); // no last-applied copy kept
    expect(source!.problem()).toBeUndefined();
    expect(source!.status()).toMatchObject({ pods: 2, namespaces: 2, nodes: 2, policies: 1, worlds: 1 });

    // The same one-shot, for `vxroute policy explain`.
    const once = await readPolicyWorld(loopbackKubeConfig(port));
    expect([pods(once), policies(once), namespaces(once)]).toEqual([pods(first), policies(first), namespaces(first)]);
  });

  it('follows adds, updates and deletes of each kind: labels, a pod IP assigned later, a pod finished', async () => {
    await begin();
    // A policy from the watch has the same typed form as one from the list (`_from`, not `from`).
    api.upsertNetworkPolicy(policy('y', 'allow-c', 'c', 81));
    await vi.waitFor(() => expect(policies(latest())).toEqual(['x/allow-b from pod=b port 80', 'y/allow-c from pod=c port 81']), WAIT);
    api.upsertNetworkPolicy(policy('x', 'allow-b', 'c'));
    await vi.waitFor(() => expect(policies(latest())).toContain('x/allow-b from pod=c port 80'), WAIT);
    api.deleteNetworkPolicy('y', 'allow-c');
    await vi.waitFor(() => expect(policies(latest())).toEqual(['x/allow-b from pod=c port 80']), WAIT);

    api.upsertPod(pod('x', 'b', { pod: 'b' }, undefined)); // scheduled, no IP yet
    await vi.waitFor(() => expect(pods(latest())).toContain('x/b {"pod":"b"} '), WAIT);
    api.upsertPod(pod('x', 'b', { pod: 'b' }, '10.244.1.11'));
    await vi.waitFor(() => expect(pods(latest())).toContain('x/b {"pod":"b"} 10.244.1.11'), WAIT);
    api.upsertPod(pod('x', 'b', { pod: 'b', role: 'db' }, '10.244.1.11'));
    await vi.waitFor(() => expect(pods(latest())).toContain('x/b {"pod":"b","role":"db"} 10.244.1.11'), WAIT);
    api.upsertPod(pod('x', 'b', { pod: 'b', role: 'db' }, '10.244.1.11', { phase: 'Succeeded' })); // its IP may be someone else's now
    await vi.waitFor(() => expect(pods(latest())).toContain('x/b {"pod":"b","role":"db"} '), WAIT);
    api.deletePod('x', 'b');
    await vi.waitFor(() => expect(pods(latest())).toEqual(['x/a {"pod":"a"} 10.244.1.10', 'y/a {"pod":"a"} 10.244.2.10']), WAIT);

    api.upsertNamespace({ metadata: { name: 'y', labels: { ns: 'y', env: 'prod' } } });
    await vi.waitFor(() => expect(namespaces(latest())).toContain('y {"kubernetes.io/metadata.name":"y","ns":"y","env":"prod"}'), WAIT);
    api.upsertNamespace({ metadata: { name: 'z' } });
    await vi.waitFor(() => expect(namespaces(latest())).toHaveLength(3), WAIT);
    api.deleteNamespace('z');
    await vi.waitFor(() => expect(namespaces(latest())).toHaveLength(2), WAIT);

    api.upsertNode(node('n3', '192.0.2.3'));
    await vi.waitFor(() => expect(latest()?.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3']), WAIT);
    api.deleteNode('n2');
    await vi.waitFor(() => expect(latest()?.nodes.map((n) => n.name)).toEqual(['n1', 'n3']), WAIT);
  });

  it('makes no world of a change NetworkPolicy does not read (a pod’s conditions, a node’s hostname)', async () => {
    await begin();
    api.upsertPod(pod('x', 'a', { pod: 'a' }, '10.244.1.10', { ready: 'False' }));
    api.upsertNode({ ...node('n1', '192.0.2.1'), metadata: { name: 'n1', labels: { heartbeat: '1' } } });
    // A marker after them on the same watches: once it is in, they were seen too.
    api.upsertPod(pod('x', 'marker', {}, undefined));
    await vi.waitFor(() => expect(pods(latest())).toContain('x/marker {} '), WAIT);
    expect(worlds).toHaveLength(2);
    expect(source!.status().worlds).toBe(2);
  });

  it('keeps each node’s object in the next world while its addresses stay, so the compiler keeps its pod directory', async () => {
    const first = await begin();
    // flannel's annotations and a new pod CIDR: the node list-watch keeps both, the policy world reads neither.
    api.upsertNode({ ...node('n1', '192.0.2.1'), metadata: { name: 'n1', annotations: { 'flannel.alpha.coreos.com/public-ip': '192.0.2.1' } }, spec: { podCIDR: '10.244.9.0/24' } });
    api.upsertNetworkPolicy(policy('x', 'allow-b', 'c'));
    await vi.waitFor(() => expect(policies(latest())).toEqual(['x/allow-b from pod=c port 80']), WAIT);
    expect(latest()!.nodes).toHaveLength(2);
    latest()!.nodes.forEach((n, i) => expect(n).toBe(first.nodes[i]));
    // An address that changes does make a new one.
    api.upsertNode(node('n2', '192.0.2.22'));
    await vi.waitFor(() => expect(latest()?.nodes[1].addresses).toEqual(['192.0.2.22']), WAIT);
    expect(latest()!.nodes[0]).toBe(first.nodes[0]);
  });

  it('rewatches after a watch dropped mid-stream, and relists after 410 Gone', async () => {
    await begin();
    await vi.waitFor(() => expect(api.openWatches()).toBe(4), WAIT);
    api.dropWatches();
    api.upsertPod(pod('x', 'c', { pod: 'c' }, '10.244.1.12'));
    await vi.waitFor(() => expect(pods(latest())).toContain('x/c {"pod":"c"} 10.244.1.12'), WAIT);

    await vi.waitFor(() => expect(api.openWatches()).toBe(4), WAIT);
    const listsBefore = api.statsOf('networkpolicies').lists;
    api.dropWatches();
    api.deleteNetworkPolicy('x', 'allow-b');
    api.upsertNetworkPolicy(policy('x', 'allow-c', 'c'));
    api.compact();
    await vi.waitFor(() => expect(policies(latest())).toEqual(['x/allow-c from pod=c port 80']), WAIT);
    expect(api.statsOf('networkpolicies').lists).toBeGreaterThan(listsBefore);
    expect(source!.problem()).toBeUndefined();
  });

  it('keeps the last world while the API server is down, reports it, and relists when it is back', async () => {
    let failures = 0;
    const log = pino({ level: 'warn' }, {
      write: (line: string) => {
        if ((JSON.parse(line) as { msg: string }).msg.startsWith('lost the API server for network policy')) failures++;
      },
    });
    const first = await begin(log);
    await vi.waitFor(() => expect(api.openWatches()).toBe(4), WAIT);
    await api.down();
    await vi.waitFor(() => expect(source!.problem()).toMatch(/^network policy: API server: /), WAIT);
    api.upsertNetworkPolicy(policy('x', 'deny-all', 'nobody')); // happens while no client sees it
    api.upsertPod(pod('y', 'b', { pod: 'b' }, '10.244.2.11'));
    await vi.waitFor(() => expect(failures).toBeGreaterThanOrEqual(8), { timeout: 30_000, interval: 100 }); // each of the four kinds retried
    expect(worlds).toEqual([first]); // nothing published, nothing thrown away
    expect(source!.current()).toBe(first);
    const lists = api.statsOf('pods').lists;
    await api.up();
    await vi.waitFor(() => expect(policies(latest())).toContain('x/deny-all from pod=nobody port 80'), { timeout: 25_000 });
    expect(pods(latest())).toContain('y/b {"pod":"b"} 10.244.2.11');
    expect(api.statsOf('pods').lists).toBeGreaterThan(lists);
    await vi.waitFor(() => expect(source!.problem()).toBeUndefined(), WAIT);
  });

  it('publishes no world until every kind is listed: a role without networkpolicies holds it back, and says what to grant', async () => {
    api = new KubeApiServer({ expired });
    seed(api);
    api.refuse('networkpolicies', 403);
    const port = await api.listen('127.0.0.1', 0);
    source = new KubePolicySource(loopbackKubeConfig(port), silent);
    source.onWorld((w) => worlds.push(w));
    let first: PolicyWorld | undefined;
    void source.start().then((w) => (first = w));
    await vi.waitFor(() => expect(source!.problem()).toMatch(/networkpolicies: .*HTTP 403.*rbac\.yaml.*--no-network-policy/), WAIT);
    // Pods, namespaces and nodes are listed and watched meanwhile: still no world, which would leave pods unprotected.
    await vi.waitFor(() => expect(api.openWatches()).toBe(3), WAIT);
    api.upsertPod(pod('x', 'b', { pod: 'b' }, '10.244.1.11'));
    expect(source.current()).toBeUndefined();
    expect(worlds).toEqual([]);
    api.refuse('networkpolicies', undefined);
    await vi.waitFor(() => expect(first).toBeDefined(), { timeout: 25_000 });
    expect(policies(first)).toEqual(['x/allow-b from pod=b port 80']);
    await vi.waitFor(() => expect(pods(latest())).toContain('x/b {"pod":"b"} 10.244.1.11'), WAIT);
  });
});

describe('Kubernetes policy source under bursts', () => {
  it('coalesces a burst of 1,000 pod events into few worlds, the last one complete', async () => {
    const api = new KubeApiServer();
    seed(api);
    const port = await api.listen('127.0.0.1', 0);
    const source = new KubePolicySource(loopbackKubeConfig(port), silent);
    const counts: number[] = [];
    source.onWorld((w) => counts.push(w.pods.length));
    try {
      await source.start();
      await vi.waitFor(() => expect(api.openWatches()).toBe(4), WAIT);
      for (let i = 0; i < 1000; i++) api.upsertPod(pod('x', `burst-${i}`, { pod: 'burst' }, `10.244.${3 + (i >> 8)}.${i & 255}`));
      await vi.waitFor(() => expect(counts.at(-1)).toBe(1002), WAIT);
      const worlds = counts.length - 1;
      expect(worlds).toBeGreaterThanOrEqual(1);
      expect(worlds).toBeLessThanOrEqual(50);
    } finally {
      source.stop();
      await api.close();
    }
  });

  it('a policy change reaches the listener as a new world while thousands of pods are in it', async () => {
    const api = new KubeApiServer();
    seed(api);
    for (let i = 0; i < 3000; i++) api.upsertPod(pod(`ns-${i % 30}`, `p-${i}`, { app: `app-${i % 100}` }, `10.244.${4 + (i >> 8)}.${i & 255}`));
    const port = await api.listen('127.0.0.1', 0);
    const source = new KubePolicySource(loopbackKubeConfig(port), silent);
    let seen: V1NetworkPolicy[] = [];
    source.onWorld((w) => (seen = w.policies));
    try {
      const first = await source.start();
      expect(first.pods).toHaveLength(3002);
      api.upsertNetworkPolicy(policy('x', 'allow-b', 'b', 8080));
      await vi.waitFor(() => expect(seen.map((p) => String(p.spec?.ingress?.[0].ports?.[0].port))).toEqual(['8080']), WAIT);
    } finally {
      source.stop();
      await api.close();
    }
  });
});
