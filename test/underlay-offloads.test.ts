// vxroute ↔ vxroute over an underlay that keeps the transmit offloads a NIC has (the bench's
// setting): vxroute's UDP GSO runs cross the veths unsegmented, the receiving socket still gets
// them one datagram at a time, and every inner checksum vxroute writes is complete, so nothing is
// dropped and nothing needs finishing. All inside namespaces this test creates (src/lab/lab.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { tcpTransfer, udpDatagram } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const MiB = 1 << 20;

// Router mode (TUN) and switch mode (TAP, one Ethernet segment) alike.
describe.each([['router'], ['switch']] as const)('vxroute ↔ vxroute in %s mode, underlay tx offloads on', (mode) => {
  let lab: Lab;
  let a: LabNode;
  let b: LabNode;
  let da: VxrouteProcess;
  let db: VxrouteProcess;

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4], pods: [4], segment: mode === 'switch' });
    a = await lab.addNode('vxroute', 1, { txOffload: true });
    b = await lab.addNode('vxroute', 1, { txOffload: true });
    const subnets = await lab.writeSubnets();
    // The UDP GSO send is what this tests: the tunnel-GSO send path (tested in
    // tunnel-gso-send.test.ts) would leave nearly no run to it.
    const flags = ['--workers', '2', '--send-path', 'cut', ...(mode === 'switch' ? ['--mode', 'switch'] : [])];
    da = await lab.startVxroute(a, subnets, flags);
    db = await lab.startVxroute(b, subnets, flags);
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('carries 64 MiB of TCP each way intact, sent in GSO runs, received datagram by datagram', async () => {
    for (const [from, to, sender, receiver] of [[a, b, da, db], [b, a, db, da]] as const) {
      const before = [await sender.counters(), await receiver.counters()];
      const t = await tcpTransfer(to.pods[0].ns, to.pods[0].ip, from.pods[0].ns, 64 * MiB);
      expect(t.receivedBytes).toBe(64 * MiB);
      expect(t.receivedSha256).toBe(t.sentSha256);
      const [s, r] = [await sender.counters(), await receiver.counters()];
      expect(s.udp[0].gsoRuns - before[0].udp[0].gsoRuns, 'runs sent as one GSO message').toBeGreaterThan(0);
      // 64 MiB in datagrams of at most 1,450 bytes: the receiver counted each one, not each run.
      expect(r.peers[0].rxPackets - before[1].peers[0].rxPackets).toBeGreaterThan((64 * MiB) / 1450);
      for (const c of [s, r]) {
        expect(c.drops).toEqual(Object.fromEntries(Object.keys(c.drops).map((k) => [k, 0])));
        expect(c.workers.reduce((x, w) => x + w.checksumsFinished, 0)).toBe(0);
      }
    }
  });

  it('carries a UDP datagram intact', async () => {
    const d = await udpDatagram(a.pods[0].ns, b.pods[0].ns, b.pods[0].ip, 1200);
    expect(d.received?.length).toBe(1200);
    expect(d.received?.sha256).toBe(d.sentSha256);
  });
});
