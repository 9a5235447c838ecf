// flannel's Backend.DirectRouting in namespaces: a flannel kernel node that sets it and vxroute
// nodes that set it, two on one underlay subnet and one behind a router on another. Between the
// two on one subnet, pods talk over plain kernel routes (no VXLAN on the wire, strict rp_filter
// on every node); with the routed one, over VXLAN. vxroute's routes follow the table, survive
// kill -9 without duplicates or leftovers, and go on exit and with `vxroute uninstall`.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureFields, captureVxlan } from '../src/lab/capture.js';
import { Lab, NETWORK, NETWORK_V6, type LabNode } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';
import { cliPath, type VxrouteProcess } from '../src/lab/vxroute-process.js';

const MiB = 1 << 20;
const BOUND_MS = 15_000;

/** Our direct routes on a node, as `ip` prints them: "<cidr> via <ip> dev <dev>", both families. */
async function directRoutes(node: LabNode): Promise<string[]> {
  const out: string[] = [];
  for (const family of ['-4', '-6']) {
    const routes = JSON.parse(await inNs(node.ns, 'ip', ['-j', family, 'route', 'show', 'proto', '118'])) as { dst: string; gateway: string; dev: string }[];
    out.push(...routes.map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`));
  }
  return out.sort();
}

/** Waits, up to a bound, until `node`'s direct routes are `expected`. */
async function routesBecome(node: LabNode, expected: string[]): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  let now = await directRoutes(node);
  while (JSON.stringify(now) !== JSON.stringify([...expected].sort())) {
    if (Date.now() > deadline) expect(now, `direct routes on ${node.name}`).toEqual([...expected].sort());
    await new Promise((r) => setTimeout(r, 100));
    now = await directRoutes(node);
  }
}

/** The device the node's kernel sends a packet for `dst` out of. */
async function deviceFor(node: LabNode, dst: string): Promise<string> {
  return (JSON.parse(await inNs(node.ns, 'ip', ['-j', 'route', 'get', dst])) as { dev: string }[])[0].dev;
}

describe('DirectRouting: flannel kernel node and vxroute on one subnet, a vxroute node behind a router', () => {
  let lab: Lab;
  let kernel: LabNode;
  let near: LabNode;
  let far: LabNode;

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    kernel = await lab.addNode('kernel');
    near = await lab.addNode('vxroute');
    far = await lab.addNode('vxroute', 1, { routed: true });
    // Strict reverse-path filtering: plain IP from a direct peer's pods must arrive where our route to them points.
    for (const n of lab.nodes) await inNs(n.ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.default.rp_filter=1', 'net.ipv4.conf.eth0.rp_filter=1']);
    await lab.programKernelPeers({ directRouting: true });
    const subnets = await lab.writeSubnets();
    for (const n of [near, far]) await lab.startVxroute(n, subnets, ['--direct-routing', '--workers', '1']);
    await lab.ipv6Settled();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('routes a same-subnet peer’s pods by the kernel and keeps the routed peer on the TUN, both families', async () => {
    expect(await directRoutes(near)).toEqual(['10.244.1.0/24 via 192.0.2.1 dev eth0', 'fd00:10:244:1::/64 via 2001:db8::1 dev eth0']);
    expect(await directRoutes(far)).toEqual([]);
    expect(await deviceFor(near, kernel.pods[0].ip)).toBe('eth0');
    expect(await deviceFor(near, kernel.pods[0].ip6)).toBe('eth0');
    expect(await deviceFor(near, far.pods[0].ip)).toBe('vxroute0');
    expect(await deviceFor(near, far.pods[0].ip6)).toBe('vxroute0');
    // The flannel node made the same choice: direct to near, flannel.1 to far.
    expect(await deviceFor(kernel, near.pods[0].ip)).toBe('eth0');
    expect(await deviceFor(kernel, far.pods[0].ip)).toBe('flannel.1');
  });

  it('carries ping and TCP both ways with the flannel node, IPv4 and IPv6, with no VXLAN on the wire', async () => {
    const frames = await captureVxlan(lab.underlayNs, 'br0', lab.dir, async () => {
      for (const [a, b] of [[near, kernel], [kernel, near]]) {
        for (const dst of [b.pods[0].ip, b.pods[0].ip6]) {
          expect((await ping(a.pods[0].ns, dst, 3, 0.05)).received, `${a.name} → ${dst}`).toBe(3);
          const t = await tcpTransfer(b.pods[0].ns, dst, a.pods[0].ns, 8 * MiB);
          expect(t.receivedBytes, `TCP ${a.name} → ${dst}`).toBe(8 * MiB);
          expect(t.receivedSha256).toBe(t.sentSha256);
        }
      }
    });
    expect(frames).toEqual([]);
  });

  it('carries the routed peer’s traffic over VXLAN, to and from both nodes', async () => {
    const frames = await captureFields(lab.underlayNs, 'br0', lab.dir, async () => {
      for (const a of [near, kernel]) {
        for (const [from, dst] of [[a, far.pods[0].ip], [far, a.pods[0].ip], [a, far.pods[0].ip6], [far, a.pods[0].ip6]] as const) {
          expect((await ping(from.pods[0].ns, dst, 2, 0.05)).received, `${from.name} → ${dst}`).toBe(2);
        }
      }
      const t = await tcpTransfer(far.pods[0].ns, far.pods[0].ip, near.pods[0].ns, 4 * MiB);
      expect(t.receivedSha256).toBe(t.sentSha256);
    }, ['ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst']);
    // The outer header's addresses (the first occurrence of each field), IPv4 or IPv6 underlay.
    const pair = (x: string, y: string): string => [x, y].sort().join(' ');
    const pairs = new Set(frames.map(([ip, ipDst, ip6, ip6Dst]) => (ip[0] ? pair(ip[0], ipDst[0]) : pair(ip6[0], ip6Dst[0]))));
    const expected = [kernel, near].flatMap((n) => [pair(far.publicIP, n.publicIP), pair(far.publicIPv6, n.publicIPv6)]);
    expect([...pairs].sort()).toEqual(expected.sort());
  });
});

describe('DirectRouting: vxroute’s routes follow the table, and go with the daemon', () => {
  let lab: Lab;
  let ours: LabNode;
  let peer: LabNode;
  let routed: LabNode;

  /** A table of ours and the peer (at `peerIP`) and the routed node. */
  async function table(peers: { node: LabNode; publicIP: string }[], file: string): Promise<string> {
    const path = join(lab.dir, file);
    const nodes = [{ node: ours, publicIP: ours.publicIP }, ...peers].map(({ node, publicIP }) => ({ name: node.name, podCIDRs: [node.podCIDR], publicIP, vtepMAC: node.vtepMAC }));
    await writeFile(path, JSON.stringify({ networks: [NETWORK], nodes }));
    return path;
  }

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4], pods: [4] });
    ours = await lab.addNode('vxroute', 0);
    peer = await lab.addNode('vxroute', 0);
    routed = await lab.addNode('vxroute', 0, { routed: true });
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('a peer that leaves or moves off our subnet loses its direct route; back on it, gets it again', async () => {
    const path = await table([{ node: peer, publicIP: peer.publicIP }, { node: routed, publicIP: routed.publicIP }], 'follow.json');
    const daemon: VxrouteProcess = await lab.startVxroute(ours, path, ['--direct-routing', '--workers', '1']);
    await routesBecome(ours, ['10.244.2.0/24 via 192.0.2.2 dev eth0']);
    await table([{ node: routed, publicIP: routed.publicIP }], 'follow.json');
    daemon.signal('SIGHUP');
    await routesBecome(ours, []);
    expect(await deviceFor(ours, '10.244.2.5')).toBe('vxroute0');
    // The peer now behind the router: VXLAN for it, through the TUN.
    await table([{ node: peer, publicIP: '192.0.2.200' }, { node: routed, publicIP: routed.publicIP }], 'follow.json');
    daemon.signal('SIGHUP');
    await daemon.waitForLog((l) => l.msg === 'table loaded' && (l as { nodes?: number }).nodes === 3, BOUND_MS, daemon.logs.length);
    expect(await directRoutes(ours)).toEqual([]);
    expect(await deviceFor(ours, '10.244.2.5')).toBe('vxroute0');
    await table([{ node: peer, publicIP: peer.publicIP }, { node: routed, publicIP: routed.publicIP }], 'follow.json');
    daemon.signal('SIGHUP');
    await routesBecome(ours, ['10.244.2.0/24 via 192.0.2.2 dev eth0']);
    expect(await deviceFor(ours, '10.244.2.5')).toBe('eth0');
    expect((await daemon.stop()).code).toBe(0);
    expect(await directRoutes(ours)).toEqual([]);
  });

  it('a restart after kill -9 keeps one route per peer and drops routes of peers gone meanwhile; uninstall removes the rest', async () => {
    const path = await table([{ node: peer, publicIP: peer.publicIP }, { node: routed, publicIP: routed.publicIP }], 'restart.json');
    const first = await lab.startVxroute(ours, path, ['--direct-routing', '--workers', '1']);
    await routesBecome(ours, ['10.244.2.0/24 via 192.0.2.2 dev eth0']);
    first.kill();
    await first.exited;
    // Left behind by the killed run: its route, and one to a node that has left the cluster since.
    await inNs(ours.ns, 'ip', ['route', 'add', '10.244.9.0/24', 'via', '192.0.2.9', 'dev', 'eth0', 'proto', '118']);
    const second = await lab.startVxroute(ours, path, ['--direct-routing', '--workers', '1']);
    expect(await directRoutes(ours)).toEqual(['10.244.2.0/24 via 192.0.2.2 dev eth0']);
    second.kill();
    await second.exited;
    const uninstall = await tryInNs(ours.ns, process.execPath, [cliPath(), 'uninstall', '--cni-conf-dir', join(lab.dir, 'none')]);
    expect(uninstall.code).toBe(0);
    expect(uninstall.stdout).toMatch(/removed 1 direct route\(s\) \(proto 118\)/);
    expect(await directRoutes(ours)).toEqual([]);
  });

  it('without DirectRouting, leftovers of a run that had it are removed: they would hide peers from the TUN', async () => {
    await inNs(ours.ns, 'ip', ['route', 'replace', '10.244.2.0/24', 'via', '192.0.2.2', 'dev', 'eth0', 'proto', '118']);
    const path = await table([{ node: peer, publicIP: peer.publicIP }], 'off.json');
    const daemon = await lab.startVxroute(ours, path, ['--workers', '1']);
    expect(await directRoutes(ours)).toEqual([]);
    expect(await deviceFor(ours, '10.244.2.5')).toBe('vxroute0');
    expect((await daemon.stop()).code).toBe(0);
  });
});
