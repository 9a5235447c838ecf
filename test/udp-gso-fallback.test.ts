// A vxroute node whose IPv4 underlay refuses UDP GSO (EIO, as a device without transmit checksum
// offload did before Linux 6.11; test/gso-refusal.c stands in for that kernel) and a kernel VXLAN
// node, dual stack: nothing is lost, GSO goes off for IPv4 only, one log line says so, and once the
// refusal ends GSO comes back on by itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { ping, tcpTransfer, udpBurst } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { GsoRefusal } from './gso-refusal.js';

const MiB = 1 << 20;
const BURST = 200; // fits the TUN's queue (500) and the neighbour queue: no loss expected anywhere

/** The value of `name{labels}` in a Prometheus text exposition (undefined when absent). */
function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('UDP GSO refused on one underlay family (root, namespaces)', () => {
  let lab: Lab;
  let ours: LabNode;
  let kernel: LabNode;
  let daemon: VxrouteProcess;
  let refusal: GsoRefusal;

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    ours = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel');
    await lab.programKernelPeers();
    refusal = await GsoRefusal.build(lab.dir);
    // --send-path cut: this is the UDP GSO send's test; with the tunnel-GSO path TCP runs leave through the egress TAP.
    daemon = await lab.startVxroute(ours, await lab.writeSubnets(), ['--workers', '1', '--send-path', 'cut'], undefined, refusal.env);
    await lab.ipv6Settled();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  const metrics = async (): Promise<string> => (await daemon.get('/metrics')).body;
  const transfer = async (family: 4 | 6, bytes: number): Promise<void> => {
    const server = kernel.pods[0];
    const t = await tcpTransfer(server.ns, family === 4 ? server.ip : server.ip6, ours.pods[0].ns, bytes);
    expect(t.receivedBytes, `IPv${family} TCP`).toBe(bytes);
    expect(t.receivedSha256, `IPv${family} TCP`).toBe(t.sentSha256);
  };

  it('resends every refused run, turns GSO off for IPv4 only, logs it once, and turns it back on when the route segments again', async () => {
    for (const dst of [kernel.pods[0].ip, kernel.pods[0].ip6]) expect((await ping(ours.pods[0].ns, dst, 3, 0.05)).received).toBe(3);
    await transfer(4, 8 * MiB);
    await transfer(6, 4 * MiB);
    let m = await metrics();
    // The bed's veths have transmit checksum offload off, and this kernel segments UDP GSO anyway.
    expect(metric(m, 'vxroute_udp_gso_enabled', 'family="4"')).toBe(1);
    expect(metric(m, 'vxroute_udp_gso_enabled', 'family="6"')).toBe(1);
    expect(metric(m, 'vxroute_udp_gso_runs_total', 'family="4"')).toBeGreaterThan(0);
    const runs6 = metric(m, 'vxroute_udp_gso_runs_total', 'family="6"')!;
    expect(runs6).toBeGreaterThan(0);

    await refusal.refuse([4]);
    await transfer(4, 16 * MiB);
    const burst = await udpBurst(ours.pods[0].ns, kernel.pods[0].ns, kernel.pods[0].ip, BURST, 1000);
    expect(burst).toEqual({ received: BURST, intact: BURST });
    await transfer(6, 4 * MiB);
    m = await metrics();
    expect(metric(m, 'vxroute_udp_gso_enabled', 'family="4"')).toBe(0);
    expect(metric(m, 'vxroute_udp_gso_enabled', 'family="6"')).toBe(1);
    expect(metric(m, 'vxroute_udp_gso_fallbacks_total', 'family="4",reason="unsupported"')).toBeGreaterThan(0);
    expect(metric(m, 'vxroute_udp_gso_fallbacks_total', 'family="6",reason="unsupported"')).toBe(0);
    expect(metric(m, 'vxroute_udp_gso_runs_total', 'family="6"')).toBeGreaterThan(runs6);
    const offLines = daemon.logs.filter((l) => l.msg.startsWith('UDP GSO off'));
    expect(offLines).toHaveLength(1);
    expect(offLines[0]).toMatchObject({ level: 40, family: 4, errno: 'EIO' });
    expect((await daemon.counters()).drops).toMatchObject({ socket_error: 0 }); // no refused datagram was lost

    await refusal.allow();
    const deadline = Date.now() + 120_000;
    while (metric(await metrics(), 'vxroute_udp_gso_enabled', 'family="4"') !== 1) {
      if (Date.now() > deadline) throw new Error('UDP GSO did not come back on for IPv4 within 120 s');
      await transfer(4, 2 * MiB); // a try needs a run to send; every transfer must still be intact
    }
    const back = daemon.logs.filter((l) => l.msg.startsWith('UDP GSO back on'));
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ family: 4 });
  });
});
