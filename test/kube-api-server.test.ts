// The test API server's kinds beyond Nodes, through @kubernetes/client-node's own clients: pods
// (cluster-wide and namespaced), namespaces and networkpolicies, created, replaced, deleted and
// watched, with one resourceVersion across kinds as etcd keeps it.
import { CoreV1Api, KubeConfig, NetworkingV1Api, Watch } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeApiServer } from '../src/lab/kube-api-server.js';
import { loopbackKubeConfig } from '../src/lab/loopback-kubeconfig.js';

const WAIT = { timeout: 15_000 };


const pod = (namespace: string, name: string, labels: Record<string, string> = {}) => ({ metadata: { namespace, name, labels }, spec: { containers: [{ name: 'c', image: 'x' }] } });
const policy = (namespace: string, name: string) => ({ metadata: { namespace, name }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });

describe('test API server: pods, namespaces, networkpolicies', () => {
  let api: KubeApiServer;
  afterEach(() => api?.close());

  async function begin(expired: 'event' | 'http' = 'event'): Promise<KubeConfig> {
    api = new KubeApiServer({ expired });
    return loopbackKubeConfig(await api.listen('127.0.0.1', 0));
  }

  it('lists each kind cluster-wide and by namespace, labels namespaces with their name, and shares one resourceVersion', async () => {
    const kc = await begin();
    const core = kc.makeApiClient(CoreV1Api);
    const net = kc.makeApiClient(NetworkingV1Api);
    api.upsertNamespace({ metadata: { name: 'x', labels: { team: 'a' } } });
    api.upsertPod(pod('x', 'a', { pod: 'a' }));
    api.upsertPod(pod('y', 'b'));
    const stored = api.upsertNetworkPolicy(policy('x', 'deny'));

    expect((await core.listPodForAllNamespaces()).items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).sort()).toEqual(['x/a', 'y/b']);
    expect((await core.listNamespacedPod({ namespace: 'x' })).items.map((p) => p.metadata?.labels)).toEqual([{ pod: 'a' }]);
    const namespaces = await core.listNamespace();
    expect(namespaces.items[0].metadata?.labels).toEqual({ team: 'a', 'kubernetes.io/metadata.name': 'x' });
    const policies = await net.listNetworkPolicyForAllNamespaces();
    expect(policies.items.map((p) => [p.kind, p.apiVersion, p.metadata?.name, p.spec?.policyTypes])).toEqual([['NetworkPolicy', 'networking.k8s.io/v1', 'deny', ['Ingress']]]);
    expect((await net.listNamespacedNetworkPolicy({ namespace: 'y' })).items).toEqual([]);
    // Four writes, one counter: every list is at the newest version of any kind.
    expect(stored.metadata.resourceVersion).toBe('5');
    expect(policies.metadata?.resourceVersion).toBe('5');
    expect(api.statsOf('pods').lists).toBe(2);
    expect(api.stats.lists).toBe(5);
  });

  it('creates, replaces and deletes through the HTTP verbs, with the API’s refusals', async () => {
    const kc = await begin();
    const core = kc.makeApiClient(CoreV1Api);
    const net = kc.makeApiClient(NetworkingV1Api);
    await core.createNamespacedPod({ namespace: 'x', body: pod('x', 'a') });
    await expect(core.createNamespacedPod({ namespace: 'x', body: pod('x', 'a') })).rejects.toMatchObject({ code: 409 });
    await core.replaceNamespacedPod({ namespace: 'x', name: 'a', body: pod('x', 'a', { v: '2' }) });
    expect(api.get('pods', 'x', 'a')?.metadata.labels).toEqual({ v: '2' });
    await expect(core.replaceNamespacedPod({ namespace: 'x', name: 'b', body: pod('x', 'b') })).rejects.toMatchObject({ code: 404 });
    await net.createNamespacedNetworkPolicy({ namespace: 'x', body: policy('x', 'p') });
    await net.deleteNamespacedNetworkPolicy({ namespace: 'x', name: 'p' });
    expect(api.list('networkpolicies')).toEqual([]);
    await expect(core.deleteNamespacedPod({ namespace: 'x', name: 'nope' })).rejects.toMatchObject({ code: 404 });
    await core.createNamespace({ body: { metadata: { name: 'z' } } });
    expect(api.get('namespaces', undefined, 'z')?.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'z' });
  });

  it('watches one kind from a version: only that kind’s events, namespaced watches only their namespace, 410 once compacted', async () => {
    const kc = await begin('http');
    api.upsertPod(pod('x', 'a'));
    const from = api.upsertNamespace({ metadata: { name: 'x' } }).metadata.resourceVersion!;
    const seen: string[] = [];
    const seenX: string[] = [];
    const watch = new Watch(kc);
    const all = await watch.watch('/api/v1/pods', { resourceVersion: from }, (type, o: { metadata: { namespace: string; name: string } }) => seen.push(`${type} ${o.metadata.namespace}/${o.metadata.name}`), () => {});
    const inX = await watch.watch('/api/v1/namespaces/x/pods', { resourceVersion: from }, (type, o: { metadata: { name: string } }) => seenX.push(`${type} ${o.metadata.name}`), () => {});
    api.upsertNetworkPolicy(policy('x', 'p'));
    api.upsertPod(pod('y', 'b'));
    api.upsertPod(pod('x', 'a', { v: '2' }));
    api.deletePod('x', 'a');
    await vi.waitFor(() => expect(seen).toEqual(['ADDED y/b', 'MODIFIED x/a', 'DELETED x/a']), WAIT);
    await vi.waitFor(() => expect(seenX).toEqual(['MODIFIED a', 'DELETED a']), WAIT);
    all.abort();
    inX.abort();

    api.compact();
    const done = new Promise<unknown>((resolve) => void watch.watch('/api/v1/pods', { resourceVersion: from }, () => {}, resolve));
    expect(await done).toMatchObject({ statusCode: 410 });
  });
});
