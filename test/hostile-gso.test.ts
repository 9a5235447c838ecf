// A pod with CAP_NET_RAW (a container's default) writes its own virtio_net_hdr: an AF_PACKET
// socket with PACKET_VNET_HDR floods malformed GSO packets toward a pod on another node, through
// the vxroute node's TUN. The daemon keeps running and forwarding, and what reaches it malformed
// is dropped under its own reason.
//
// What the kernel lets through to the TUN (Linux 6.18, measured with this test's flooder): it
// refuses at send() a TCP data offset below 5, csum_start inside the IP header or past the end,
// a csum_offset that is not TCP's, hdr_len past the end, gso_size 0 or larger than the packet,
// a GSO type of the other family and a GSO packet that is not TCP (virtio_net_hdr_to_skb and
// tcp_gso_segment); it drops on the node IP total lengths that disagree with the frame (ip_rcv);
// it segments ECN GSO itself (the TUN lacks TSO_ECN); a data offset past the end goes as a
// plain packet. It hands over as TSO a packet with a short hdr_len, without NEEDS_CSUM, with
// gso_size 1 (cut into 1-byte segments, as the kernel itself would) — and an IPv4 fragment,
// which is no TSO packet: that one is dropped as bad_gso. The C++ unit test
// (src/native/offload-parsers.test.ts) covers every kind the kernel stops before us.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const FLOODER = new URL('./fixtures/vnet-hdr-flood.py', import.meta.url).pathname;
const REFUSED_BY_KERNEL = [
  'tcp_doff_4', 'tcp_doff_0', 'csum_start_in_ip_header', 'csum_start_past_end', 'csum_offset_not_tcp', 'hdr_len_past_end',
  'gso_size_0', 'gso_size_huge', 'gso_tcpv6_on_ipv4', 'not_tcp', 'ip_total_length_short', 'ip_total_length_long', 'ecn', 'tcp_doff_past_end',
];
const CUT = ['good', 'hdr_len_short', 'no_needs_csum', 'gso_size_1'];
const MiB = 1 << 20;

type Report = Record<string, { sent: number; refused: string | null }>;

describe('hostile GSO packets from a pod (PACKET_VNET_HDR)', () => {
  let lab: Lab;
  let ours: LabNode;
  let peer: LabNode;
  let daemon: VxrouteProcess;
  let flood: (count: number, kinds: string[]) => Promise<Report>;

  beforeAll(async () => {
    lab = await Lab.create();
    ours = await lab.addNode('vxroute');
    peer = await lab.addNode('kernel');
    await lab.programKernelPeers();
    daemon = await lab.startVxroute(ours, await lab.writeSubnets());
    const pod = ours.pods[0];
    const podMac = (await inNs(pod.ns, 'cat', ['/sys/class/net/eth0/address'])).trim();
    const gatewayMac = (await inNs(ours.ns, 'cat', ['/sys/class/net/cni0/address'])).trim();
    flood = async (count, kinds) =>
      JSON.parse(await inNs(pod.ns, 'python3', [FLOODER, 'eth0', podMac, gatewayMac, pod.ip, peer.pods[0].ip, String(count), ...kinds])) as Report;
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('drops the malformed packets that reach the TUN as bad_gso, and pings get through during the flood', async () => {
    const before = await daemon.counters();
    const during = ping(ours.pods[0].ns, peer.pods[0].ip, 20, 0.1);
    const report = await flood(100, ['ip_fragment', ...REFUSED_BY_KERNEL]);
    const cut = await flood(10, CUT);
    expect((await during).received).toBeGreaterThan(0);
    expect(report.ip_fragment.sent).toBe(100);
    for (const kind of CUT) expect(cut[kind].sent, kind).toBe(10);
    await expect.poll(async () => (await daemon.counters()).drops.bad_gso, { timeout: 10_000 }).toBeGreaterThan(before.drops.bad_gso);
    const after = await daemon.counters();
    expect(after.drops.bad_gso - before.drops.bad_gso).toBeLessThanOrEqual(100);
    // The hostile-but-legal shapes were cut as TSO packets, not dropped.
    expect(after.workers.reduce((a, w) => a + w.tsoPackets, 0)).toBeGreaterThan(before.workers.reduce((a, w) => a + w.tsoPackets, 0));
    for (const reason of ['bad_vnet_hdr', 'bad_tso_headers', 'malformed_inner'] as const) expect(after.drops[reason], reason).toBe(before.drops[reason]);
    const metrics = (await daemon.get('/metrics')).body;
    expect(metrics).toContain(`vxroute_dropped_packets_total{reason="bad_gso"} ${after.drops.bad_gso}\n`);
  });

  it('keeps running and forwarding after the flood: ping and an intact TCP transfer both ways', async () => {
    expect((await daemon.readyz()).status).toBe(200);
    expect((await ping(ours.pods[0].ns, peer.pods[0].ip, 3, 0.05)).received).toBe(3);
    const out = await tcpTransfer(peer.pods[0].ns, peer.pods[0].ip, ours.pods[0].ns, 4 * MiB);
    expect(out.receivedSha256).toBe(out.sentSha256);
    const back = await tcpTransfer(ours.pods[0].ns, ours.pods[0].ip, peer.pods[0].ns, 4 * MiB);
    expect(back.receivedSha256).toBe(back.sentSha256);
    expect(daemon.logs.filter((l) => l.level >= 50)).toEqual([]);
  });
});
