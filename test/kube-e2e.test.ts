// A mixed cluster driven by the Kubernetes API, end to end in namespaces: the test's API server
// on the underlay at 192.0.2.250:6443, two nodes running `vxroute run --kube`, and one node
// running the kernel's VXLAN device programmed as flanneld programs it, from the annotations
// our daemons published. Pods on every pair of nodes reach each other; a node deleted from the
// API stops getting traffic, dropped as no_route.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KernelFlanneld } from '../src/lab/kernel-flanneld.js';
import { KubeApiServer, type NodeObject } from '../src/lab/kube-api-server.js';
import { Lab, NETWORK, POD_MTU, type LabNode } from '../src/lab/lab.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

/** How long to wait for what the informer or the daemon does next, on a loaded machine. */
const WAIT = { timeout: 15_000 };

const MiB = 1 << 20;
const A = 'flannel.alpha.coreos.com/';

/** A Node as the kubelet registers it and the controller manager assigns its pod CIDR. */
function registered(n: LabNode): NodeObject {
  return {
    metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
    spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] },
    status: { addresses: [{ type: 'InternalIP', address: n.publicIP }, { type: 'Hostname', address: n.name }] },
  };
}

describe('vxroute --kube beside a flannel kernel node', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let nodes: LabNode[];
  let kernel: LabNode;
  let flanneld: KernelFlanneld;
  const daemons = new Map<string, VxrouteProcess>();

  beforeAll(async () => {
    lab = await Lab.create();
    api = new KubeApiServer({ bookmarkMs: 1000 });
    const kubeconfig = await lab.addApiServer(api);
    nodes = [await lab.addNode('vxroute'), await lab.addNode('vxroute'), await lab.addNode('kernel')];
    kernel = nodes[2];
    for (const n of nodes) api.upsertNode(registered(n));
    flanneld = new KernelFlanneld(api, kernel);
    flanneld.publish();

    const netConf = await lab.writeNetConf();
    for (const n of nodes.slice(0, 2)) {
      const d = await lab.startVxrouteKube(n, kubeconfig, netConf, ['--workers', '2']);
      daemons.set(n.name, d);
      await d.waitForLog((l) => l.msg === 'node annotations published');
    }
    // Each daemon has all three nodes in its table once the other's annotations arrived.
    for (const d of daemons.values()) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 3, 15_000);
    const programmed = await flanneld.sync();
    expect(programmed.map((p) => p.podCIDR).sort()).toEqual([nodes[0].podCIDR, nodes[1].podCIDR]);
  });

  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  it('publishes flannel’s annotations and NetworkUnavailable=False on our own Nodes', () => {
    for (const n of nodes.slice(0, 2)) {
      const node = api.getNode(n.name)!;
      const a = node.metadata.annotations ?? {};
      expect(a[`${A}backend-type`]).toBe('vxlan');
      expect(a[`${A}kube-subnet-manager`]).toBe('true');
      expect(a[`${A}public-ip`]).toBe(n.publicIP);
      expect(a[`${A}backend-data`]).toMatch(/^\{"VNI":1,"VtepMAC":"([0-9a-f]{2}:){5}[0-9a-f]{2}"\}$/);
      const condition = node.status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
      expect(condition).toMatchObject({ status: 'False', reason: 'VxrouteIsUp' });
    }
  });

  it('writes subnet.env for flannel’s CNI plugin', async () => {
    for (const n of nodes.slice(0, 2)) {
      const text = await readFile(join(lab.dir, `${n.name}-subnet.env`), 'utf8');
      expect(text).toBe(`FLANNEL_NETWORK=${NETWORK}\nFLANNEL_SUBNET=10.244.${n.index}.1/24\nFLANNEL_MTU=${POD_MTU}\nFLANNEL_IPMASQ=false\n`);
    }
  });

  it('pings between the pods of every pair of nodes', async () => {
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        const r = await ping(a.pods[0].ns, b.pods[0].ip, 3, 0.05);
        expect(r.received, `${a.name} → ${b.name}`).toBe(3);
      }
    }
  });

  it('carries TCP intact between every pair of nodes', async () => {
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        const t = await tcpTransfer(b.pods[0].ns, b.pods[0].ip, a.pods[0].ns, 8 * MiB);
        expect(t.receivedBytes, `${a.name} → ${b.name}`).toBe(8 * MiB);
        expect(t.receivedSha256, `${a.name} → ${b.name}`).toBe(t.sentSha256);
      }
    }
  });

  it('keeps forwarding while the API server is away, not ready until it is back', async () => {
    const [a, b] = nodes;
    const daemon = daemons.get(a.name)!;
    expect((await daemon.readyz()).status).toBe(200);
    await api.down();
    // Back up even when an expectation fails, so that the tests after this one meet an API server.
    try {
      await vi.waitFor(async () => expect((await daemon.readyz()).body).toMatch(/API server/), { timeout: 10_000 });
      expect((await daemon.readyz()).status).toBe(503);
      expect((await ping(a.pods[0].ns, b.pods[0].ip, 3, 0.05)).received).toBe(3);
      expect((await ping(b.pods[0].ns, kernel.pods[0].ip, 3, 0.05)).received).toBe(3);
    } finally {
      await api.up();
    }
    await vi.waitFor(async () => expect((await daemon.readyz()).status).toBe(200), { timeout: 30_000 });
  });

  it('drops traffic to a node deleted from the API as no_route', async () => {
    const [ours] = nodes;
    const daemon = daemons.get(ours.name)!;
    const before = (await daemon.counters()).drops.no_route;
    const from = daemon.logs.length;
    api.deleteNode(kernel.name);
    await daemon.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 10_000, from);

    const r = await ping(ours.pods[0].ns, kernel.pods[0].ip, 3, 0.05);
    expect(r.received).toBe(0);
    await vi.waitFor(async () => expect((await daemon.counters()).drops.no_route).toBeGreaterThanOrEqual(before + 3), WAIT);
    expect((await daemon.counters()).peers.map((p) => p.name)).toEqual([nodes[1].name]);
    // The other vxroute node is still reachable.
    expect((await ping(ours.pods[0].ns, nodes[1].pods[0].ip, 2, 0.05)).received).toBe(2);
  });
});

describe('vxroute --kube in a dual-stack cluster beside a flannel kernel node', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let nodes: LabNode[];

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    api = new KubeApiServer();
    const kubeconfig = await lab.addApiServer(api);
    nodes = [await lab.addNode('vxroute'), await lab.addNode('vxroute'), await lab.addNode('kernel')];
    for (const n of nodes) {
      const node = registered(n);
      node.spec = { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR, n.podCIDRv6] };
      node.status!.addresses!.push({ type: 'InternalIP', address: n.publicIPv6 });
      api.upsertNode(node);
    }
    const flanneld = new KernelFlanneld(api, nodes[2], [4, 6]);
    flanneld.publish();
    const netConf = await lab.writeNetConf();
    const daemons: VxrouteProcess[] = [];
    for (const n of nodes.slice(0, 2)) {
      const d = await lab.startVxrouteKube(n, kubeconfig, netConf, ['--workers', '2']);
      await d.waitForLog((l) => l.msg === 'node annotations published');
      daemons.push(d);
    }
    for (const d of daemons) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 3, 15_000);
    await flanneld.sync();
    expect((await flanneld.syncV6()).map((p) => p.podCIDRv6).sort()).toEqual([nodes[0].podCIDRv6, nodes[1].podCIDRv6]);
    await lab.ipv6Settled();
  });

  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  it('publishes both families’ leases on our Nodes and writes both into subnet.env', async () => {
    for (const n of nodes.slice(0, 2)) {
      const a = api.getNode(n.name)!.metadata.annotations ?? {};
      expect(a[`${A}public-ipv6`]).toBe(n.publicIPv6);
      expect(a[`${A}backend-v6-data`]).toMatch(/^\{"VNI":1,"VtepMAC":"([0-9a-f]{2}:){5}[0-9a-f]{2}"\}$/);
      expect(a[`${A}backend-v6-data`]).not.toBe(a[`${A}backend-data`]); // one VTEP MAC per family, as flannel has
      const env = await readFile(join(lab.dir, `${n.name}-subnet.env`), 'utf8');
      expect(env).toBe(`FLANNEL_NETWORK=${NETWORK}\nFLANNEL_SUBNET=10.244.${n.index}.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:${n.index}::1/64\nFLANNEL_MTU=${POD_MTU}\nFLANNEL_IPMASQ=false\n`);
    }
  });

  it('pings over IPv4 and IPv6 between the pods of every pair of nodes', async () => {
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        expect((await ping(a.pods[0].ns, b.pods[0].ip, 2, 0.05)).received, `IPv4 ${a.name} → ${b.name}`).toBe(2);
        // A first IPv6 echo between a pair was seen lost once on a loaded machine: reachability
        // is what is checked here, as two echoes answered within a few rounds.
        await expect.poll(async () => (await ping(a.pods[0].ns, b.pods[0].ip6, 2, 0.05)).received, { message: `IPv6 ${a.name} → ${b.name}`, ...WAIT }).toBe(2);
      }
    }
  });
});

