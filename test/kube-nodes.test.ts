// The one Node list-watch the subnet table and NetworkPolicy share: each node trimmed to what
// they read, listed and watched once for both, and a change neither reads rebuilds nothing.
import type { V1Node } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type NodeObject } from '../src/lab/kube-api-server.js';
import { loopbackKubeConfig } from '../src/lab/loopback-kubeconfig.js';
import { KubePolicySource } from '../src/policy/kube-policy-source.js';
import type { PolicyWorld } from '../src/policy/world.js';
import { parseCidr } from '../src/subnets/cidr.js';
import { Annotation } from '../src/subnets/flannel-annotations.js';
import { nodeListWatch, trimNode, type NodeListWatch } from '../src/subnets/kube-nodes.js';
import { KubeSubnetSource } from '../src/subnets/kube-source.js';
import type { SubnetTable } from '../src/subnets/subnet-table.js';

const WAIT = { timeout: 15_000 };
const silent = pino({ level: 'silent' });

/** A node as the kubelet and flanneld leave it, with what neither reader needs. */
function node(i: number, mac = i, extra: Record<string, string> = {}): NodeObject {
  return {
    metadata: {
      name: `n${i}`,
      labels: { 'kubernetes.io/hostname': `n${i}`, ...extra },
      annotations: {
        [Annotation.kubeSubnetManager]: 'true',
        [Annotation.backendType]: 'vxlan',
        [Annotation.backendData]: `{"VNI":1,"VtepMAC":"0a:58:c0:00:02:${mac.toString(16).padStart(2, '0')}"}`,
        [Annotation.publicIP]: `192.0.2.${i}`,
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
      managedFields: [{ manager: 'kubelet', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': {} } }],
    },
    spec: { podCIDR: `10.244.${i}.0/24`, podCIDRs: [`10.244.${i}.0/24`], providerID: `kind://n${i}` },
    status: {
      addresses: [{ type: 'InternalIP', address: `192.0.2.${i}` }, { type: 'Hostname', address: `n${i}` }, { type: 'ExternalIP', address: `198.51.100.${i}` }],
      conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-01-01T00:00:00Z' }],
      nodeInfo: { kubeletVersion: 'v1.34.0' },
    },
  } as NodeObject;
}

describe('trimNode', () => {
  it('keeps the name, flannel’s annotations, the pod CIDRs and the InternalIP/ExternalIP addresses, nothing else', () => {
    expect(trimNode(node(2) as V1Node)).toEqual({
      metadata: {
        name: 'n2',
        annotations: {
          [Annotation.kubeSubnetManager]: 'true',
          [Annotation.backendType]: 'vxlan',
          [Annotation.backendData]: '{"VNI":1,"VtepMAC":"0a:58:c0:00:02:02"}',
          [Annotation.publicIP]: '192.0.2.2',
        },
      },
      spec: { podCIDR: '10.244.2.0/24', podCIDRs: ['10.244.2.0/24'] },
      status: { addresses: [{ type: 'InternalIP', address: '192.0.2.2' }, { type: 'ExternalIP', address: '198.51.100.2' }] },
    });
  });
});

describe('one Node list-watch for the subnet table and NetworkPolicy', () => {
  let api: KubeApiServer;
  let nodes: NodeListWatch | undefined;
  let subnets: KubeSubnetSource | undefined;
  let policy: KubePolicySource | undefined;

  afterEach(async () => {
    subnets?.stop();
    policy?.stop();
    nodes?.stop();
    await api?.close();
  });

  it('lists and watches nodes once for both; a heartbeat changes neither, a VTEP MAC only the table', async () => {
    api = new KubeApiServer({ expired: 'event', bookmarkMs: 100 });
    for (const i of [1, 2, 3]) api.upsertNode(node(i));
    const port = await api.listen('127.0.0.1', 0);
    const kc = loopbackKubeConfig(port);
    nodes = nodeListWatch(kc);
    subnets = new KubeSubnetSource(kc, { nodeName: 'n1', networks: { v4: parseCidr('10.244.0.0/16'), v6: undefined }, vni: 1, publicIP: undefined }, silent, nodes);
    policy = new KubePolicySource(kc, silent, nodes);
    const tables: SubnetTable[] = [];
    const worlds: PolicyWorld[] = [];
    subnets.onTable((t) => tables.push(t));
    policy.onWorld((w) => worlds.push(w));
    const [table] = await Promise.all([subnets.start(), policy.start()]);
    expect(table.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
    expect(worlds.at(-1)!.nodes).toEqual([{ name: 'n1', addresses: ['192.0.2.1', '198.51.100.1'] }, { name: 'n2', addresses: ['192.0.2.2', '198.51.100.2'] }, { name: 'n3', addresses: ['192.0.2.3', '198.51.100.3'] }]);
    expect(api.statsOf('nodes')).toMatchObject({ lists: 1 });
    await vi.waitFor(() => expect(api.openWatches()).toBe(4), WAIT); // nodes once, pods, namespaces, networkpolicies

    // A heartbeat (a label and the conditions' time) is dropped on arrival: no table, no world.
    const hb = node(2, 2, { heartbeat: '1' });
    (hb.status!.conditions as unknown as { lastHeartbeatTime: string }[])[0].lastHeartbeatTime = '2026-01-01T00:00:10Z';
    api.upsertNode(hb);
    // A new VTEP MAC after it on the same watch: the table follows; NetworkPolicy reads no MACs.
    api.upsertNode(node(3, 0x33));
    await vi.waitFor(() => expect(tables.at(-1)?.nodes.find((n) => n.name === 'n3')?.vtepMAC.toString('hex')).toBe('0a58c0000233'), WAIT);
    expect(tables).toHaveLength(1);
    expect(worlds).toHaveLength(1);

    // A new address is NetworkPolicy's business as well as the table's.
    const moved = node(2);
    moved.metadata.annotations![Annotation.publicIP] = '192.0.2.22';
    moved.status!.addresses![0].address = '192.0.2.22';
    api.upsertNode(moved);
    await vi.waitFor(() => expect(worlds.at(-1)?.nodes.find((n) => n.name === 'n2')?.addresses).toEqual(['192.0.2.22', '198.51.100.2']), WAIT);
    expect(tables.at(-1)!.nodes.find((n) => n.name === 'n2')?.publicIP).toBe('192.0.2.22');

    // History compacted past the shared watch (410 Gone as an ERROR event): one relist serves both.
    api.dropWatches();
    api.upsertNode(node(4));
    api.compact();
    await vi.waitFor(() => expect(tables.at(-1)?.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3', 'n4']), WAIT);
    await vi.waitFor(() => expect(worlds.at(-1)?.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3', 'n4']), WAIT);
    expect(api.statsOf('nodes').lists).toBe(2);
  });
});
