// IPv6 pods and the IPv6 underlay, in namespaces (underlay 192.0.2.0/24 and 2001:db8::/64, pods
// 10.244.0.0/16 and fd00:10:244::/56, a /64 per node): vxroute ↔ vxroute and vxroute ↔ a kernel
// node with flannel's two devices (flannel.1, flannel-v6.1) programmed as flannel programs them.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureFields } from '../src/lab/capture.js';
import { Lab, POD_MTU, type LabFamilies, type LabNode } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { ping, tcpTransfer, udpDatagram } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const MiB = 1 << 20;
/** Largest UDP payloads a pod can send without fragmenting: over the IPv4 underlay, and IPv6 over the IPv6 one (MTU 1500 − 70 = 1430). */
const MAX_UDP_V4 = POD_MTU - 20 - 8;
const MAX_UDP_V6 = 1500 - 70 - 40 - 8;

async function cluster(families: LabFamilies, kinds: ('vxroute' | 'kernel')[]) {
  const lab = await Lab.create(families);
  try {
    const nodes: LabNode[] = [];
    for (const kind of kinds) nodes.push(await lab.addNode(kind));
    await lab.programKernelPeers();
    const subnets = await lab.writeSubnets();
    const daemons = new Map<string, VxrouteProcess>();
    for (const n of nodes) if (n.kind === 'vxroute') daemons.set(n.name, await lab.startVxroute(n, subnets, ['--workers', '2']));
    await lab.ipv6Settled();
    return { lab, nodes, daemons };
  } catch (err) {
    // The caller never gets the lab to dispose: its namespaces and scratch directory go here.
    await lab.dispose();
    throw err;
  }
}

/**
 * Every pair answers, then answers every echo: the first exchange of a fresh cluster waits on
 * neighbour resolution along four hops (pod, underlay, both ways), which on a loaded machine can
 * outlast ping's wait; what is asserted is the path forwarding once it is up.
 */
async function pingAllPairs(nodes: LabNode[], family: 4 | 6): Promise<void> {
  for (const a of nodes) {
    for (const b of nodes) {
      if (a === b) continue;
      const dst = family === 4 ? b.pods[0].ip : b.pods[0].ip6;
      await vi.waitFor(async () => expect((await ping(a.pods[0].ns, dst, 1)).received).toBe(1), { timeout: 20_000 });
      expect((await ping(a.pods[0].ns, dst, 2, 0.05)).received, `IPv${family} ${a.name} → ${b.name}`).toBe(2);
    }
  }
}

describe('dual stack: IPv4 and IPv6 pods over IPv4 and IPv6 underlays, vxroute and flannel kernel nodes', () => {
  let lab: Lab;
  let nodes: LabNode[];
  let daemons: Map<string, VxrouteProcess>;

  beforeAll(async () => {
    ({ lab, nodes, daemons } = await cluster({ underlay: [4, 6], pods: [4, 6] }, ['vxroute', 'vxroute', 'kernel']));
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('pings over both families between every pair of nodes', async () => {
    await pingAllPairs(nodes, 4);
    await pingAllPairs(nodes, 6);
  });

  it('carries TCP over IPv6 intact between vxroute and the kernel, both ways, and between vxroute nodes', async () => {
    const [a, b, k] = nodes;
    for (const [from, to] of [[a, k], [k, a], [a, b]] as const) {
      const t = await tcpTransfer(to.pods[0].ns, to.pods[0].ip6, from.pods[0].ns, 16 * MiB);
      expect(t.receivedBytes, `${from.name} → ${to.name}`).toBe(16 * MiB);
      expect(t.receivedSha256).toBe(t.sentSha256);
    }
  });

  it.each([
    [4, 1],
    [4, MAX_UDP_V4],
    [6, 1],
    [6, MAX_UDP_V6],
  ])('carries an IPv%i UDP datagram of %i bytes both ways to the kernel node', async (family, size) => {
    const [a, , k] = nodes;
    const ip = (n: LabNode) => (family === 4 ? n.pods[0].ip : n.pods[0].ip6);
    const there = await udpDatagram(a.pods[0].ns, k.pods[0].ns, ip(k), size);
    expect(there.received).toEqual({ length: size, sha256: there.sentSha256, from: ip(a) });
    const back = await udpDatagram(k.pods[0].ns, a.pods[0].ns, ip(a), size);
    expect(back.received).toEqual({ length: size, sha256: back.sentSha256, from: ip(k) });
  });

  it('sends IPv6 pods over the IPv6 underlay with the v6 VTEP MACs and a valid UDP checksum, as tshark reads it', async () => {
    const [a, , k] = nodes;
    const rows = await captureFields(a.ns, 'eth0', lab.dir, () => ping(a.pods[0].ns, k.pods[0].ip6, 2, 0.05), ['ipv6.src', 'ipv6.dst', 'udp.checksum.status', 'vxlan.vni', 'eth.src', 'eth.dst']);
    const sent = rows.filter(([src]) => src[0] === a.publicIPv6);
    const received = rows.filter(([src]) => src[0] === k.publicIPv6);
    expect(sent).toHaveLength(2);
    expect(received).toHaveLength(2);
    for (const [src, dst, csum, vni, srcMac, dstMac] of sent) {
      expect([src[1], dst[0], dst[1], csum[0], vni[0], srcMac[1], dstMac[1]]).toEqual([a.pods[0].ip6, k.publicIPv6, k.pods[0].ip6, '1', '1', a.vtepMACv6, k.vtepMACv6]);
    }
    for (const [, , csum] of received) expect(csum[0]).toBe('1'); // the kernel's, checked the same way
  });

  it('answers a packet too big for the IPv6 underlay with Packet Too Big, and TCP from a pod with a too-large MTU completes', async () => {
    const [a, b] = nodes;
    const daemon = daemons.get(a.name)!;
    const before = (await daemon.counters()).drops.oversize;
    // The route MTU normally stops such packets in the kernel; without it they reach the datapath.
    await inNs(a.ns, 'ip', ['-6', 'route', 'replace', 'fd00:10:244::/56', 'dev', 'vxroute0']);
    await inNs(a.pods[0].ns, 'ip', ['-6', 'route', 'flush', 'cache']); // forget the path MTU learned earlier
    try {
      const r = await tryInNs(a.pods[0].ns, 'ping', ['-6', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', String(POD_MTU - 48), b.pods[0].ip6]);
      expect(r.stdout).toMatch(/From fd00:10:244:1:: icmp_seq=1 Packet too big: mtu=1430/);
      expect((await daemon.counters()).drops.oversize).toBeGreaterThan(before);
      const t = await tcpTransfer(b.pods[0].ns, b.pods[0].ip6, a.pods[1]?.ns ?? a.pods[0].ns, 4 * MiB);
      expect(t.receivedSha256).toBe(t.sentSha256);
    } finally {
      await inNs(a.ns, 'ip', ['-6', 'route', 'replace', 'fd00:10:244::/56', 'dev', 'vxroute0', 'mtu', '1430']);
    }
  });

  it('answers a destination no node owns with ICMPv6 no route', async () => {
    const [a] = nodes;
    const daemon = daemons.get(a.name)!;
    const before = (await daemon.counters()).drops.no_route;
    const r = await tryInNs(a.pods[0].ns, 'ping', ['-6', '-n', '-c', '1', '-W', '1', 'fd00:10:244:99::1']);
    // From our TUN's address (the pod subnet's network address), not the node's cni0: the datapath answered.
    expect(r.stdout).toMatch(/From fd00:10:244:1:: icmp_seq=1 Destination unreachable: No route/);
    expect((await daemon.counters()).drops.no_route).toBe(before + 1);
  });
});

describe('IPv6-only underlay carrying IPv4 and IPv6 pods (vxroute ↔ vxroute)', () => {
  it('pings over both families', async () => {
    const { lab, nodes } = await cluster({ underlay: [6], pods: [4, 6] }, ['vxroute', 'vxroute']);
    try {
      await pingAllPairs(nodes, 4);
      await pingAllPairs(nodes, 6);
      const t = await tcpTransfer(nodes[1].pods[0].ns, nodes[1].pods[0].ip, nodes[0].pods[0].ns, 4 * MiB);
      expect(t.receivedSha256).toBe(t.sentSha256);
    } finally {
      await lab.dispose();
    }
  });
});

describe('IPv6-only cluster (vxroute ↔ flannel-v6.1)', () => {
  it('pings and carries TCP both ways', async () => {
    const { lab, nodes } = await cluster({ underlay: [6], pods: [6] }, ['vxroute', 'kernel']);
    try {
      await pingAllPairs(nodes, 6);
      for (const [from, to] of [[nodes[0], nodes[1]], [nodes[1], nodes[0]]]) {
        const t = await tcpTransfer(to.pods[0].ns, to.pods[0].ip6, from.pods[0].ns, 8 * MiB);
        expect(t.receivedSha256).toBe(t.sentSha256);
      }
    } finally {
      await lab.dispose();
    }
  });
});
