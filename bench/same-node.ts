// What NetworkPolicy costs traffic between two pods of one vxroute node: with the policy off
// (--no-network-policy) cni0 switches their frames; with it on they go up vxroute's TUN and back
// (src/net/same-node-steering.ts). Same lab, same pods, the two alternating round by round;
// reported as ratios policy-on / bridge. Under policy on, one policy selects the server pod and
// allows the client: every connection's first packet is decided, the rest found in conntrack.
//   npm run bench:same-node -- [--rounds 3] [--seconds 5]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iperf, median } from '../src/lab/iperf.js';
import { KubeApiServer } from '../src/lab/kube-api-server.js';
import { Lab } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import { buildTcpRr, tcpRr } from './tcp-rr.js';
import { benchFlags, whole } from './bench-options.js';

const { rounds, seconds } = benchFlags({
  module: import.meta.url,
  flags: {
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 3 }),
    seconds: whole('length of each TCP and TCP_RR run', { min: 1, max: 3600, default: 5 }, 'S'),
  },
});

async function pingP50Ms(ns: string, dst: string): Promise<number> {
  const r = await tryInNs(ns, 'ping', ['-n', '-c', '500', '-i', '0.002', '-W', '2', dst], 120_000);
  return median([...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])));
}

interface Row {
  tcpMbps: number;
  rrPerS: number;
  rrP50Us: number;
  pingP50Ms: number;
}

const scratch = await mkdtemp(join(tmpdir(), 'vxr-same-node-'));
const lab = await Lab.create();
const api = new KubeApiServer();
try {
  const binary = await buildTcpRr(scratch);
  const kubeconfig = await lab.addApiServer(api);
  const node = await lab.addNode('vxroute', 2);
  api.upsertNode({ metadata: { name: node.name }, spec: { podCIDR: node.podCIDR }, status: { addresses: [{ type: 'InternalIP', address: node.publicIP }] } });
  api.upsertNamespace({ metadata: { name: 'x' } });
  const [client, server] = node.pods;
  for (const [name, pod] of [['client', client], ['server', server]] as const) {
    api.upsertPod({ metadata: { namespace: 'x', name, labels: { pod: name } }, spec: { nodeName: node.name, containers: [{ name }] }, status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }] } });
  }
  api.upsertNetworkPolicy({
    metadata: { namespace: 'x', name: 'server-from-client' },
    spec: { podSelector: { matchLabels: { pod: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'client' } } }] }] },
  });
  const netConf = await lab.writeNetConf();

  const rows: Record<'bridge' | 'policy', Row[]> = { bridge: [], policy: [] };
  for (let round = 0; round < rounds; round++) {
    for (const kind of ['bridge', 'policy'] as const) {
      const daemon = await lab.startVxrouteKube(node, kubeconfig, netConf, ['--workers', '1', ...(kind === 'bridge' ? ['--no-network-policy'] : [])]);
      if (kind === 'policy') await daemon.waitForLog((l) => l.msg === 'traffic between our pods steered through the network policy', 30_000);
      await pingP50Ms(client.ns, server.ip); // warm-up: JIT, neighbours
      const tcpMbps = await iperf(server, client, seconds);
      const rr = await tcpRr(binary, server, client.ns, seconds);
      const row = { tcpMbps, rrPerS: rr.transactionsPerS, rrP50Us: rr.p50Us, pingP50Ms: await pingP50Ms(client.ns, server.ip) };
      if (kind === 'policy') {
        const { drops } = await daemon.counters();
        if (drops.policy_denied_ingress + drops.policy_denied_egress > 0) throw new Error('the policy denied benchmark traffic');
      }
      rows[kind].push(row);
      await daemon.stop();
      process.stdout.write(`round ${round + 1} ${kind.padEnd(6)} TCP ${row.tcpMbps.toFixed(0)} Mbit/s, TCP_RR ${row.rrPerS.toFixed(0)}/s (p50 ${row.rrP50Us} µs), ping p50 ${row.pingP50Ms.toFixed(3)} ms\n`);
    }
  }
  const med = (kind: 'bridge' | 'policy', key: keyof Row) => median(rows[kind].map((r) => r[key]));
  process.stdout.write(`\nsame-node pod to pod, medians of ${rounds} rounds (policy on through vxroute / policy off on the bridge), ${seconds} s each:\n`);
  for (const [label, key] of [['TCP 1 stream throughput', 'tcpMbps'], ['TCP_RR transactions/s', 'rrPerS'], ['TCP_RR p50 latency', 'rrP50Us'], ['ping p50 RTT', 'pingP50Ms']] as const) {
    process.stdout.write(`  ${label.padEnd(26)} bridge ${med('bridge', key).toFixed(key === 'pingP50Ms' ? 3 : 0).padStart(8)}  policy ${med('policy', key).toFixed(key === 'pingP50Ms' ? 3 : 0).padStart(8)}  ratio ${(med('policy', key) / med('bridge', key)).toFixed(2)}\n`);
  }
} finally {
  await lab.dispose();
  await api.close();
  await rm(scratch, { recursive: true, force: true });
}
