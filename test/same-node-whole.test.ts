// With NetworkPolicy on (`--kube`), a pod's TSO packet stays whole from the TUN read: to a pod of
// the same node (steered up the TUN, judged, written back down) it goes back as ONE GSO write from
// the read's area, and to a pod of another node as ONE tunnel-GSO frame. Bulk TCP between two pods
// of one node arrives intact over IPv4 and IPv6 with whole writes counted (`wholeHairpinWrites`,
// `/metrics`) and nothing dropped, a trace running or not (it shows the first segment and the
// segments it stood for); a denied stream is dropped and counted segment by segment, and carried
// with whole writes once allowed (docs/decisions.md, "Same-node TSO packets go back whole").
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode, type Pod } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import { tcpTransfer } from '../src/lab/traffic.js';
import { spawnCli } from '../src/lab/vxroute-cli.js';
import type { TraceRecord } from '../src/metrics/trace-decode.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { expectDeniedPerSegmentThenWhole } from './denied-stream.js';
import { replacePolicies } from './policy-changes.js';

const MiB = 1 << 20;
const BYTES = 8 * MiB;
const WAIT = { timeout: 20_000, interval: 200 };

const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ metadata: { namespace: 'x', name }, spec });
const DENY_INGRESS = policy('deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
// Pod a may reach every pod (b on its node, c on the other); nothing else may.
const ALLOW_FROM_A = policy('allow-from-a', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }] }] });

describe('TSO packets kept whole with NetworkPolicy on (root, namespaces)', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let ours: LabNode;
  let other: LabNode;
  let daemon: VxrouteProcess;
  let a: Pod;
  let b: Pod;
  let c: Pod;
  const daemons: VxrouteProcess[] = [];
  const setPolicies = (...policies: KubeObject[]): Promise<void> => replacePolicies(api, daemons, policies, WAIT);

  /** Our daemon's counts: whole same-node writes, TSO packets read, TUN writes, the drops but the kernel's own multicast. */
  async function counts(): Promise<{ wholeHairpin: number; tso: number; tunWrites: number; denied: number; drops: [string, number][] }> {
    const c = await daemon.counters();
    const sum = (f: (w: (typeof c.workers)[number]) => number) => c.workers.reduce((acc, w) => acc + f(w), 0);
    return {
      wholeHairpin: sum((w) => w.wholeHairpinWrites),
      tso: sum((w) => w.tsoPackets),
      tunWrites: sum((w) => w.tunWrites),
      denied: c.drops.policy_denied_ingress,
      drops: Object.entries(c.drops).filter(([reason, n]) => n > 0 && reason !== 'multicast'),
    };
  }

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    api = new KubeApiServer();
    const kubeconfig = await lab.addApiServer(api);
    ours = await lab.addNode('vxroute', 2);
    other = await lab.addNode('vxroute', 1);
    for (const n of [ours, other]) {
      api.upsertNode({
        metadata: { name: n.name },
        spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR, n.podCIDRv6] },
        status: { addresses: [{ type: 'InternalIP', address: n.publicIP }, { type: 'InternalIP', address: n.publicIPv6 }] },
      });
    }
    api.upsertNamespace({ metadata: { name: 'x' } });
    [a, b, c] = [ours.pods[0], ours.pods[1], other.pods[0]];
    for (const [name, pod, node] of [['a', a, ours], ['b', b, ours], ['c', c, other]] as const) {
      api.upsertPod({
        metadata: { namespace: 'x', name, labels: { pod: name } },
        spec: { nodeName: node.name, containers: [{ name: 'server', ports: [{ containerPort: 82 }] }] },
        status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }, { ip: pod.ip6 }] },
      });
    }
    const netConf = await lab.writeNetConf();
    daemon = await lab.startVxrouteKube(ours, kubeconfig, netConf, ['--workers', '1']);
    daemons.push(daemon, await lab.startVxrouteKube(other, kubeconfig, netConf, ['--workers', '1']));
    await daemon.waitForLog((l) => l.msg === 'traffic between our pods steered through the network policy', 20_000);
    for (const d of daemons) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 20_000);
    await lab.ipv6Settled();
    await setPolicies(DENY_INGRESS, ALLOW_FROM_A);
  });
  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  it.each([4, 6] as const)('carries 8 MiB between two pods of the node over IPv%i intact, in whole writes back to the TUN', async (family) => {
    const before = await counts();
    const t = await tcpTransfer(b.ns, family === 4 ? b.ip : b.ip6, a.ns, BYTES);
    expect(t.receivedBytes).toBe(BYTES);
    expect(t.receivedSha256).toBe(t.sentSha256);
    const after = await counts();
    // Each TSO packet read whole goes back as one GSO write (0 before: they were cut into slots).
    expect(after.wholeHairpin - before.wholeHairpin).toBeGreaterThan(BYTES / 65_536 / 4);
    expect(after.tunWrites - before.tunWrites).toBeLessThan(BYTES / 1_500 / 4);
    expect(after.drops).toEqual([]);
    const metric = (await daemon.get('/metrics')).body.split('\n').find((l) => l.startsWith('vxroute_tun_whole_hairpin_writes_total{worker="0"}'));
    expect(Number(metric?.split(' ').at(-1))).toBeGreaterThanOrEqual(after.wholeHairpin);
  });

  it.each([4, 6] as const)('sends 8 MiB to a pod of another node over IPv%i as whole tunnel-GSO frames, intact', async (family) => {
    const frames = async () => (await daemon.counters()).udp.reduce((acc, f) => ({ whole: acc.whole + (f.tunnelGso?.wholeFrames ?? 0), cut: acc.cut + (f.tunnelGso?.wholeCut ?? 0) }), { whole: 0, cut: 0 });
    const before = await frames();
    const t = await tcpTransfer(c.ns, family === 4 ? c.ip : c.ip6, a.ns, BYTES);
    expect(t.receivedBytes).toBe(BYTES);
    expect(t.receivedSha256).toBe(t.sentSha256);
    const after = await frames();
    expect(after.whole - before.whole).toBeGreaterThan(BYTES / 65_536 / 4);
    expect(after.cut - before.cut).toBe(0);
    expect((await counts()).drops).toEqual([]);
  });

  it('keeps packets whole while a trace runs, which shows their first segment and the segments they stood for', async () => {
    const trace = spawnCli(ours.ns, ['trace', '--addr', daemon.metricsAddr, '--count', '100000', '--json']);
    lab.onDispose(() => trace.kill('SIGKILL'));
    let out = '';
    trace.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const closed = new Promise((resolve) => trace.once('close', resolve));
    // The trace is on once it shows a packet.
    await vi.waitFor(async () => {
      await tryInNs(a.ns, 'ping', ['-c', '1', '-W', '1', b.ip]);
      expect(out).not.toBe('');
    }, WAIT);
    const before = await counts();
    const t = await tcpTransfer(b.ns, b.ip, a.ns, BYTES);
    trace.kill('SIGINT');
    await closed;
    expect(t.receivedSha256).toBe(t.sentSha256);
    const after = await counts();
    expect(after.wholeHairpin - before.wholeHairpin).toBeGreaterThan(BYTES / 65_536 / 4);
    expect(after.drops).toEqual([]);
    const whole = out.trim().split('\n').map((l) => JSON.parse(l) as TraceRecord).filter((r) => (r.segments ?? 1) > 1);
    expect(whole.length).toBeGreaterThan(0);
    for (const r of whole) {
      expect(r.inner?.protocol).toBe(6);
      expect(r.inner!.length).toBe(r.length); // the first segment's, not the whole's
      expect(r.length).toBeLessThanOrEqual(1500);
    }
  });

  it('drops a denied same-node stream, counting each segment, and writes it whole once allowed', async () => {
    const echo = spawn('ip', ['netns', 'exec', b.ns, 'socat', 'TCP-LISTEN:82,fork,reuseaddr', 'EXEC:cat'], { stdio: 'ignore', detached: true });
    lab.onDispose(() => process.kill(-echo.pid!, 'SIGKILL'));
    await vi.waitFor(async () => expect((await tryInNs(b.ns, 'ss', ['-Hltn', 'sport = :82'])).stdout).toMatch(/LISTEN/), WAIT);
    // Pod a's first window leaves as TSO packets of several segments, each read whole into one slot.
    await expectDeniedPerSegmentThenWhole({
      lab,
      clientNs: a.ns,
      server: `${b.ip}:82`,
      allow: () => setPolicies(DENY_INGRESS, ALLOW_FROM_A),
      deny: () => setPolicies(DENY_INGRESS),
      held: async () => (await counts()).tso,
      denied: async () => (await counts()).denied,
      wholeWrites: async () => (await counts()).wholeHairpin,
      noWholeWritesWhileDenied: true,
      wait: WAIT,
    });
  });
});
