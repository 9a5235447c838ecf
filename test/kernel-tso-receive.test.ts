// A kernel VXLAN node whose underlay veth keeps tx offload on sends its TSO packets unsegmented:
// one VXLAN datagram of up to 64 KiB per TCP GSO packet (UDP tunnel GSO the veth never cuts). The
// underlay socket takes such a datagram whole and, the TUN taking GSO writes, hands its inner TCP
// packet to the TUN as it is, one GSO write, uncut and unsummed (the sha256 at the receiving pod
// checks the bytes), so bulk TCP reaches a vxroute pod intact, over the IPv4 and the IPv6 underlay, and back
// the other way (docs/decisions.md, "Receive: whole messages, cut into slots", and "Receive: a
// kernel peer's TSO packet goes to the TUN whole").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { parseIpv4 } from '../src/address/ip-text.js';
import { parseMac } from '../src/address/mac-text.js';
import { inNs } from '../src/lab/netns.js';
import { sendDatagrams, tcpTransfer } from '../src/lab/traffic.js';
import { ENCAP_LEN, ETHERTYPE_IPV4, VXLAN_HEADER_LEN } from '../src/packet/constants.js';
import { writeEthernetHeader } from '../src/packet/ethernet.js';
import { writeIpv4Header } from '../src/packet/ipv4.js';
import { writeVxlanHeader } from '../src/packet/vxlan.js';
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

  it('counts a whole TSO packet the TUN refuses as the segments it stands for (tun_write_error)', async () => {
    // What the kernel node's TSO packet looks like on the wire: VXLAN, Ethernet, IPv4 with DF, TCP
    // ACK with 5,000 bytes (4 segments of the inner MTU's 1,410) and the checksum field the
    // pseudo-header sum (RFC 9293 §3.1) the sender's TCP leaves for segmentation.
    const payload = 5000;
    const tcpLen = 20 + payload;
    const frame = Buffer.alloc(ENCAP_LEN + 20 + tcpLen, 0x5a);
    writeVxlanHeader(frame, 0, 1);
    writeEthernetHeader(frame, VXLAN_HEADER_LEN, parseMac(ours.vtepMAC), parseMac(kernel.vtepMAC), ETHERTYPE_IPV4);
    const [src, dst] = [parseIpv4(kernel.pods[0].ip), parseIpv4(ours.pods[0].ip)];
    writeIpv4Header(frame, ENCAP_LEN, 20 + tcpLen, 1, 64, 6, src, dst, true);
    const tcp = ENCAP_LEN + 20;
    frame.writeUInt32BE(0x9c401451, tcp); // ports 40000 → 5201
    frame.writeUInt32BE(1, tcp + 4);
    frame.writeUInt32BE(1, tcp + 8);
    frame[tcp + 12] = 5 << 4;
    frame[tcp + 13] = 0x10; // ACK
    frame.writeUInt16BE(0xffff, tcp + 14);
    let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + tcpLen;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    frame.writeUInt16BE(sum, tcp + 16);
    frame.writeUInt16BE(0, tcp + 18);

    const before = await daemon.counters();
    const routes = (family: 4 | 6) => inNs(ours.ns, 'ip', [`-${family}`, 'route', 'show', 'dev', 'vxroute0']);
    const [routes4, routes6] = [await routes(4), await routes(6)];
    await inNs(ours.ns, 'ip', ['link', 'set', 'vxroute0', 'down']); // a TUN that is down refuses writes (EIO)
    try {
      // Larger than the underlay's MTU, the datagram leaves in IP fragments and reaches our socket reassembled, whole.
      await sendDatagrams(kernel.ns, kernel.publicIP, ours.publicIP, 8472, [frame]);
      await expect.poll(async () => (await daemon.counters()).drops.tun_write_error, { timeout: 10_000 }).toBe(before.drops.tun_write_error + 4);
    } finally {
      await inNs(ours.ns, 'ip', ['link', 'set', 'vxroute0', 'up']);
      for (const [family, lines] of [[4, routes4], [6, routes6]] as const) {
        for (const line of lines.trim().split('\n').filter((l) => l !== '')) await inNs(ours.ns, 'ip', [`-${family}`, 'route', 'replace', ...line.trim().split(/\s+/), 'dev', 'vxroute0']);
      }
    }
    const after = await daemon.counters();
    const wholeWrites = (c: typeof after) => c.workers.reduce((a, w) => a + w.wholeTsoWrites, 0);
    const rxPackets = (c: typeof after) => c.peers.reduce((a, p) => a + p.rxPackets, 0);
    expect(wholeWrites(after)).toBe(wholeWrites(before));
    // It was received as the 4 packets it stands for, and refused as as many: the counts agree.
    expect(rxPackets(after) - rxPackets(before)).toBe(4);
  });

  it('drops nothing as oversize', async () => {
    const drops = (await daemon.counters()).drops;
    expect(drops.oversize_datagram).toBe(0);
    expect(drops.truncated + drops.malformed_inner).toBe(0);
  });
});
