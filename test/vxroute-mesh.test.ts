// vxroute on every node: pods on 2 and on 3 nodes reach each other, and a 64 MiB TCP stream
// arrives intact. All inside namespaces this test creates (see src/lab/lab.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const MiB = 1 << 20;

// Three nodes run with the TUN offloads, two without (--no-tun-offload): both ways must carry the same bytes.
describe.each([[2, false], [3, true]])('vxroute ↔ vxroute, %i nodes, TUN offloads off: %s', (count, plain) => {
  let lab: Lab;
  let nodes: LabNode[];
  const daemons: VxrouteProcess[] = [];

  beforeAll(async () => {
    lab = await Lab.create();
    nodes = [];
    for (let i = 0; i < count; i++) nodes.push(await lab.addNode('vxroute', 2));
    const subnets = await lab.writeSubnets();
    for (const n of nodes) daemons.push(await lab.startVxroute(n, subnets, ['--workers', '2', ...(plain ? ['--no-tun-offload'] : [])]));
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('pings between every pair of pods on different nodes', async () => {
    const pods = nodes.flatMap((n) => n.pods.map((p) => ({ node: n, ...p })));
    for (const a of pods) {
      for (const b of pods) {
        if (a.node === b.node) continue;
        const r = await ping(a.ns, b.ip, 2, 0.05);
        expect(r.received, `${a.ip} → ${b.ip}`).toBe(2);
      }
    }
    // Every daemon sent to and heard from every other node.
    for (const d of daemons) {
      const c = await d.counters();
      expect(c.peers).toHaveLength(count - 1);
      for (const p of c.peers) {
        expect(p.txPackets).toBeGreaterThan(0);
        expect(p.rxPackets).toBeGreaterThan(0);
      }
      expect(Object.values(c.drops).reduce((x, y) => x + y, 0)).toBe(0);
    }
  });

  it('carries a 64 MiB TCP transfer intact', async () => {
    const [a, b] = [nodes[0], nodes[count - 1]];
    const before = await daemons[0].counters();
    const r = await tcpTransfer(a.pods[0].ns, a.pods[0].ip, b.pods[1].ns, 64 * MiB);
    expect(r.receivedBytes).toBe(64 * MiB);
    expect(r.receivedSha256).toBe(r.sentSha256);
    // The receiving daemon wrote segment by segment without offloads, in GSO runs with them.
    const after = await daemons[0].counters();
    const writes = after.workers.reduce((x, w) => x + w.tunWrites, 0) - before.workers.reduce((x, w) => x + w.tunWrites, 0);
    const received = after.peers.reduce((x, p) => x + p.rxPackets, 0) - before.peers.reduce((x, p) => x + p.rxPackets, 0);
    if (plain) expect(writes).toBe(received);
    else expect(writes).toBeLessThan(received / 4);
  });
});
