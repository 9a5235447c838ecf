// Switch mode receives whole, as router mode does: a kernel VXLAN switch node's TSO packet, a
// vxroute switch node's tunnel-GSO frame and its UDP GSO run (`--send-path cut`, a UDP GRO
// buffer here) reach the TAP as ONE Ethernet frame behind a virtio_net_hdr asking for
// segmentation, gathered from the socket's receive area after the ingress checks ran on the first
// segment's frame; held packets of one flow join one write. One Ethernet segment over the IPv4
// underlay, underlay veths with tx offload on (so TSO packets cross unsegmented); 8 MiB of inner
// IPv4 and IPv6 TCP intact (sha256 at the receiving pod); a denied stream dropped by the frame
// policy, counted segment by segment (docs/decisions.md, "Switch mode receives whole").
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import { tcpTransfer } from '../src/lab/traffic.js';
import { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { expectDeniedPerSegmentThenWhole } from './denied-stream.js';
import { replacePolicies } from './policy-changes.js';

const MiB = 1 << 20;
const BYTES = 8 * MiB;
const WAIT = { timeout: 30_000, interval: 200 };

/** The receiving daemon's counts: TSO packets and runs written whole, TAP writes, segments received from peers. */
async function counts(daemon: VxrouteProcess): Promise<{ wholeWrites: number; tapWrites: number; rxPackets: number }> {
  const c = await daemon.counters();
  const sum = (f: (w: (typeof c.workers)[number]) => number) => c.workers.reduce((a, w) => a + f(w), 0);
  return { wholeWrites: sum((w) => w.wholeTsoWrites), tapWrites: sum((w) => w.tunWrites), rxPackets: c.peers.reduce((a, p) => a + p.rxPackets, 0) };
}

describe('switch mode: bulk TCP from peers written to the TAP whole (root, namespaces)', () => {
  let lab: Lab;
  let receiver: LabNode;
  let kernel: LabNode;
  let tunnelSender: LabNode;
  let cutSender: LabNode;
  let daemon: VxrouteProcess;

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4], pods: [4, 6], segment: true });
    receiver = await lab.addNode('vxroute', 1, { txOffload: true });
    kernel = await lab.addNode('kernel', 1, { txOffload: true });
    tunnelSender = await lab.addNode('vxroute', 1, { txOffload: true });
    cutSender = await lab.addNode('vxroute', 1, { txOffload: true });
    await lab.programKernelPeers();
    const subnets = await lab.writeSubnets();
    const args = ['--mode', 'switch', '--workers', '1'];
    daemon = await lab.startVxroute(receiver, subnets, args);
    await lab.startVxroute(tunnelSender, subnets, args);
    await lab.startVxroute(cutSender, subnets, [...args, '--send-path', 'cut']);
    await lab.ipv6Settled();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it.each([
    ['a kernel VXLAN switch node (TSO packets)', 4],
    ['a kernel VXLAN switch node (TSO packets)', 6],
    ['a vxroute switch node (tunnel-GSO frames)', 4],
    ['a vxroute switch node (tunnel-GSO frames)', 6],
    ['a vxroute switch node (UDP GSO runs)', 4],
    ['a vxroute switch node (UDP GSO runs)', 6],
  ] as const)('carries 8 MiB from %s, inner IPv%i, intact, most of it in whole TAP writes', async (from, inner) => {
    const sender = from.startsWith('a kernel') ? kernel : from.endsWith('(UDP GSO runs)') ? cutSender : tunnelSender;
    const before = await counts(daemon);
    const server = receiver.pods[0];
    const t = await tcpTransfer(server.ns, inner === 4 ? server.ip : server.ip6, sender.pods[0].ns, BYTES);
    expect(t.receivedBytes).toBe(BYTES);
    expect(t.receivedSha256).toBe(t.sentSha256);
    const after = await counts(daemon);
    const segments = after.rxPackets - before.rxPackets;
    expect(segments).toBeGreaterThanOrEqual(BYTES / 1500);
    // Before, every message was cut into a slot per segment and none written whole (0 here).
    expect(after.wholeWrites - before.wholeWrites).toBeGreaterThan(BYTES / 65_536 / 4);
    expect(after.tapWrites - before.tapWrites).toBeLessThan(segments / 4);
  });

  it('drops nothing on the way', async () => {
    const { drops } = await daemon.counters();
    expect(Object.entries(drops).filter(([, n]) => n > 0)).toEqual([]);
  });
});

describe('switch mode: NetworkPolicy over TSO packets and runs left whole (root, namespaces)', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let nodes: LabNode[];
  const daemons: VxrouteProcess[] = [];
  const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ metadata: { namespace: 'x', name }, spec });
  const DENY_INGRESS = policy('deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
  const ALLOW_B_TO_A = policy('allow-b-to-a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] });
  // Only node a judges: node b enforces nothing, so the denied stream leaves it.
  const setPolicies = (...policies: KubeObject[]): Promise<void> => replacePolicies(api, daemons.slice(0, 1), policies, WAIT);

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4], pods: [4], segment: true });
    api = new KubeApiServer();
    const kubeconfig = await lab.addApiServer(api);
    nodes = [await lab.addNode('vxroute', 1, { txOffload: true }), await lab.addNode('vxroute', 1, { txOffload: true })];
    for (const n of nodes) {
      api.upsertNode({ metadata: { name: n.name }, spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: n.publicIP }] } });
    }
    api.upsertNamespace({ metadata: { name: 'x', labels: { team: 'x' } } });
    ['a', 'b'].forEach((name, i) => {
      const pod = nodes[i].pods[0];
      api.upsertPod({
        metadata: { namespace: 'x', name, labels: { pod: name } },
        spec: { nodeName: nodes[i].name, containers: [{ name: 'server', ports: [{ name: 'echo', containerPort: 82 }] }] },
        status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }] },
      });
    });
    // Its own process group: socat forks a child per connection, which a kill of the listener alone would leave running.
    const echo = spawn('ip', ['netns', 'exec', nodes[0].pods[0].ns, 'socat', 'TCP-LISTEN:82,fork,reuseaddr', 'EXEC:cat'], { stdio: 'ignore', detached: true });
    lab.onDispose(() => process.kill(-echo.pid!, 'SIGKILL'));
    const netConf = join(lab.dir, 'switch-net-conf.json');
    await writeFile(netConf, `${JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } })}\n`);
    const run = (n: LabNode, extra: string[]) => {
      const d = VxrouteProcess.spawn(n.ns, ['run', '--node-name', n.name, '--mode', 'switch', '--kube', '--kubeconfig', kubeconfig, '--net-conf', netConf, '--workers', '1', ...extra]);
      lab.onDispose(() => d.kill());
      daemons.push(d);
    };
    run(nodes[0], []);
    run(nodes[1], ['--no-network-policy']);
    for (const d of daemons) {
      await d.waitUntilReady();
      await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 20_000);
    }
    await vi.waitFor(async () => expect((await tryInNs(nodes[0].pods[0].ns, 'ss', ['-Hltn', 'sport = :82'])).stdout).toMatch(/LISTEN/), WAIT);
  });
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop().catch(() => d.kill())));
    await lab?.dispose();
    await api?.close();
  });

  it('drops a denied stream, counting each segment a whole slot stands for, and carries it whole once allowed', async () => {
    // Node b's first window leaves as tunnel-GSO frames of several segments, each arriving whole.
    await expectDeniedPerSegmentThenWhole({
      lab,
      clientNs: nodes[1].pods[0].ns,
      server: `${nodes[0].pods[0].ip}:82`,
      allow: () => setPolicies(DENY_INGRESS, ALLOW_B_TO_A),
      deny: () => setPolicies(DENY_INGRESS),
      judge: daemons[0],
      wholeWrites: async () => (await counts(daemons[0])).wholeWrites,
      wait: WAIT,
    });
  });
});
