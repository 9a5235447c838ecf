// The API server of a two-node NetworkPolicy bench: both nodes with their pod CIDRs and underlay
// addresses, and the measured world (policy-world.ts) with the client pod on `a` and the server
// pod on `b`. The benches that compare the policy on and off start their daemons against it.
import { KubeApiServer } from './kube-api-server.js';
import type { Lab, LabNode } from './lab.js';
import { loadMeasuredWorld, type MeasuredPorts, type WorldSize } from './policy-world.js';

export interface PolicyBenchApi {
  server: KubeApiServer;
  kubeconfig: string;
  netConf: string;
}

/** Serves the pair's world from a new API server, closed with the lab. */
export async function servePolicyBench(lab: Lab, a: LabNode, b: LabNode, world: WorldSize, ports: MeasuredPorts): Promise<PolicyBenchApi> {
  const server = new KubeApiServer();
  lab.onDispose(() => void server.close());
  const kubeconfig = await lab.addApiServer(server);
  for (const n of [a, b]) {
    server.upsertNode({ metadata: { name: n.name }, spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: n.publicIP }] } });
  }
  loadMeasuredWorld(server, world, { node: a.name, ip: a.pods[0]!.ip }, { node: b.name, ip: b.pods[0]!.ip }, ports);
  return { server, kubeconfig, netConf: await lab.writeNetConf() };
}
