// `--mtu` below what the underlay leaves (or a dual-stack underlay, where the device takes the
// smaller family's): a kernel peer's TSO packet arrives whole, without its own segment size, and
// is cut (or written to the TUN whole) at no more than our device's MTU, so that its segments
// still fit our pods' path. With the underlay's inner MTU instead, every segment of a bulk stream
// from the kernel node was too large for our pods' links, and the stream stalled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const MiB = 1 << 20;
const MTU = 1400;

describe.each([[[]], [['--no-tun-offload']]] as string[][][])('vxroute --mtu below the underlay\'s inner MTU %j, a kernel node sending (root, namespaces)', (extra) => {
  let lab: Lab;
  let ours: LabNode;
  let kernel: LabNode;
  let daemon: VxrouteProcess;

  beforeAll(async () => {
    lab = await Lab.create();
    ours = await lab.addNode('vxroute', 1, { txOffload: true });
    kernel = await lab.addNode('kernel', 1, { txOffload: true });
    // Our pods' path at the daemon's --mtu, as its CNI configuration would set it.
    await inNs(ours.ns, 'ip', ['link', 'set', 'cni0', 'mtu', String(MTU)]);
    await inNs(ours.ns, 'ip', ['link', 'set', 'vp0', 'mtu', String(MTU)]);
    await inNs(ours.pods[0].ns, 'ip', ['link', 'set', 'eth0', 'mtu', String(MTU)]);
    await lab.programKernelPeers();
    daemon = await lab.startVxroute(ours, await lab.writeSubnets(), ['--mtu', String(MTU), ...extra]);
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('carries 16 MiB from the kernel node\'s pod to ours intact, and a ping of our MTU from its pod', async () => {
    const t = await tcpTransfer(ours.pods[0].ns, ours.pods[0].ip, kernel.pods[0].ns, 16 * MiB);
    expect(t.receivedBytes).toBe(16 * MiB);
    expect(t.receivedSha256).toBe(t.sentSha256);
    expect((await ping(kernel.pods[0].ns, ours.pods[0].ip, 3, 0.05, MTU - 28)).received).toBe(3);
    const c = await daemon.counters();
    expect(Object.entries(c.drops).filter(([reason, n]) => n > 0 && reason !== 'multicast')).toEqual([]);
  });
});
