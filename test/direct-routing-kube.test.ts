// DirectRouting from net-conf.json with `vxroute run --kube`: two vxroute nodes on one underlay
// subnet take their table from the test's API server; each routes the other's pods by the kernel,
// pods talk over it, and a Node deleted from the API takes its direct route with it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiServer, type NodeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const MiB = 1 << 20;
const BOUND_MS = 15_000;

function registered(n: LabNode): NodeObject {
  return {
    metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
    spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] },
    status: { addresses: [{ type: 'InternalIP', address: n.publicIP }, { type: 'Hostname', address: n.name }] },
  };
}

async function directRoutes(node: LabNode): Promise<string[]> {
  const routes = JSON.parse(await inNs(node.ns, 'ip', ['-j', 'route', 'show', 'proto', '118'])) as { dst: string; gateway: string; dev: string }[];
  return routes.map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`);
}

describe('DirectRouting with --kube, from net-conf.json', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let a: LabNode;
  let b: LabNode;
  const daemons = new Map<string, VxrouteProcess>();

  beforeAll(async () => {
    lab = await Lab.create();
    api = new KubeApiServer({ bookmarkMs: 1000 });
    const kubeconfig = await lab.addApiServer(api);
    a = await lab.addNode('vxroute');
    b = await lab.addNode('vxroute');
    for (const n of [a, b]) api.upsertNode(registered(n));
    const netConf = await lab.writeNetConf({ Type: 'vxlan', DirectRouting: true });
    for (const n of [a, b]) {
      const d = await lab.startVxrouteKube(n, kubeconfig, netConf, ['--workers', '1']);
      daemons.set(n.name, d);
      await d.waitForLog((l) => l.msg === 'node annotations published');
    }
    for (const d of daemons.values()) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, BOUND_MS);
  });
  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  it('routes each node’s pods to the other by the kernel, and pods talk over it', async () => {
    expect(await directRoutes(a)).toEqual([`${b.podCIDR} via ${b.publicIP} dev eth0`]);
    expect(await directRoutes(b)).toEqual([`${a.podCIDR} via ${a.publicIP} dev eth0`]);
    expect((await ping(a.pods[0].ns, b.pods[0].ip, 3, 0.05)).received).toBe(3);
    const t = await tcpTransfer(a.pods[0].ns, a.pods[0].ip, b.pods[0].ns, 4 * MiB);
    expect(t.receivedSha256).toBe(t.sentSha256);
    // Nothing went through the TUN: the datapath sent and received no packet for the peer.
    const c = await daemons.get(a.name)!.counters();
    expect(c.peers.reduce((sum, p) => sum + p.txPackets + p.rxPackets, 0)).toBe(0);
  });

  it('a Node deleted from the API takes its direct route with it', async () => {
    const d = daemons.get(a.name)!;
    const from = d.logs.length;
    api.deleteNode(b.name);
    await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 1, BOUND_MS, from);
    await d.waitForLog((l) => l.msg === 'direct routes removed', BOUND_MS, from);
    expect(await directRoutes(a)).toEqual([]);
  });
});
