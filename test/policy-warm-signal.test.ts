// A daemon says when every worker's policy stage is warm (policy-warm-up.ts), which is what a bench
// waits for before its first round (VxrouteProcess.waitUntilWarm): with a first world that knows
// pods, once the warm-up at start is over; with one that knows none, only after every worker has
// run the sliced warm-up with the first world that does; with the policy off, never.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';

const WARM = 'network policy stage warm on every worker';

function registered(n: LabNode): KubeObject {
  return { metadata: { name: n.name }, spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: n.publicIP }] } };
}

function pod(n: LabNode, name: string, ip: string): KubeObject {
  return { metadata: { namespace: 'x', name, labels: { pod: name } }, spec: { nodeName: n.name, containers: [{ name: 'c' }] }, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } };
}

describe('the policy warm-up signal', () => {
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
    netConf = await lab.writeNetConf();
  });

  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  it('is logged only after every worker has warmed with the first world that knows pods', async () => {
    const d = await lab.startVxrouteKube(nodes[0], kubeconfig, netConf, ['--workers', '2']);
    await d.waitForLog((l) => l.msg === 'settled', 30_000);
    // No pod in the world yet: the warm-up at start had none to walk, so no worker is warm.
    expect(d.logs.some((l) => l.msg === WARM)).toBe(false);
    const from = d.logs.length;
    api.upsertPod(pod(nodes[0], 'a', '10.244.1.10'));
    try {
      const inForce = await d.waitForLog((l) => l.msg === 'network policy in force on every worker', 15_000, from);
      await d.waitUntilWarm(true, 30_000);
      expect(d.logs.findIndex((l) => l.msg === WARM)).toBeGreaterThan(d.logs.indexOf(inForce));
      expect(d.logs.filter((l) => l.msg === WARM)).toHaveLength(1);
    } finally {
      api.deletePod('x', 'a');
    }
    await d.stop();
  });

  it('is logged after the warm-up at start when the first world knows pods, and never with the policy off', async () => {
    api.upsertPod(pod(nodes[0], 'b', '10.244.1.11'));
    try {
      const on = await lab.startVxrouteKube(nodes[0], kubeconfig, netConf, ['--workers', '2']);
      await on.waitUntilWarm(true, 30_000);
      await on.stop();
    } finally {
      api.deletePod('x', 'b');
    }
    const off = await lab.startVxrouteKube(nodes[1], kubeconfig, netConf, ['--workers', '2', '--no-network-policy']);
    await off.waitUntilWarm(false, 30_000);
    expect(off.logs.some((l) => l.msg === WARM)).toBe(false);
    await off.stop();
  });
});
