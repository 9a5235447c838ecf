// What NetworkPolicy costs traffic between two pods of one vxroute node: with the policy off
// (--no-network-policy) cni0 switches their frames; with it on they go up vxroute's TUN and back
// (src/net/same-node-steering.ts). Same lab, same pods, the cases alternating round by round;
// reported as ratios policy-on / bridge, and with --before-cli the policy-on rows of an older
// build too (this / before, per round). Under policy on, one policy selects the server pod and
// allows the client: every connection's first packet is decided, the rest found in conntrack.
// Per TCP run also the daemon's CPU (user + system s per Gbit) and the TSO packets it wrote back
// to the TUN whole (this build; a build before the hairpin's whole writes shows none).
//   npm run bench:same-node -- [--rounds 3] [--seconds 5] [--family 4|6] [--before-cli DIR/dist/src/cli/main.js]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iperf, median } from '../src/lab/iperf.js';
import { KubeApiServer } from '../src/lab/kube-api-server.js';
import { Lab } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import { cpuTicks, TICK_S } from './bulk-cpu.js';
import { buildTcpRr, tcpRr } from './tcp-rr.js';
import { benchFlags, oneOf, text, whole } from './bench-options.js';

const values = benchFlags({
  module: import.meta.url,
  flags: {
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 3 }),
    seconds: whole('length of each TCP and TCP_RR run', { min: 1, max: 3600, default: 5 }, 'S'),
    family: oneOf('the pods\' IP version', ['4', '6'], '4'),
    'before-cli': text("adds the policy-on rows of the before build, running that build's CLI", 'PATH', undefined, 'this build only'),
  },
});
const { rounds, seconds } = values;
const family = values.family === '6' ? 6 : 4;
const beforeCli = values['before-cli'];

async function pingP50Ms(ns: string, dst: string): Promise<number> {
  const r = await tryInNs(ns, 'ping', ['-n', '-c', '500', '-i', '0.002', '-W', '2', dst], 120_000);
  return median([...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])));
}

async function loadAverage(): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

interface Row {
  tcpMbps: number;
  /** The daemon's user + system CPU seconds per Gbit of the TCP run (0 on the bridge: no daemon on the path). */
  cpuPerGbit: number;
  /** TSO packets written back to the TUN whole during the TCP run. */
  wholeWrites: number;
  rrPerS: number;
  rrP50Us: number;
  pingP50Ms: number;
}

type Kind = 'bridge' | 'before' | 'policy';
const KINDS: Kind[] = beforeCli ? ['bridge', 'before', 'policy'] : ['bridge', 'policy'];

const scratch = await mkdtemp(join(tmpdir(), 'vxr-same-node-'));
// The lab's API server listens on the IPv4 underlay; IPv6 pods need the node's IPv6 InternalIP too.
const lab = await Lab.create({ underlay: family === 4 ? [4] : [4, 6], pods: [family] });
const api = new KubeApiServer();
try {
  const binary = await buildTcpRr(scratch);
  const kubeconfig = await lab.addApiServer(api);
  const node = await lab.addNode('vxroute', 2);
  const cidrs = family === 4 ? [node.podCIDR] : [node.podCIDRv6];
  const addresses = (family === 4 ? [node.publicIP] : [node.publicIP, node.publicIPv6]).map((address) => ({ type: 'InternalIP', address }));
  api.upsertNode({ metadata: { name: node.name }, spec: { podCIDR: cidrs[0], podCIDRs: cidrs }, status: { addresses } });
  api.upsertNamespace({ metadata: { name: 'x' } });
  const [client, server] = node.pods;
  const ipOf = (pod: typeof client) => (family === 4 ? pod.ip : pod.ip6);
  for (const [name, pod] of [['client', client], ['server', server]] as const) {
    api.upsertPod({ metadata: { namespace: 'x', name, labels: { pod: name } }, spec: { nodeName: node.name, containers: [{ name }] }, status: { phase: 'Running', podIP: ipOf(pod), podIPs: [{ ip: ipOf(pod) }] } });
  }
  api.upsertNetworkPolicy({
    metadata: { namespace: 'x', name: 'server-from-client' },
    spec: { podSelector: { matchLabels: { pod: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'client' } } }] }] },
  });
  const netConf = await lab.writeNetConf();
  const target = { ns: server.ns, ip: ipOf(server) };

  const loadBefore = await loadAverage();
  const rows: Record<Kind, Row[]> = { bridge: [], before: [], policy: [] };
  for (let round = 0; round < rounds; round++) {
    for (const kind of KINDS) {
      const args = ['--workers', '1', ...(kind === 'bridge' ? ['--no-network-policy'] : [])];
      const daemon = await lab.startVxrouteKube(node, kubeconfig, netConf, args, { cli: kind === 'before' ? beforeCli : undefined });
      if (kind !== 'bridge') await daemon.waitForLog((l) => l.msg === 'traffic between our pods steered through the network policy', 30_000);
      await pingP50Ms(client.ns, target.ip); // warm-up: JIT, neighbours
      const whole = async () => (await daemon.counters()).workers.reduce((acc, w) => acc + (w.wholeHairpinWrites ?? 0), 0);
      const [cpu0, whole0] = [await cpuTicks([daemon.pid]), await whole()];
      const tcpMbps = await iperf(target, client, seconds);
      const [cpu1, whole1] = [await cpuTicks([daemon.pid]), await whole()];
      const rr = await tcpRr(binary, target, client.ns, seconds);
      const row: Row = {
        tcpMbps,
        cpuPerGbit: kind === 'bridge' ? 0 : ((cpu1.user + cpu1.system - cpu0.user - cpu0.system) * TICK_S) / ((tcpMbps * seconds) / 1000),
        wholeWrites: whole1 - whole0,
        rrPerS: rr.transactionsPerS,
        rrP50Us: rr.p50Us,
        pingP50Ms: await pingP50Ms(client.ns, target.ip),
      };
      if (kind !== 'bridge') {
        const { drops } = await daemon.counters();
        if (drops.policy_denied_ingress + drops.policy_denied_egress > 0) throw new Error('the policy denied benchmark traffic');
      }
      rows[kind].push(row);
      await daemon.stop();
      process.stdout.write(`round ${round + 1} ${kind.padEnd(6)} TCP ${row.tcpMbps.toFixed(0)} Mbit/s (${row.cpuPerGbit.toFixed(3)} CPU s/Gbit, ${row.wholeWrites} whole writes), TCP_RR ${row.rrPerS.toFixed(0)}/s (p50 ${row.rrP50Us} µs), ping p50 ${row.pingP50Ms.toFixed(3)} ms\n`);
    }
  }
  const med = (kind: Kind, key: keyof Row) => median(rows[kind].map((r) => r[key]));
  process.stdout.write(`\nsame-node pod to pod, IPv${family}, medians of ${rounds} interleaved rounds of ${seconds} s (policy on through vxroute / policy off on the bridge); load average ${loadBefore} → ${await loadAverage()}:\n`);
  const labels = [['TCP 1 stream throughput', 'tcpMbps'], ['daemon CPU s per Gbit', 'cpuPerGbit'], ['TSO packets written whole', 'wholeWrites'], ['TCP_RR transactions/s', 'rrPerS'], ['TCP_RR p50 latency', 'rrP50Us'], ['ping p50 RTT', 'pingP50Ms']] as const;
  for (const [label, key] of labels) {
    const digits = key === 'pingP50Ms' || key === 'cpuPerGbit' ? 3 : 0;
    const cell = (kind: Kind) => `${kind} ${med(kind, key).toFixed(digits).padStart(8)}`;
    const bridge = med('bridge', key);
    process.stdout.write(`  ${label.padEnd(26)} ${KINDS.map(cell).join('  ')}${bridge > 0 ? `  policy/bridge ${(med('policy', key) / bridge).toFixed(2)}` : ''}\n`);
  }
  if (beforeCli) {
    // Same-round ratios: the two builds ran back to back under the same load.
    process.stdout.write('\nthis / before, per round:\n');
    for (const [label, key] of labels.filter(([, k]) => k !== 'wholeWrites')) {
      const ratios = rows.policy.map((r, i) => r[key] / rows.before[i][key]);
      process.stdout.write(`  ${label.padEnd(26)} ${ratios.map((x) => x.toFixed(2)).join(', ')}  (median ${median(ratios).toFixed(2)})\n`);
    }
  }
} finally {
  await lab.dispose();
  await api.close();
  await rm(scratch, { recursive: true, force: true });
}
