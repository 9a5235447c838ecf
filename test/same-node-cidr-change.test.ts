// Our node's pod CIDR changing while vxroute runs, with NetworkPolicy on (router mode): the host's
// steering and the shards' hairpin both follow it, without a restart. The node starts with
// 10.244.1.0/24; the API then gives it 10.244.50.0/24, two pods appear there on cni0 (as a CNI
// plugin would wire them from the new subnet), and traffic between them is judged by policy: an
// allowed pair passes, a denied one fails and is counted as policy_denied_ingress.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { replacePolicies } from './policy-changes.js';

const WAIT = { timeout: 20_000, interval: 200 };
const NEW_CIDR = '10.244.50.0/24';
const NEW_GATEWAY = '10.244.50.1';
type Name = 'a' | 'b';

const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ metadata: { namespace: 'x', name }, spec });
const DENY_INGRESS = policy('deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
const ALLOW_A_TO_B_80 = policy('allow-a-to-b', {
  podSelector: { matchLabels: { pod: 'b' } },
  ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
});

describe('our pod CIDR changing while vxroute runs, with NetworkPolicy on', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let node: LabNode;
  let daemon: VxrouteProcess;
  /** Pod namespaces and addresses in the new CIDR. */
  const pods = new Map<Name, { ns: string; ip: string }>();

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4], pods: [4] });
    api = new KubeApiServer();
    const kubeconfig = await lab.addApiServer(api);
    node = await lab.addNode('vxroute', 0);
    api.upsertNode({ metadata: { name: node.name }, spec: { podCIDR: node.podCIDR, podCIDRs: [node.podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: node.publicIP }] } });
    api.upsertNamespace({ metadata: { name: 'x' } });
    daemon = await lab.startVxrouteKube(node, kubeconfig, await lab.writeNetConf(), ['--workers', '2']);
    await daemon.waitForLog((l) => l.msg === 'traffic between our pods steered through the network policy' && l.podCIDR === node.podCIDR, 20_000);
  });

  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  /** A pod in the new CIDR, wired to cni0 as the bridge plugin would, serving TCP 80 and 81 with its name. */
  async function addPod(name: Name, k: number): Promise<void> {
    const ns = await lab.addPodNamespace(node, k);
    const ip = `10.244.50.${k + 2}`;
    await inNs(node.ns, 'ip', ['link', 'add', `vc${k}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await inNs(node.ns, 'ip', ['link', 'set', `vc${k}`, 'master', 'cni0', 'up']);
    await inNs(ns, 'ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await inNs(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    await inNs(ns, 'ip', ['route', 'add', 'default', 'via', NEW_GATEWAY]);
    for (const port of [80, 81]) {
      const server = spawn('ip', ['netns', 'exec', ns, 'socat', `TCP4-LISTEN:${port},fork,reuseaddr`, `SYSTEM:echo ${name}`], { stdio: 'ignore' });
      lab.onDispose(() => server.kill('SIGKILL'));
    }
    api.upsertPod({
      metadata: { namespace: 'x', name, labels: { pod: name } },
      spec: { nodeName: node.name, containers: [{ name: 'server', ports: [80, 81].map((p) => ({ containerPort: p })) }] },
      status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
    });
    pods.set(name, { ns, ip });
    await vi.waitFor(async () => expect((await tryInNs(ns, 'ss', ['-Hltn', 'sport = :81'])).stdout).toMatch(/LISTEN/), WAIT);
  }

  const deniedIngress = async (): Promise<number> => (await daemon.counters()).drops.policy_denied_ingress;

  /** One TCP connection from `from` to `to`'s port: the name it answers with, or undefined. */
  async function probe(from: Name, to: Name, port: number): Promise<string | undefined> {
    const r = await tryInNs(pods.get(from)!.ns, 'socat', ['-u', `TCP4:${pods.get(to)!.ip}:${port},connect-timeout=1`, '-'], 10_000);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async function expectDenied(from: Name, to: Name, port: number): Promise<void> {
    await vi.waitFor(async () => {
      const before = await deniedIngress();
      expect(await probe(from, to, port)).toBeUndefined();
      expect(await deniedIngress()).toBeGreaterThan(before);
    }, WAIT);
  }

  it('steers and judges traffic between two pods of the new CIDR, and no longer steers the old one', async () => {
    // The API moves our node; its announced annotations stay (the daemon wrote them).
    const before = api.getNode(node.name)!;
    api.upsertNode({ ...before, spec: { ...before.spec, podCIDR: NEW_CIDR, podCIDRs: [NEW_CIDR] } });
    await daemon.waitForLog((l) => l.msg === 'traffic between our pods steered through the network policy' && l.podCIDR === NEW_CIDR, 20_000);
    const nft = await inNs(node.ns, 'nft', ['list', 'table', 'bridge', 'vxroute_same_node']);
    expect(nft).toMatch(/ip daddr 10\.244\.50\.0\/24 counter/);
    expect(nft).not.toMatch(/10\.244\.1\.0\/24/);
    const rules = await inNs(node.ns, 'ip', ['-4', 'rule']);
    expect(rules).toMatch(/to 10\.244\.50\.0\/24 iif cni0 lookup 7800/);
    expect(rules).not.toMatch(/to 10\.244\.1\.0\/24/);

    // What the CNI plugin does for the new subnet: the bridge's gateway, then the pods.
    await inNs(node.ns, 'ip', ['addr', 'add', `${NEW_GATEWAY}/24`, 'dev', 'cni0']);
    await addPod('a', 0);
    await addPod('b', 1);
    await replacePolicies(api, [daemon], [DENY_INGRESS, ALLOW_A_TO_B_80], WAIT);

    await vi.waitFor(async () => expect(await probe('a', 'b', 80)).toBe('b'), WAIT);
    await expectDenied('a', 'b', 81);
    await expectDenied('b', 'a', 80);
    // The bridge sent them up to the TUN: the new CIDR's steering rule counted them.
    const counted = /ip daddr 10\.244\.50\.0\/24 counter packets (\d+)/.exec(await inNs(node.ns, 'nft', ['list', 'table', 'bridge', 'vxroute_same_node']));
    expect(Number(counted?.[1])).toBeGreaterThan(0);
  });
});
