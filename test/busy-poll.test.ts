// `vxroute run --busy-poll`: two vxroute nodes whose shards keep polling without sleeping after
// traffic still carry pings and a TCP stream intact, and stop cleanly on SIGTERM while spinning.
// All inside namespaces this test creates (see src/lab/lab.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const MiB = 1 << 20;

describe('vxroute run --busy-poll', () => {
  let lab: Lab;
  let a: LabNode;
  let b: LabNode;
  const daemons: VxrouteProcess[] = [];

  beforeAll(async () => {
    lab = await Lab.create();
    a = await lab.addNode('vxroute');
    b = await lab.addNode('vxroute');
    const subnets = await lab.writeSubnets();
    for (const n of [a, b]) daemons.push(await lab.startVxroute(n, subnets, ['--workers', '2', '--busy-poll', '200']));
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('forwards pings and a TCP stream', async () => {
    const r = await ping(a.pods[0].ns, b.pods[0].ip, 20, 0.01);
    expect(r.received).toBe(20);
    const t = await tcpTransfer(b.pods[0].ns, b.pods[0].ip, a.pods[0].ns, 16 * MiB);
    expect(t.receivedBytes).toBe(16 * MiB);
    expect(t.receivedSha256).toBe(t.sentSha256);
    for (const d of daemons) {
      const c = await d.counters();
      expect(Object.values(c.drops).reduce((x, y) => x + y, 0)).toBe(0);
    }
  });

  it('exits cleanly on SIGTERM while traffic flows (its shards spinning)', async () => {
    const received = async () => (await daemons[1].counters()).peers.reduce((x, p) => x + p.rxPackets, 0);
    const before = await received();
    const pinging = ping(a.pods[0].ns, b.pods[0].ip, 500, 0.002);
    for (let i = 0; (await received()) < before + 10; i++) {
      if (i === 200) throw new Error('no pings reached the second node');
      await new Promise((r) => setTimeout(r, 25));
    }
    const exits = await Promise.all(daemons.map((d) => d.stop()));
    await pinging;
    for (const e of exits) expect(e).toEqual({ code: 0, signal: null });
  });
});
