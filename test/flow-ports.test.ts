// Flows spread over shards: vxroute sends each inner flow from its own UDP source port, as the
// kernel's VXLAN does, so that a receiver's SO_REUSEPORT group hands different flows to different
// shards, and each shard's TUN queue gets the replies of the flows it wrote (the multi-queue TUN's
// flow steering). Two vxroute nodes with two workers each and a kernel node, in namespaces this
// test creates (src/lab/lab.ts); and a node with --source-ports fixed, whose datagrams all leave
// from the VXLAN port, with a per-flow node and a kernel node.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureFields } from '../src/lab/capture.js';
import { iperfJson } from '../src/lab/iperf.js';
import { Lab, type LabNode, type Pod } from '../src/lab/lab.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import type { CounterSnapshot } from '../src/datapath/counter-snapshot.js';

const STREAMS = 16;
const IPERF_PORT = 5201;

interface Streams {
  /** Bytes the server received, per stream. */
  received: number[];
}

/** `STREAMS` TCP streams of iperf3 at a few Mbit/s each for a second, client pod → server pod. */
async function streams(server: Pod, client: Pod): Promise<Streams> {
  const report = await iperfJson(server, client.ns, ['-P', String(STREAMS), '-t', '1', '-b', '4M'], IPERF_PORT);
  return { received: report.end.streams.map((s) => s.receiver.bytes) };
}

interface Datagram {
  outerSrc: string;
  udpSrcPort: number;
  /** The inner TCP connection, "sport>dport". */
  flow: string;
}

/** What arrives on `node`'s underlay over UDP 8472 while `during` runs. */
async function arriving(lab: Lab, node: LabNode, during: () => Promise<unknown>): Promise<Datagram[]> {
  const rows = await captureFields(node.ns, 'eth0', lab.dir, during, ['ip.src', 'udp.srcport', 'udp.dstport', 'tcp.srcport', 'tcp.dstport']);
  return rows
    .filter(([, , dport, tcpSrc]) => dport[0] === '8472' && tcpSrc[0] !== '')
    .map(([ips, sport, , tcpSrc, tcpDst]) => ({ outerSrc: ips[0], udpSrcPort: Number(sport[0]), flow: `${tcpSrc[0]}>${tcpDst[0]}` }));
}

/** Per worker, the VXLAN datagrams it received and the packets it read from its TUN queue between two snapshots. */
function perWorker(before: CounterSnapshot, after: CounterSnapshot): { udp: number; tun: number }[] {
  return after.workers.map((w, i) => ({ udp: w.udp.packets - before.workers[i].udp.packets, tun: w.tun.packets - before.workers[i].tun.packets }));
}

describe('flows spread over shards by their UDP source port', () => {
  let lab: Lab;
  let a: LabNode;
  let b: LabNode;
  let kernel: LabNode;
  let daemonB: VxrouteProcess;
  let localPorts: [number, number];

  beforeAll(async () => {
    lab = await Lab.create();
    a = await lab.addNode('vxroute');
    b = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel');
    await lab.programKernelPeers();
    const subnets = await lab.writeSubnets();
    await lab.startVxroute(a, subnets, ['--workers', '2']);
    daemonB = await lab.startVxroute(b, subnets, ['--workers', '2']);
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    localPorts = [low, high];
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('vxroute → vxroute: each TCP stream keeps one source port, the streams use several, and both receiving shards forward', async () => {
    const before = await daemonB.counters();
    let result: Streams | undefined;
    const datagrams = (await arriving(lab, b, async () => (result = await streams(b.pods[0], a.pods[0])))).filter((d) => d.outerSrc === a.publicIP);
    expect(result!.received).toHaveLength(STREAMS);
    for (const bytes of result!.received) expect(bytes).toBeGreaterThan(0);

    const portsOf = new Map<string, Set<number>>();
    for (const d of datagrams) portsOf.set(d.flow, (portsOf.get(d.flow) ?? new Set()).add(d.udpSrcPort));
    expect(portsOf.size).toBeGreaterThanOrEqual(STREAMS); // the streams and iperf3's control connection
    for (const [flow, ports] of portsOf) expect([...ports], flow).toHaveLength(1);
    const ports = new Set(datagrams.map((d) => d.udpSrcPort));
    expect(ports.size).toBeGreaterThanOrEqual(4);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(localPorts[0]);
      expect(port).toBeLessThanOrEqual(localPorts[1]);
    }

    // Both of B's shards received flows, and each read its flows' replies (ACKs) from its own TUN queue.
    const workers = perWorker(before, await daemonB.counters());
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      expect(w.udp).toBeGreaterThan(0);
      expect(w.tun).toBeGreaterThan(0);
    }
  });

  it('vxroute → kernel VXLAN: the kernel takes every stream from our spread source ports', async () => {
    let result: Streams | undefined;
    const datagrams = (await arriving(lab, kernel, async () => (result = await streams(kernel.pods[0], a.pods[0])))).filter((d) => d.outerSrc === a.publicIP);
    expect(result!.received).toHaveLength(STREAMS);
    for (const bytes of result!.received) expect(bytes).toBeGreaterThan(0);
    expect(new Set(datagrams.map((d) => d.udpSrcPort)).size).toBeGreaterThanOrEqual(4);
  });

});

describe('--source-ports fixed: every datagram from the VXLAN port', () => {
  let lab: Lab;
  let fixed: LabNode;
  let perFlow: LabNode;
  let kernel: LabNode;

  beforeAll(async () => {
    lab = await Lab.create();
    fixed = await lab.addNode('vxroute');
    perFlow = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel');
    await lab.programKernelPeers();
    const subnets = await lab.writeSubnets();
    await lab.startVxroute(fixed, subnets, ['--workers', '2', '--port', '8472', '--source-ports', 'fixed']);
    await lab.startVxroute(perFlow, subnets, ['--workers', '2']);
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  /** Every stream delivered its bytes. */
  const delivered = (result: Streams | undefined): void => {
    expect(result!.received).toHaveLength(STREAMS);
    for (const bytes of result!.received) expect(bytes).toBeGreaterThan(0);
  };

  it('vxroute with the flag ↔ vxroute without: its datagrams all leave from 8472, the peer\'s from several ports', async () => {
    let result: Streams | undefined;
    const datagrams = await arriving(lab, perFlow, async () => (result = await streams(perFlow.pods[0], fixed.pods[0])));
    delivered(result);
    const fromFixed = datagrams.filter((d) => d.outerSrc === fixed.publicIP);
    const fromPerFlow = datagrams.filter((d) => d.outerSrc === perFlow.publicIP);
    expect(new Set(fromFixed.map((d) => d.flow)).size).toBeGreaterThanOrEqual(STREAMS);
    expect(new Set(fromFixed.map((d) => d.udpSrcPort))).toEqual(new Set([8472]));
    expect(new Set(fromPerFlow.map((d) => d.flow)).size).toBeGreaterThanOrEqual(STREAMS); // the replies
    expect(new Set(fromPerFlow.map((d) => d.udpSrcPort)).size).toBeGreaterThanOrEqual(4);
  });

  it('vxroute with the flag ↔ kernel VXLAN, both ways: every stream arrives, ours all from 8472', async () => {
    for (const [server, client] of [[kernel, fixed], [fixed, kernel]] as const) {
      let result: Streams | undefined;
      const datagrams = await arriving(lab, fixed, async () => (result = await streams(server.pods[0], client.pods[0])));
      delivered(result);
      const ours = datagrams.filter((d) => d.outerSrc === fixed.publicIP);
      expect(new Set(ours.map((d) => d.flow)).size, `${client.name} → ${server.name}`).toBeGreaterThanOrEqual(STREAMS);
      expect(new Set(ours.map((d) => d.udpSrcPort))).toEqual(new Set([8472]));
      expect(datagrams.filter((d) => d.outerSrc === kernel.publicIP).length).toBeGreaterThan(0);
    }
  });
});
