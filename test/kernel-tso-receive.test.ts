// A kernel VXLAN node whose underlay veth keeps tx offload on sends its TSO packets unsegmented:
// one VXLAN datagram of up to 64 KiB per TCP GSO packet (UDP tunnel GSO the veth never cuts). The
// underlay socket takes such a datagram whole and, the TUN taking GSO writes, hands its inner TCP
// packet to the TUN as it is, one GSO write, uncut and unsummed (the sha256 at the receiving pod
// checks the bytes), so bulk TCP reaches a vxroute pod intact, over the IPv4 and the IPv6 underlay, and back
// the other way (docs/decisions.md, "Receive: whole messages, cut into slots", and "Receive: a
// kernel peer's TSO packet goes to the TUN whole").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const MiB = 1 << 20;

describe('kernel node with tx offload on its veth ⇄ vxroute, bulk TCP (root, namespaces)', () => {
  let lab: Lab;
  let ours: LabNode;
  let kernel: LabNode;
  let daemon: VxrouteProcess;
  const wholeBuffers = async (family: 4 | 6) => (await daemon.counters()).udp.find((f) => f.family === family)?.groBuffers ?? 0;
  const counts = async () => {
    const c = await daemon.counters();
    const sum = (f: (w: (typeof c.workers)[number]) => number) => c.workers.reduce((a, w) => a + f(w), 0);
    return { wholeWrites: sum((w) => w.wholeTsoWrites), tunWrites: sum((w) => w.tunWrites), udpPackets: sum((w) => w.udp.packets), rxPackets: c.peers.reduce((a, p) => a + p.rxPackets, 0) };
  };

  // Packets our node refused to forward as longer than the pod's MTU (ip_forward's FragFails,
  // ip6_forward's InTooBigErrors): each one a TSO packet lost, and an ICMP error to the sender.
  const tooBig = async (family: 4 | 6) => {
    const [file, field] = family === 4 ? ['/proc/net/snmp', 'FragFails'] : ['/proc/net/snmp6', 'Ip6InTooBigErrors'];
    const lines = (await inNs(ours.ns, 'cat', [file])).trim().split('\n');
    if (family === 6) return Number(lines.find((l) => l.startsWith(`${field} `))!.split(/\s+/)[1]);
    const [names, values] = lines.filter((l) => l.startsWith('Ip: ')).map((l) => l.split(/\s+/));
    return Number(values[names.indexOf(field)]);
  };

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    ours = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel', 1, { txOffload: true });
    await lab.programKernelPeers();
    daemon = await lab.startVxroute(ours, await lab.writeSubnets(), ['--workers', '1']);
    await lab.ipv6Settled();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it.each([4, 6] as const)('carries bulk TCP from the kernel pod to ours over IPv%i, its unsegmented TSO packets written to the TUN whole, uncut', async (family) => {
    const buffersBefore = await wholeBuffers(family);
    const tooBigBefore = await tooBig(family);
    const before = await counts();
    const server = ours.pods[0];
    const t = await tcpTransfer(server.ns, family === 4 ? server.ip : server.ip6, kernel.pods[0].ns, 8 * MiB);
    expect(t.receivedBytes).toBe(8 * MiB);
    expect(t.receivedSha256).toBe(t.sentSha256);
    expect(await wholeBuffers(family)).toBeGreaterThan(buffersBefore);
    const after = await counts();
    const wholeWrites = after.wholeWrites - before.wholeWrites;
    // Most of the stream went as whole TSO packets of several segments each: one TUN write stands
    // for many packets, and the packets counted are the segments (at most an inner MTU of bytes each).
    expect(wholeWrites).toBeGreaterThan(8 * MiB / 65_536 / 4);
    // A TSO packet of a few segments that fits a slot is cut or written whole too, never handed on
    // as one packet longer than the inner MTU, which the node would refuse to forward.
    expect(await tooBig(family)).toBe(tooBigBefore);
    expect(after.tunWrites - before.tunWrites).toBeLessThan((after.rxPackets - before.rxPackets) / 4);
    expect(after.rxPackets - before.rxPackets).toBeGreaterThanOrEqual(8 * MiB / 1500);
    expect(after.udpPackets - before.udpPackets).toBeGreaterThanOrEqual(after.rxPackets - before.rxPackets);
  });

  it.each([4, 6] as const)('carries bulk TCP from our pod to the kernel pod over IPv%i', async (family) => {
    const server = kernel.pods[0];
    const t = await tcpTransfer(server.ns, family === 4 ? server.ip : server.ip6, ours.pods[0].ns, 8 * MiB);
    expect(t.receivedBytes).toBe(8 * MiB);
    expect(t.receivedSha256).toBe(t.sentSha256);
  });

  it('drops nothing as oversize', async () => {
    const drops = (await daemon.counters()).drops;
    expect(drops.oversize_datagram).toBe(0);
    expect(drops.truncated + drops.malformed_inner).toBe(0);
  });
});
