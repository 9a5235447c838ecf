// A kernel VXLAN node whose underlay is a veth with tx checksum offload on (containers as nodes on
// one host) hands over inner TCP/UDP packets whose checksum holds only the pseudo-header sum: the
// veth carries CHECKSUM_PARTIAL across, where a NIC would have finished it on the wire. vxroute
// finishes them before the TUN write, with and without the TUN offloads, and counts them.
// Such a sender's TSO packets arrive as one VXLAN datagram of up to 64 KiB, UDP tunnel GSO the
// veth never segments: the underlay socket takes them whole and cuts them (docs/decisions.md,
// "Unfinished inner checksums" and "Receive: whole messages, cut into slots").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
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

  it('carries bulk TCP from the kernel node, whose TSO packets arrive unsegmented, dropping none as oversize', async () => {
    const t = await tcpTransfer(ours.pods[0].ns, ours.pods[0].ip, kernel.pods[0].ns, 4_000_000);
    expect(t.receivedBytes).toBe(4_000_000);
    expect(t.receivedSha256).toBe(t.sentSha256);
    expect((await daemon.counters()).drops.oversize_datagram).toBe(0);
  });
});
