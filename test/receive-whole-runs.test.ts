// A vxroute peer's stream reaches the receiving pod's TUN whole: the runs its sender cut (UDP GSO,
// `--send-path cut`) arrive as UDP GRO buffers of one TCP flow and are written as one GSO packet
// each, gathered from the receive area, and its tunnel-GSO frames (the default send) arrive as
// TSO packets and go whole too; held runs and frames of one flow in a batch join one write. Bulk
// TCP stays intact over both underlays (sha256 at the receiving pod), and a denied stream is
// dropped and counted segment by segment (docs/decisions.md, "Receive: a vxroute peer's run …").
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import { tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { expectDeniedPerSegmentThenWhole } from './denied-stream.js';
import { replacePolicies } from './policy-changes.js';

const MiB = 1 << 20;
const WAIT = { timeout: 20_000, interval: 200 };

/** The receiving daemon's counts: TSO packets and runs written whole, TUN writes, segments received from peers. */
async function counts(daemon: VxrouteProcess): Promise<{ wholeWrites: number; tunWrites: number; rxPackets: number }> {
  const c = await daemon.counters();
  const sum = (f: (w: (typeof c.workers)[number]) => number) => c.workers.reduce((a, w) => a + f(w), 0);
  return { wholeWrites: sum((w) => w.wholeTsoWrites), tunWrites: sum((w) => w.tunWrites), rxPackets: c.peers.reduce((a, p) => a + p.rxPackets, 0) };
}

describe('vxroute → vxroute bulk TCP, written to the TUN whole (root, namespaces)', () => {
  let lab: Lab;
  let receiver: LabNode;
  let cutSender: LabNode;
  let tunnelSender: LabNode;
  let daemon: VxrouteProcess;

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    receiver = await lab.addNode('vxroute', 1, { txOffload: true });
    cutSender = await lab.addNode('vxroute', 1, { txOffload: true });
    tunnelSender = await lab.addNode('vxroute', 1, { txOffload: true });
    const subnets = await lab.writeSubnets();
    daemon = await lab.startVxroute(receiver, subnets, ['--workers', '1']);
    await lab.startVxroute(cutSender, subnets, ['--workers', '1', '--send-path', 'cut']);
    await lab.startVxroute(tunnelSender, subnets, ['--workers', '1']);
    await lab.ipv6Settled();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it.each([
    ['UDP GSO runs', 4],
    ['UDP GSO runs', 6],
    ['tunnel-GSO frames', 4],
    ['tunnel-GSO frames', 6],
  ] as const)('carries 8 MiB sent as %s over IPv%i intact, most of it in whole writes of many segments each', async (sent, family) => {
    const sender = sent === 'UDP GSO runs' ? cutSender : tunnelSender;
    const before = await counts(daemon);
    const server = receiver.pods[0];
    const t = await tcpTransfer(server.ns, family === 4 ? server.ip : server.ip6, sender.pods[0].ns, 8 * MiB);
    expect(t.receivedBytes).toBe(8 * MiB);
    expect(t.receivedSha256).toBe(t.sentSha256);
    const after = await counts(daemon);
    const segments = after.rxPackets - before.rxPackets;
    expect(segments).toBeGreaterThanOrEqual(8 * MiB / 1500);
    // Before, a run was cut into a slot per datagram and never written whole (0 here for UDP GSO runs).
    expect(after.wholeWrites - before.wholeWrites).toBeGreaterThan(8 * MiB / 65_536 / 4);
    expect(after.tunWrites - before.tunWrites).toBeLessThan(segments / 4);
  });

  it('drops nothing as malformed or oversize', async () => {
    const { drops } = await daemon.counters();
    expect(drops.oversize_datagram + drops.truncated + drops.malformed_inner).toBe(0);
  });
});

describe('NetworkPolicy over a vxroute peer’s runs left whole (root, namespaces)', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let nodes: LabNode[];
  const daemons: VxrouteProcess[] = [];
  const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ metadata: { namespace: 'x', name }, spec });
  const DENY_INGRESS = policy('deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
  const ALLOW_B_TO_A = policy('allow-b-to-a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] });
  // Only node a judges: node b would drop a denied stream before it leaves (the destination's ingress).
  const setPolicies = (...policies: KubeObject[]): Promise<void> => replacePolicies(api, daemons.slice(0, 1), policies, WAIT);

  beforeAll(async () => {
    lab = await Lab.create();
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
    const netConf = await lab.writeNetConf();
    // Node b sends its pod's TSO reads cut into UDP GSO runs, which reach node a as GRO buffers,
    // and enforces no policy, so that node a is the one that judges them.
    daemons.push(await lab.startVxrouteKube(nodes[0], kubeconfig, netConf, ['--workers', '1']));
    daemons.push(await lab.startVxrouteKube(nodes[1], kubeconfig, netConf, ['--workers', '1', '--send-path', 'cut', '--no-network-policy']));
    for (const d of daemons) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 20_000);
    await vi.waitFor(async () => expect((await tryInNs(nodes[0].pods[0].ns, 'ss', ['-Hltn', 'sport = :82'])).stdout).toMatch(/LISTEN/), WAIT);
  });
  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  it('drops a denied stream of runs, counting each segment, and carries it whole once allowed', async () => {
    // Node b's first window leaves as runs of several segments, each arriving as one GRO buffer.
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
