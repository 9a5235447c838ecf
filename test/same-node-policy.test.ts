// NetworkPolicy between two pods on the same vxroute node (router mode): their traffic, which
// cni0 would switch, is steered through the TUN and judged there (src/net/same-node-steering.ts).
// One dual-stack node with pods x/a and x/b serving TCP 80 and 81 (their names) on both families.
// A denied probe must fail AND be counted as policy_denied_ingress by the daemon. Once the daemon
// stops (and after kill -9, on the next start), the node's nft ruleset and ip rules are as before.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type KubeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode, type Pod } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { ping } from '../src/lab/traffic.js';
import { NAT_TABLE } from '../src/net/masquerade.js';
import { GUARD_TABLE } from '../src/net/pod-vxlan-guard.js';
import { TUNNEL_TABLE } from '../src/net/tunnel-gso-tap.js';
import { cliPath, type VxrouteProcess } from '../src/lab/vxroute-process.js';
import { replacePolicies } from './policy-changes.js';

const WAIT = { timeout: 20_000, interval: 200 };
type Name = 'a' | 'b';
type Family = 4 | 6;

const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ metadata: { namespace: 'x', name }, spec });
const DENY_INGRESS = policy('deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
const ALLOW_A_TO_B_80 = policy('allow-a-to-b', {
  podSelector: { matchLabels: { pod: 'b' } },
  ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
});

describe('NetworkPolicy between two pods on one vxroute node', () => {
  let lab: Lab;
  let api: KubeApiServer;
  let node: LabNode;
  let kubeconfig: string;
  let netConf: string;
  let daemon: VxrouteProcess;
  /** The node's nft ruleset and ip rules before vxroute first started. */
  let hostBefore: string;
  const pods = new Map<Name, Pod>();

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    api = new KubeApiServer();
    kubeconfig = await lab.addApiServer(api);
    node = await lab.addNode('vxroute', 2);
    api.upsertNode({
      metadata: { name: node.name },
      spec: { podCIDR: node.podCIDR, podCIDRs: [node.podCIDR, node.podCIDRv6] },
      status: { addresses: [{ type: 'InternalIP', address: node.publicIP }, { type: 'InternalIP', address: node.publicIPv6 }] },
    });
    api.upsertNamespace({ metadata: { name: 'x' } });
    (['a', 'b'] as const).forEach((name, k) => {
      const pod = node.pods[k];
      pods.set(name, pod);
      api.upsertPod({
        metadata: { namespace: 'x', name, labels: { pod: name } },
        spec: { nodeName: node.name, containers: [{ name: 'server', ports: [80, 81].map((p) => ({ containerPort: p })) }] },
        status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }, { ip: pod.ip6 }] },
      });
      for (const port of [80, 81]) serve(pod, port, `SYSTEM:echo ${name}`);
    });
    netConf = await lab.writeNetConf();
    hostBefore = await hostState();
    daemon = await lab.startVxrouteKube(node, kubeconfig, netConf, ['--workers', '2']);
    await daemon.waitForLog((l) => l.msg === 'traffic between our pods steered through the network policy', 20_000);
    await lab.ipv6Settled();
    for (const pod of pods.values()) await vi.waitFor(async () => expect((await tryInNs(pod.ns, 'ss', ['-Hltn', 'sport = :81'])).stdout).toMatch(/LISTEN/), WAIT);
  });

  afterAll(async () => {
    await lab?.dispose();
    await api?.close();
  });

  function serve(pod: Pod, port: number, answer: string): void {
    const server = spawn('ip', ['netns', 'exec', pod.ns, 'socat', `TCP6-LISTEN:${port},ipv6only=0,fork,reuseaddr`, answer], { stdio: 'ignore' });
    lab.onDispose(() => server.kill('SIGKILL'));
  }

  /**
   * The node's nft ruleset and the ip rules of both families, but for the guard and the masquerade,
   * which stay while vxroute restarts (README, Identities), and the tunnel-GSO forward check, which
   * lives with the daemon whether the policy is on or off.
   */
  async function hostState(): Promise<string> {
    const tables = (await inNs(node.ns, 'nft', ['list', 'tables'])).split('\n').filter((t) => t.trim() !== '' && ![GUARD_TABLE, NAT_TABLE, TUNNEL_TABLE].some((table) => t.endsWith(` ${table}`)));
    const rules = await Promise.all(tables.map((t) => inNs(node.ns, 'nft', ['list', ...t.split(' ')])));
    return [...rules, await inNs(node.ns, 'ip', ['-4', 'rule']), await inNs(node.ns, 'ip', ['-6', 'rule'])].join('\n');
  }

  /** Replaces every policy with `policies`, waiting until the daemons compiled all these changes. */
  const setPolicies = (...policies: KubeObject[]): Promise<void> => replacePolicies(api, [daemon], policies, WAIT);

  async function deniedIngress(): Promise<number> {
    return (await daemon.counters()).drops.policy_denied_ingress;
  }

  /** One TCP connection from `from` to `to`'s port: the name it answers with, or undefined. */
  async function probe(from: Name, to: Name, port: number, family: Family): Promise<string | undefined> {
    const target = family === 4 ? `TCP4:${pods.get(to)!.ip}:${port}` : `TCP6:[${pods.get(to)!.ip6}]:${port}`;
    const r = await tryInNs(pods.get(from)!.ns, 'socat', ['-u', `${target},connect-timeout=1`, '-'], 10_000);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async function expectReaches(from: Name, to: Name, port: number, family: Family = 4): Promise<void> {
    await vi.waitFor(async () => expect(await probe(from, to, port, family)).toBe(to), WAIT);
  }

  async function expectDenied(from: Name, to: Name, port: number, family: Family = 4): Promise<void> {
    await vi.waitFor(async () => {
      const before = await deniedIngress();
      expect(await probe(from, to, port, family)).toBeUndefined();
      expect(await deniedIngress()).toBeGreaterThan(before);
    }, WAIT);
  }

  it('installs its steering and, with no policy, passes TCP and ping both ways through the TUN', async () => {
    const nft = await inNs(node.ns, 'nft', ['list', 'table', 'bridge', 'vxroute_same_node']);
    expect(nft).toMatch(/ip daddr 10\.244\.1\.0\/24 counter/);
    expect(await inNs(node.ns, 'ip', ['-4', 'rule'])).toMatch(/to 10\.244\.1\.0\/24 iif cni0 lookup 7800/);
    expect(await inNs(node.ns, 'ip', ['-6', 'rule'])).toMatch(/to fd00:10:244:1::\/64 iif cni0 lookup 7800/);
    await setPolicies();
    const flowsBefore = (await daemon.counters()).drops.policy_denied_ingress;
    for (const [from, to] of [['a', 'b'], ['b', 'a']] as const) {
      for (const family of [4, 6] as const) {
        await expectReaches(from, to, 80, family);
        const dst = family === 4 ? pods.get(to)!.ip : pods.get(to)!.ip6;
        await expect.poll(async () => (await ping(pods.get(from)!.ns, dst, 2, 0.05)).received, { message: `IPv${family} ${from} → ${to}`, ...WAIT }).toBe(2);
      }
    }
    expect((await daemon.counters()).drops.policy_denied_ingress).toBe(flowsBefore);
    // The packets went through vxroute: routed twice (cni0 → TUN, TUN → cni0), and counted by the bridge rule.
    const out = await inNs(pods.get('a')!.ns, 'ping', ['-c', '1', '-W', '2', pods.get('b')!.ip]);
    expect(out).toMatch(/ttl=62/);
    const counted = /ip daddr 10\.244\.1\.0\/24 counter packets (\d+)/.exec(await inNs(node.ns, 'nft', ['list', 'table', 'bridge', 'vxroute_same_node']));
    expect(Number(counted?.[1])).toBeGreaterThan(0);
  });

  it('denies and counts TCP under a default-deny ingress, over IPv4 and IPv6', async () => {
    await setPolicies(DENY_INGRESS);
    await expectDenied('a', 'b', 80);
    await expectDenied('b', 'a', 80, 6);
  });

  it('opens exactly the pod and port an allow rule names, and its replies reach the ingress-isolated client', async () => {
    await setPolicies(DENY_INGRESS, ALLOW_A_TO_B_80);
    await expectReaches('a', 'b', 80); // a is isolated for ingress: b's replies pass as part of a's connection
    await expectReaches('a', 'b', 80, 6);
    await expectDenied('a', 'b', 81);
    await expectDenied('b', 'a', 80);
  });

  it('leaves the node as it found it: after kill -9 by uninstall or the next start, on stop, and with the policy off', async () => {
    daemon.kill();
    await daemon.exited;
    expect(await hostState()).not.toBe(hostBefore); // kill -9 leaves the steering in place …
    expect((await ping(pods.get('a')!.ns, pods.get('b')!.ip, 1, 0.05)).received).toBe(0); // … failing closed: the TUN is gone, the table prohibits
    const uninstall = () => inNs(node.ns, process.execPath, [cliPath(), 'uninstall', '--cni-conf-dir', `${lab.dir}/cni-none`]);
    expect(await uninstall()).toMatch(/removed nftables table bridge vxroute_same_node/);
    expect(await hostState()).toBe(hostBefore);
    expect(await uninstall()).toMatch(/same-node steering .*: not there/);

    // What kill -9 leaves (seen above), for the next start to replace: our rule and our table; and
    // stale rules of earlier pod CIDRs, more than one batch deletes at a time.
    for (const to of [node.podCIDR, '10.244.200.0/24', '10.244.201.0/24', '10.244.202.0/24', '10.244.203.0/24', '10.244.204.0/24']) {
      await inNs(node.ns, 'ip', ['rule', 'add', 'pref', '7800', 'iif', 'cni0', 'to', to, 'lookup', '7800']);
    }
    await inNs(node.ns, 'nft', ['add', 'table', 'bridge', 'vxroute_same_node']);
    daemon = await lab.startVxrouteKube(node, kubeconfig, netConf, ['--workers', '1']);
    await daemon.waitForLog((l) => l.msg === 'traffic between our pods steered through the network policy', 20_000);
    expect((await inNs(node.ns, 'ip', ['-4', 'rule'])).match(/lookup 7800/g)).toEqual(['lookup 7800']); // replaced, not doubled
    expect(await inNs(node.ns, 'ip', ['-4', 'rule'])).toContain(`to ${node.podCIDR} iif cni0 lookup 7800`);
    expect((await inNs(node.ns, 'nft', ['list', 'tables'])).match(/vxroute_same_node/g)).toHaveLength(1);
    await setPolicies();
    await expectReaches('a', 'b', 80);
    await daemon.stop();
    expect(await hostState()).toBe(hostBefore);

    daemon = await lab.startVxrouteKube(node, kubeconfig, netConf, ['--workers', '1', '--no-network-policy']);
    expect(await hostState()).toBe(hostBefore);
    expect(await inNs(pods.get('a')!.ns, 'ping', ['-c', '1', '-W', '2', pods.get('b')!.ip])).toMatch(/ttl=64/); // the bridge's path
    await daemon.stop();
  });
});
