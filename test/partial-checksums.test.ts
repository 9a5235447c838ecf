// A kernel VXLAN node whose underlay is a veth with tx checksum offload on (containers as nodes on
// one host) hands over inner TCP/UDP packets whose checksum holds only the pseudo-header sum: the
// veth carries CHECKSUM_PARTIAL across, where a NIC would have finished it on the wire. vxroute
// finishes them before the TUN write, with and without the TUN offloads, and counts them.
// Such a sender's TSO packets arrive as one VXLAN datagram of up to 64 KiB, UDP tunnel GSO the
// veth never segments: larger than any receive slot, they are dropped as oversize_datagram with
// one warning naming the fix (docs/decisions.md, "Unfinished inner checksums").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import { tcpTransfer, udpDatagram } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

describe.each([false, true])('kernel node with tx offload on its veth → vxroute, TUN offloads off: %s', (plain) => {
  let lab: Lab;
  let ours: LabNode;
  let kernel: LabNode;
  let daemon: VxrouteProcess;
  const finished = async () => (await daemon.counters()).workers.reduce((a, w) => a + w.checksumsFinished, 0);

  beforeAll(async () => {
    lab = await Lab.create();
    ours = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel', 1, { txOffload: true });
    await lab.programKernelPeers();
    daemon = await lab.startVxroute(ours, await lab.writeSubnets(), plain ? ['--no-tun-offload'] : []);
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('carries TCP from the kernel node intact, finishing the checksums it left partial', async () => {
    const before = await finished();
    const t = await tcpTransfer(ours.pods[0].ns, ours.pods[0].ip, kernel.pods[0].ns, 1000);
    expect(t.receivedBytes).toBe(1000);
    expect(t.receivedSha256).toBe(t.sentSha256);
    expect(await finished()).toBeGreaterThan(before);
    const metrics = (await daemon.get('/metrics')).body;
    expect(metrics).toMatch(/vxroute_tun_checksums_finished_total\{[^}]*\} [1-9]/);
  });

  it('carries a UDP datagram from the kernel node intact', async () => {
    const before = await finished();
    const r = await udpDatagram(kernel.pods[0].ns, ours.pods[0].ns, ours.pods[0].ip, 1000);
    expect(r.received).toEqual({ length: 1000, sha256: r.sentSha256, from: kernel.pods[0].ip });
    expect(await finished()).toBe(before + 1);
  });

  it('drops nothing', async () => {
    const drops = (await daemon.counters()).drops;
    expect(Object.values(drops).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('counts bulk TCP from the kernel node, whose TSO packets arrive unsegmented, as oversize_datagram and says once how to fix the sender', async () => {
    const before = (await daemon.counters()).drops.oversize_datagram;
    const warned = (l: { msg: string }) => l.msg.includes('ethtool -K <underlay> tx off');
    // The stream stalls once its first TSO packet is dropped: both ends are bounded by `timeout`.
    const transfer = Promise.all([
      tryInNs(ours.pods[0].ns, 'timeout', ['20', 'socat', '-u', 'TCP-LISTEN:5301,reuseaddr', '/dev/null']),
      tryInNs(kernel.pods[0].ns, 'timeout', ['15', 'sh', '-c', `head -c 4000000 /dev/zero | socat -u - TCP:${ours.pods[0].ip}:5301,retry=50,interval=0.1`]),
    ]);
    try {
      await expect.poll(async () => (await daemon.counters()).drops.oversize_datagram, { timeout: 15_000 }).toBeGreaterThan(before);
      await daemon.waitForLog(warned, 15_000);
    } finally {
      await transfer;
    }
    expect(daemon.logs.filter(warned)).toHaveLength(1);
  });
});
