// UDP segmentation offload on the TUN (TUN_F_USO4/6): a pod that sends with UDP_SEGMENT hands its
// node one packet per sendmsg; vxroute reads it whole, cuts it into datagrams that leave as UDP
// GSO runs, and the receiving vxroute writes runs of them to its TUN as GSO_UDP_L4 packets. Every
// datagram must arrive with its bytes and a checksum the receiving kernel accepts, at a vxroute
// node and at a kernel VXLAN node (flannel's vxlan backend), over IPv4 and IPv6.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildUdpSegment, udpSegmentRun } from '../bench/udp-segment.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { ping } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

type Counters = Awaited<ReturnType<VxrouteProcess['counters']>>;
const usoPackets = (c: Counters) => c.workers.reduce((a, w) => a + w.usoPackets, 0);
const tunWrites = (c: Counters) => c.workers.reduce((a, w) => a + w.tunWrites, 0);

/** UDP datagrams a namespace's kernel dropped for a bad checksum (/proc/net/snmp, Udp InCsumErrors; Udp6 for IPv6). */
async function checksumErrors(ns: string, family: 4 | 6): Promise<number> {
  if (family === 6) return Number(/Udp6InCsumErrors\s+(\d+)/.exec(await inNs(ns, 'cat', ['/proc/net/snmp6']))![1]);
  const lines = (await inNs(ns, 'cat', ['/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0].split(/\s+/);
  return Number(lines[1].split(/\s+/)[names.indexOf('InCsumErrors')]);
}

/** Datagram sizes that fit the pod MTU over each underlay family (IPv6 over IPv6: 1500 − 70 − 48). */
const SIZE = { 4: 1400, 6: 1350 } as const;
const COUNT = 1600;
const PER_SEND = 16;

describe('UDP_SEGMENT sends through the TUN with USO', () => {
  let lab: Lab;
  let a: LabNode;
  let b: LabNode;
  let kernel: LabNode;
  let daemonA: VxrouteProcess;
  let daemonB: VxrouteProcess;
  let tool: string;

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    a = await lab.addNode('vxroute');
    b = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel');
    await lab.programKernelPeers();
    const subnets = await lab.writeSubnets();
    daemonA = await lab.startVxroute(a, subnets, ['--workers', '2']);
    daemonB = await lab.startVxroute(b, subnets, ['--workers', '2']);
    await lab.ipv6Settled();
    tool = await buildUdpSegment(lab.dir);
    // The first exchange waits on neighbour resolution along every hop; what is asserted below is the path once it is up.
    for (const family of [4, 6] as const) {
      for (const to of [b, kernel]) {
        const dst = family === 4 ? to.pods[0].ip : to.pods[0].ip6;
        await vi.waitFor(async () => expect((await ping(a.pods[0].ns, dst, 1)).received).toBe(1), { timeout: 20_000 });
      }
    }
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it.each([4, 6] as const)('IPv%i: vxroute → vxroute, every datagram intact; read as USO packets, written as GSO runs', async (family) => {
    const to = { ns: b.pods[0].ns, ip: family === 4 ? b.pods[0].ip : b.pods[0].ip6 };
    const [beforeA, beforeB, csumBefore] = [await daemonA.counters(), await daemonB.counters(), await checksumErrors(to.ns, family)];
    const r = await udpSegmentRun(tool, a.pods[0].ns, to, SIZE[family], PER_SEND, { count: COUNT });
    const [afterA, afterB] = [await daemonA.counters(), await daemonB.counters()];
    expect(r.sent).toBe(COUNT);
    expect(r.intact).toBe(COUNT);
    expect(await checksumErrors(to.ns, family)).toBe(csumBefore);
    // The pod's sends reached the TUN whole (at most one per sendmsg) and were cut into datagrams.
    expect(usoPackets(afterA) - usoPackets(beforeA)).toBeGreaterThan(0);
    expect(usoPackets(afterA) - usoPackets(beforeA)).toBeLessThanOrEqual(COUNT / PER_SEND);
    // The receiving node wrote runs of them, not one write per datagram.
    expect(tunWrites(afterB) - tunWrites(beforeB)).toBeLessThan(COUNT / 2);
  });

  it.each([4, 6] as const)('IPv%i: vxroute → kernel VXLAN, every datagram intact with checksums the kernel accepts', async (family) => {
    const to = { ns: kernel.pods[0].ns, ip: family === 4 ? kernel.pods[0].ip : kernel.pods[0].ip6 };
    const [beforeA, csumBefore] = [await daemonA.counters(), await checksumErrors(to.ns, family)];
    const r = await udpSegmentRun(tool, a.pods[0].ns, to, SIZE[family], PER_SEND, { count: COUNT });
    const afterA = await daemonA.counters();
    expect(r.intact).toBe(COUNT);
    expect(await checksumErrors(to.ns, family)).toBe(csumBefore);
    expect(usoPackets(afterA) - usoPackets(beforeA)).toBeGreaterThan(0);
    const drops = Object.values(afterA.drops).reduce((x, y) => x + y, 0) - Object.values(beforeA.drops).reduce((x, y) => x + y, 0);
    expect(drops).toBe(0);
  });
});
