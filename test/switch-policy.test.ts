// NetworkPolicy in switch mode, end to end in namespaces: the test API server and two nodes
// running `vxroute run --mode switch --kube` (ARP/ND proxy off, so that every resolution crosses
// the underlay and the policy stage), their cni0 bridges one Ethernet segment; pod x/a on n1 and
// x/b on n2, each serving TCP 80 and 81 over IPv4 and IPv6 (answering with its name). A denied probe must fail AND
// be counted as policy_denied by a daemon.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode, type Pod } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { ping } from '../src/lab/traffic.js';
import { spawnCli } from '../src/lab/vxroute-cli.js';
import { VxrouteProcess } from '../src/lab/vxroute-process.js';
import type { CounterSnapshot } from '../src/datapath/counter-snapshot.js';
import type { TraceRecord } from '../src/metrics/trace-decode.js';
import { replacePolicies } from './policy-changes.js';

const WAIT = { timeout: 30_000, interval: 200 };
type Name = 'a' | 'b';

const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ metadata: { namespace: 'x', name }, spec });
const DENY_ALL = policy('deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
const DENY_INGRESS = policy('deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
const allowIngress = (to: Name, from: Name, port: number): KubeObject =>
  policy(`allow-${from}-to-${to}`, {
    podSelector: { matchLabels: { pod: to } },
    ingress: [{ from: [{ podSelector: { matchLabels: { pod: from } } }], ports: [{ protocol: 'TCP', port }] }],
  });

describe('NetworkPolicy in switch mode, for frames between two vxroute nodes', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let nodes: LabNode[];
  const pods = new Map<Name, Pod>();
  const daemons: VxrouteProcess[] = [];

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4], pods: [4, 6], segment: true });
    api = new KubeApiServer();
    const kubeconfig = await lab.addApiServer(api);
    nodes = [await lab.addNode('vxroute'), await lab.addNode('vxroute')];
    for (const n of nodes) {
      api.upsertNode({ metadata: { name: n.name }, spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: n.publicIP }] } });
    }
    api.upsertNamespace({ metadata: { name: 'x' } });
    (['a', 'b'] as const).forEach((name, i) => {
      const pod = nodes[i].pods[0];
      pods.set(name, pod);
      api.upsertPod({
        metadata: { namespace: 'x', name, labels: { pod: name } },
        spec: { nodeName: nodes[i].name, containers: [{ name: 'server', ports: [80, 81].map((p) => ({ name: `serve-${p}-tcp`, containerPort: p })) }] },
        status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }, { ip: pod.ip6 }] },
      });
      for (const port of [80, 81]) serve(pod, port, `SYSTEM:echo ${name}`);
    });
    // The table needs only the nodes' IPv4 underlay: the pods' IPv6 addresses live on the segment.
    const netConf = join(lab.dir, 'switch-net-conf.json');
    await writeFile(netConf, `${JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } })}\n`);
    for (const n of nodes) {
      const d = VxrouteProcess.spawn(n.ns, ['run', '--node-name', n.name, '--mode', 'switch', '--no-arp-proxy', '--kube', '--kubeconfig', kubeconfig, '--net-conf', netConf, '--workers', '2']);
      lab.onDispose(() => d.kill());
      daemons.push(d);
    }
    for (const d of daemons) {
      await d.waitUntilReady();
      await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 20_000);
    }
    await lab.ipv6Settled();
    for (const pod of pods.values()) await vi.waitFor(async () => expect((await tryInNs(pod.ns, 'ss', ['-Hltn', 'sport = :81'])).stdout).toMatch(/LISTEN/), WAIT);
  });

  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop().catch(() => d.kill())));
    await lab?.dispose();
    await api?.close();
  });

  function serve(pod: Pod, port: number, answer: string): void {
    const server = spawn('ip', ['netns', 'exec', pod.ns, 'socat', `TCP6-LISTEN:${port},fork,reuseaddr`, answer], { stdio: 'ignore' });
    lab.onDispose(() => server.kill('SIGKILL'));
  }

  /** Replaces every policy with `policies`, waiting until the daemons compiled all these changes. */
  const setPolicies = (...policies: KubeObject[]): Promise<void> => replacePolicies(api, daemons, policies, WAIT);

  /** Policy drops on both nodes, read with socat (a node process per read costs seconds on a loaded machine). */
  async function denied(): Promise<number> {
    const counters = await Promise.all(nodes.map((n) => countersIn(n.ns)));
    return counters.reduce((sum, { drops }) => sum + drops.policy_denied_egress + drops.policy_denied_ingress, 0);
  }

  /** One TCP connection from `from` to `to`'s port (over IPv4, or IPv6 with `v6`): the name it answers with, or undefined. */
  async function probe(from: Name, to: Name, port: number, v6 = false): Promise<string | undefined> {
    const target = v6 ? `TCP6:[${pods.get(to)!.ip6}]` : `TCP:${pods.get(to)!.ip}`;
    const r = await tryInNs(pods.get(from)!.ns, 'socat', ['-u', `${target}:${port},connect-timeout=1`, '-'], 10_000);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async function expectReaches(from: Name, to: Name, port = 80, v6 = false): Promise<void> {
    await vi.waitFor(async () => expect(await probe(from, to, port, v6)).toBe(to), WAIT);
  }

  async function expectDenied(from: Name, to: Name, port = 80, v6 = false): Promise<void> {
    await vi.waitFor(async () => {
      const before = await denied();
      expect(await probe(from, to, port, v6)).toBeUndefined();
      expect(await denied()).toBeGreaterThan(before);
    }, WAIT);
  }

  it('lets the pods reach each other while no policy selects them, IPv4 and IPv6', async () => {
    await setPolicies();
    await expectReaches('a', 'b');
    await expectReaches('b', 'a');
    await expectReaches('a', 'b', 81, true);
    expect(await denied()).toBe(0);
  });

  it('denies and counts every connection under a default deny, IPv4 and IPv6', async () => {
    await setPolicies(DENY_INGRESS);
    await expectDenied('a', 'b');
    await expectDenied('b', 'a');
    await expectDenied('b', 'a', 81, true);
  });

  it('opens exactly the port an allow rule names, and its replies reach an ingress-isolated client', async () => {
    await setPolicies(DENY_INGRESS, allowIngress('b', 'a', 80));
    await expectReaches('a', 'b', 80); // a is isolated for ingress too: b's replies pass as part of a's connection
    await expectDenied('a', 'b', 81);
    await expectDenied('b', 'a', 80);
  });

  it('keeps ARP and neighbour discovery working across nodes under a deny of everything', async () => {
    await setPolicies(DENY_ALL);
    const a = pods.get('a')!;
    const b = pods.get('b')!;
    const bMac = JSON.parse(await inNs(b.ns, 'ip', ['-j', 'link', 'show', 'eth0']))[0].address as string;
    for (const [family, address] of [['-4', b.ip], ['-6', b.ip6]] as const) {
      await inNs(a.ns, 'ip', [family, 'neigh', 'flush', 'dev', 'eth0']);
      const before = await denied();
      expect((await ping(a.ns, address, 1, 0.2)).received).toBe(0); // the echo is denied…
      expect(await denied()).toBeGreaterThan(before);
      // …but the request that resolved b's address, and b's answer, crossed both nodes.
      await vi.waitFor(async () => expect(JSON.parse(await inNs(a.ns, 'ip', ['-j', family, 'neigh', 'show', address]))[0]?.lladdr).toBe(bMac), WAIT);
    }
  });

  it('shows the deciding policy in /metrics and vxroute trace', async () => {
    await setPolicies(DENY_INGRESS);
    // a's node judges b's ingress rules too (it knows every pod): the SYN goes no further than n1.
    const trace = spawnCli(nodes[0].ns, ['trace', '--drops-only', '--count', '1', '--json']);
    let out = '';
    trace.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    expect(await driveUntilExit(trace, () => probe('a', 'b', 80))).toBe(0);
    const record = JSON.parse(out.trim().split('\n')[0]) as TraceRecord;
    expect(record).toMatchObject({ direction: 'to-peer', verdict: 'dropped', reason: 'policy_denied_ingress', policyName: 'x/deny-ingress' });
    const metrics = (await daemons[0].get('/metrics')).body;
    expect(metrics).toMatch(/^vxroute_dropped_packets_total\{reason="policy_denied_ingress"\} [1-9]/m);
    expect(metrics).toMatch(/^vxroute_policy_new_flows_total\{direction="tun",verdict="denied"\} [1-9]/m);
  });
});

/** GET /debug/counters of the daemon in `ns` (its default --metrics-addr). */
function countersIn(ns: string): Promise<CounterSnapshot> {
  return new Promise((resolve, reject) => {
    const client = spawn('ip', ['netns', 'exec', ns, 'socat', '-t', '5', '-', 'TCP:127.0.0.1:9475'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let response = '';
    client.stdout.setEncoding('utf8').on('data', (d: string) => (response += d));
    client.on('error', reject);
    client.on('close', (code) => {
      const body = response.slice(response.indexOf('\r\n\r\n') + 4);
      if (code !== 0 || !response.startsWith('HTTP/1.1 200')) reject(new Error(`GET /debug/counters in ${ns}: exit ${code}, ${response.slice(0, 200)}`));
      else resolve(JSON.parse(body) as CounterSnapshot);
    });
    client.stdin.end('GET /debug/counters HTTP/1.0\r\n\r\n');
  });
}

/** Runs `step` (traffic) again and again until `child` exits; resolves with its exit code. */
async function driveUntilExit(child: ChildProcess, step: () => Promise<unknown>, maxSteps = 50): Promise<number | null> {
  let exit: { code: number | null } | undefined;
  const closed = new Promise<void>((resolve) =>
    child.once('close', (code: number | null) => {
      exit = { code };
      resolve();
    }),
  );
  for (let i = 0; i < maxSteps && exit === undefined; i++) await step();
  if (exit === undefined) child.kill('SIGKILL');
  await closed;
  return exit!.code;
}
