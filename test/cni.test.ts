// vxroute as the only cluster network: the conflist it writes, driven through Debian's real CNI
// plugins (bridge, host-local, portmap) exactly as a container runtime drives them; masquerade
// toward "the outside world" (a namespace on the underlay); and `vxroute uninstall`.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniRuntime } from '../src/lab/cni-runtime.js';
import { KubeApiServer } from '../src/lab/kube-api-server.js';
import { formatConflist } from '../src/net/cni-conflist.js';
import { parseCidr } from '../src/subnets/cidr.js';
import { Lab, POD_MTU, type LabNode } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';
import { cliPath, type VxrouteProcess } from '../src/lab/vxroute-process.js';

const OUTSIDE = '192.0.2.200';
const PODS_PER_NODE = 3;

interface CniPod {
  node: LabNode;
  ns: string;
  id: string;
  ip: string;
}

/** A TCP server in `ns` that prints the address each connection came from. */
const PEER_ECHO = `
import { createServer } from 'node:net';
const server = createServer((s) => { console.log(s.remoteAddress); s.end(); });
server.listen(Number(process.argv[2]), process.argv[1], () => console.log('listening'));
`;

async function connectionSource(serverNs: string, host: string, clientNs: string, port: number): Promise<string> {
  const server = spawn('ip', ['netns', 'exec', serverNs, process.execPath, '--input-type=module', '-e', PEER_ECHO, host, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    // Line by line: "listening", then the address of the one connection; ends if the server exits.
    const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe('listening');
    const client = `import { connect } from 'node:net'; connect(Number(process.argv[2]), process.argv[1]).on('close', () => process.exit(0)).resume();`;
    await inNs(clientNs, process.execPath, ['--input-type=module', '-e', client, host, String(port)]);
    const source = await lines.next();
    expect(source.done, 'the server exited without a connection').toBe(false);
    return String(source.value);
  } finally {
    server.kill('SIGKILL');
  }
}

describe('vxroute --cni vxroute with the reference CNI plugins', () => {
  let lab: Lab;
  let nodes: LabNode[];
  const daemons: VxrouteProcess[] = [];
  const runtimes = new Map<string, CniRuntime>();
  const pods: CniPod[] = [];
  let outside: string;
  const cniDir = (n: LabNode) => join(lab.dir, `${n.name}-cni`);

  beforeAll(async () => {
    lab = await Lab.create();
    nodes = [await lab.addNode('vxroute', 0, { cni: true }), await lab.addNode('vxroute', 0, { cni: true })];
    outside = await lab.addUnderlayHost('w', OUTSIDE);
    const subnets = await lab.writeSubnets();
    for (const n of nodes) {
      const d = await lab.startVxroute(n, subnets, ['--cni', 'vxroute', '--cni-conf-dir', cniDir(n), '--ip-masq']);
      await d.waitForLog((l) => l.msg === 'CNI configuration written');
      daemons.push(d);
      runtimes.set(n.name, new CniRuntime(join(cniDir(n), '10-vxroute.conflist'), join(lab.dir, `${n.name}-ipam`)));
    }
    for (const n of nodes) {
      for (let k = 0; k < PODS_PER_NODE; k++) {
        const ns = await lab.addPodNamespace(n, k);
        const id = `${n.name}-pod${k}`;
        const result = await runtimes.get(n.name)!.add(n.ns, ns, id);
        pods.push({ node: n, ns, id, ip: result.ips![0].address.split('/')[0] });
      }
    }
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('writes a conflist for bridge, host-local over our pod CIDR, and portmap, with our MTU', async () => {
    const conf = JSON.parse(await readFile(join(cniDir(nodes[0]), '10-vxroute.conflist'), 'utf8'));
    expect(conf).toMatchObject({
      cniVersion: '1.0.0',
      name: 'vxroute',
      plugins: [
        { type: 'bridge', bridge: 'cni0', isGateway: true, hairpinMode: true, ipMasq: false, mtu: POD_MTU, ipam: { type: 'host-local', ranges: [[{ subnet: nodes[0].podCIDR }]] } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    });
    expect(pods.map((p) => p.ip)).toEqual(['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.2.2', '10.244.2.3', '10.244.2.4']);
  });

  it('lets every pod reach every pod on the other node, and keeps a TCP stream intact', async () => {
    for (const a of pods) {
      for (const b of pods) {
        if (a.node === b.node) continue;
        expect((await ping(a.ns, b.ip, 1, 0.05)).received, `${a.ip} → ${b.ip}`).toBe(1);
      }
    }
    const t = await tcpTransfer(pods[5].ns, pods[5].ip, pods[0].ns, 8 << 20);
    expect(t.receivedSha256).toBe(t.sentSha256);
  });

  it('passes the plugins’ CHECK for every pod', async () => {
    for (const p of pods) await runtimes.get(p.node.name)!.check(p.node.ns, p.ns, p.id);
  });

  it('masquerades pods toward the outside world, never between pods', async () => {
    expect(await connectionSource(outside, OUTSIDE, pods[0].ns, 7001)).toBe(nodes[0].publicIP);
    expect(await connectionSource(pods[4].ns, pods[4].ip, pods[1].ns, 7002)).toBe(pods[1].ip);
  });

  it('frees the address and the veth on DEL', async () => {
    const p = pods[2];
    const leases = join(lab.dir, `${p.node.name}-ipam`, 'vxroute');
    const links = async () => (await inNs(p.node.ns, 'ip', ['-o', 'link', 'show', 'type', 'veth'])).trim().split('\n').filter(Boolean).length;
    const before = await links();
    expect(readdirSync(leases)).toContain(p.ip);
    await runtimes.get(p.node.name)!.del(p.node.ns, p.ns, p.id);
    expect(readdirSync(leases)).not.toContain(p.ip);
    expect(await links()).toBe(before - 1);
    expect((await tryInNs(p.ns, 'ip', ['addr', 'show', 'eth0'])).code).not.toBe(0);
  });

  it('uninstall removes the device, routes, conflist and NAT table, and a second run is no error', async () => {
    const [n] = nodes;
    const uninstall = () => tryInNs(n.ns, process.execPath, [cliPath(), 'uninstall', '--cni-conf-dir', cniDir(n)]);
    const refused = await uninstall();
    expect(refused.code).toBe(2); // the daemon still runs on the device
    expect(refused.stderr).toMatch(/another vxroute is already running on vxroute0/);
    daemons[0].kill(); // as a node losing its daemon: its TUN goes with its fds, the conflist and NAT stay
    await daemons[0].exited;
    expect(existsSync(join(cniDir(n), '10-vxroute.conflist'))).toBe(true);
    expect((await tryInNs(n.ns, 'nft', ['list', 'table', 'inet', 'vxroute'])).code).toBe(0);
    const first = await uninstall();
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/removed .*10-vxroute\.conflist/);
    expect((await tryInNs(n.ns, 'ip', ['link', 'show', 'vxroute0'])).code).not.toBe(0);
    expect(await inNs(n.ns, 'ip', ['route', 'show', '10.244.0.0/16'])).toBe('');
    expect((await tryInNs(n.ns, 'nft', ['list', 'table', 'inet', 'vxroute'])).code).not.toBe(0);
    expect(existsSync(join(cniDir(n), '10-vxroute.conflist'))).toBe(false);
    const second = await uninstall();
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/device vxroute0: not there/);
    // A device that outlives its daemon (persistent, or adopted from an operator) is removed too.
    await inNs(n.ns, 'ip', ['tuntap', 'add', 'dev', 'vxroute0', 'mode', 'tun', 'multi_queue']);
    expect((await uninstall()).stdout).toMatch(/removed device vxroute0/);
    expect((await tryInNs(n.ns, 'ip', ['link', 'show', 'vxroute0'])).code).not.toBe(0);
  });
});

/** Adds `count` pods to `node` through the plugins of `conflist`; returns them. */
async function addPods(lab: Lab, node: LabNode, conflist: string, count: number): Promise<CniPod[]> {
  const runtime = new CniRuntime(conflist, join(lab.dir, `${node.name}-ipam`));
  const out: CniPod[] = [];
  for (let k = 0; k < count; k++) {
    const ns = await lab.addPodNamespace(node, k);
    const id = `${node.name}-pod${k}`;
    const result = await runtime.add(node.ns, ns, id);
    out.push({ node, ns, id, ip: result.ips![0].address.split('/')[0] });
  }
  return out;
}

async function expectAllPairsTalk(pods: CniPod[]): Promise<void> {
  for (const a of pods) {
    for (const b of pods) {
      if (a.node === b.node) continue;
      expect((await ping(a.ns, b.ip, 1, 0.05)).received, `${a.ip} → ${b.ip}`).toBe(1);
    }
  }
  const [first, last] = [pods[0], pods.at(-1)!];
  const t = await tcpTransfer(last.ns, last.ip, first.ns, 4 << 20);
  expect(t.receivedSha256).toBe(t.sentSha256);
}

describe('vxroute --kube --cni vxroute: pods through the plugins on two nodes', () => {
  it('writes the conflist from the API’s pod CIDRs, and every pod pair talks', async () => {
    const lab = await Lab.create();
    const api = new KubeApiServer();
    try {
      const kubeconfig = await lab.addApiServer(api);
      const nodes = [await lab.addNode('vxroute', 0, { cni: true }), await lab.addNode('vxroute', 0, { cni: true })];
      for (const n of nodes) {
        api.upsertNode({ metadata: { name: n.name }, spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: n.publicIP }] } });
      }
      const netConf = await lab.writeNetConf();
      const dir = (n: LabNode) => join(lab.dir, `${n.name}-cni`);
      const daemons: VxrouteProcess[] = [];
      for (const n of nodes) daemons.push(await lab.startVxrouteKube(n, kubeconfig, netConf, ['--cni', 'vxroute', '--cni-conf-dir', dir(n)]));
      for (const d of daemons) {
        await d.waitForLog((l) => l.msg === 'CNI configuration written');
        await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 15_000); // each has the other's annotations
      }
      const pods: CniPod[] = [];
      for (const n of nodes) pods.push(...(await addPods(lab, n, join(dir(n), '10-vxroute.conflist'), PODS_PER_NODE)));
      expect(pods.map((p) => p.ip)).toEqual(['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.2.2', '10.244.2.3', '10.244.2.4']);
      await expectAllPairsTalk(pods);
    } finally {
      await lab.dispose();
      await api.close();
    }
  });
});

describe('mixed cluster: a vxroute node and a flannel kernel node, pods on both through the plugins', () => {
  it('lets every pod pair talk', async () => {
    const lab = await Lab.create();
    try {
      const ours = await lab.addNode('vxroute', 0, { cni: true });
      const kernel = await lab.addNode('kernel', 0, { cni: true });
      await lab.programKernelPeers();
      const dir = join(lab.dir, 'n1-cni');
      const d = await lab.startVxroute(ours, await lab.writeSubnets(), ['--cni', 'vxroute', '--cni-conf-dir', dir]);
      await d.waitForLog((l) => l.msg === 'CNI configuration written');
      // The kernel node's pods get the same reference plugins over its own pod CIDR.
      const kernelConf = join(lab.dir, 'n2.conflist');
      await writeFile(kernelConf, formatConflist({ podCIDR: parseCidr(kernel.podCIDR), podCIDRv6: undefined, mtu: POD_MTU }));
      const pods = [...(await addPods(lab, ours, join(dir, '10-vxroute.conflist'), 2)), ...(await addPods(lab, kernel, kernelConf, 2))];
      await expectAllPairsTalk(pods);
    } finally {
      await lab.dispose();
    }
  });
});

describe('masquerade with iptables, where a node has no nftables', () => {
  it('NATs pods toward the outside world, keeps one jump across restarts, and uninstall removes the chain', async () => {
    const lab = await Lab.create();
    try {
      const node = await lab.addNode('vxroute', 0, { cni: true });
      const world = await lab.addUnderlayHost('w', OUTSIDE);
      const subnets = await lab.writeSubnets();
      const dir = join(lab.dir, 'n1-cni');
      const args = ['--cni', 'vxroute', '--cni-conf-dir', dir, '--ip-masq', '--nat-backend', 'iptables'];
      await (await lab.startVxroute(node, subnets, args)).stop();
      const d = await lab.startVxroute(node, subnets, args); // applied a second time
      await d.waitForLog((l) => l.msg === 'CNI configuration written' || l.msg === 'ready');
      const [pod] = await addPods(lab, node, join(dir, '10-vxroute.conflist'), 1);
      expect(await connectionSource(world, OUTSIDE, pod.ns, 7003)).toBe(node.publicIP);
      const postrouting = await inNs(node.ns, 'iptables', ['-t', 'nat', '-S', 'POSTROUTING']);
      expect(postrouting.split('\n').filter((l) => l.includes('-j VXROUTE-MASQ'))).toHaveLength(1);
      expect(await inNs(node.ns, 'iptables', ['-t', 'nat', '-S', 'VXROUTE-MASQ'])).toContain('-A VXROUTE-MASQ -s 10.244.1.0/24 -j MASQUERADE --random-fully');
      expect((await tryInNs(node.ns, 'nft', ['list', 'table', 'inet', 'vxroute'])).code).not.toBe(0); // nothing of ours in nftables' own table
      await d.stop();
      const r = await tryInNs(node.ns, process.execPath, [cliPath(), 'uninstall', '--cni-conf-dir', dir]);
      expect(r.stdout).toMatch(/removed iptables chain nat VXROUTE-MASQ/);
      expect((await tryInNs(node.ns, 'iptables', ['-t', 'nat', '-S', 'VXROUTE-MASQ'])).code).not.toBe(0);
    } finally {
      await lab.dispose();
    }
  });
});

describe('dual-stack pods through the plugins', () => {
  it('gives each pod an address of both families from host-local, and both families cross nodes', async () => {
    const lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    try {
      const nodes = [await lab.addNode('vxroute', 0, { cni: true }), await lab.addNode('vxroute', 0, { cni: true })];
      const subnets = await lab.writeSubnets();
      const runtimes: CniRuntime[] = [];
      for (const n of nodes) {
        const dir = join(lab.dir, `${n.name}-cni`);
        await (await lab.startVxroute(n, subnets, ['--cni', 'vxroute', '--cni-conf-dir', dir])).waitForLog((l) => l.msg === 'CNI configuration written');
        runtimes.push(new CniRuntime(join(dir, '10-vxroute.conflist'), join(lab.dir, `${n.name}-ipam`)));
      }
      const results = [];
      for (const [i, n] of nodes.entries()) results.push({ ns: await lab.addPodNamespace(n, 0), n, i });
      const addrs = [];
      for (const r of results) addrs.push((await runtimes[r.i].add(r.n.ns, r.ns, `${r.n.name}-pod0`)).ips!.map((x) => x.address));
      expect(addrs).toEqual([['10.244.1.2/24', 'fd00:10:244:1::2/64'], ['10.244.2.2/24', 'fd00:10:244:2::2/64']]);
      await lab.ipv6Settled();
      expect((await ping(results[0].ns, '10.244.2.2', 2, 0.05)).received).toBe(2);
      expect((await ping(results[0].ns, 'fd00:10:244:2::2', 2, 0.05)).received).toBe(2);
      expect((await ping(results[1].ns, 'fd00:10:244:1::2', 2, 0.05)).received).toBe(2);
    } finally {
      await lab.dispose();
    }
  });
});

