// What an operator sees of a running daemon, checked against traffic of known size: exact
// per-peer counts in /debug/counters, /metrics and /debug/peers; `vxroute trace` naming the
// decision for each packet; `vxroute top` as JSON and drawn in a real pseudo-terminal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CounterSnapshot } from '../src/datapath/counter-snapshot.js';
import type { PeersView } from '../src/metrics/debug-peers.js';
import type { TraceRecord } from '../src/metrics/trace-decode.js';
import type { TopSample } from '../src/cli/top-sample.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { ping, sendDatagrams, udpDatagram } from '../src/lab/traffic.js';
import { tryInNs } from '../src/lab/netns.js';
import { spawnCli } from '../src/lab/vxroute-cli.js';
import { cliPath, type VxrouteProcess } from '../src/lab/vxroute-process.js';
import { vxlanFrame } from './frames.js';

const ADDR = '127.0.0.1:9475';

/** The Prometheus text exposition as { 'name{labels}': value }. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('counters, /metrics, trace and top', () => {
  let lab: Lab;
  let ours: LabNode;
  let peer: LabNode;
  let daemon: VxrouteProcess;

  beforeAll(async () => {
    lab = await Lab.create();
    ours = await lab.addNode('vxroute');
    peer = await lab.addNode('kernel');
    await lab.programKernelPeers();
    daemon = await lab.startVxroute(ours, await lab.writeSubnets(), ['--workers', '2']);
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('counts exactly N pings and M datagrams, the same in every view', async () => {
    const N = 7;
    const S = 100; // ICMP payload: 128-byte IP packets
    const M = 5;
    const P = 333; // UDP payload: 361-byte IP packets
    const before = (await daemon.counters()).peers.find((p) => p.name === peer.name)!;
    expect((await ping(ours.pods[0].ns, peer.pods[0].ip, N, 0.02, S)).received).toBe(N);
    for (let i = 0; i < M; i++) expect((await udpDatagram(ours.pods[0].ns, peer.pods[0].ns, peer.pods[0].ip, P)).received?.length).toBe(P);

    const c = await daemon.counters();
    const p = c.peers.find((x) => x.name === peer.name)!;
    expect(p.txPackets - before.txPackets).toBe(N + M);
    expect(p.txBytes - before.txBytes).toBe(N * (28 + S) + M * (28 + P));
    expect(p.rxPackets - before.rxPackets).toBe(N);
    expect(p.rxBytes - before.rxBytes).toBe(N * (28 + S));
    expect(Date.now() - p.lastSeen!).toBeLessThan(10_000);
    expect(Object.values(c.drops).every((v) => v === 0)).toBe(true);

    // Nothing moves now: every view reads the same totals.
    const metrics = parseMetrics((await daemon.get('/metrics')).body);
    const label = `{peer="${peer.name}"}`;
    expect(metrics.get(`vxroute_tx_packets_total${label}`)).toBe(p.txPackets);
    expect(metrics.get(`vxroute_tx_bytes_total${label}`)).toBe(p.txBytes);
    expect(metrics.get(`vxroute_rx_packets_total${label}`)).toBe(p.rxPackets);
    expect(metrics.get(`vxroute_rx_bytes_total${label}`)).toBe(p.rxBytes);
    expect(metrics.get(`vxroute_peer_last_seen_timestamp_seconds${label}`)).toBe(p.lastSeen! / 1000);
    expect(metrics.get('vxroute_dropped_packets_total{reason="no_route"}')).toBe(0);
    expect(metrics.get('vxroute_peers')).toBe(1);
    expect(metrics.get('vxroute_ready')).toBe(1);
    // The memory gauges are refreshed by each worker once a second, so one may have moved
    // between the two reads: the scrape shows the value before or the value after.
    const later = await daemon.counters();
    for (const w of c.workers) {
      const then = later.workers[w.index];
      expect([w.heapUsed, then.heapUsed]).toContain(metrics.get(`vxroute_worker_heap_used_bytes{worker="${w.index}"}`));
      expect(w.heapUsed).toBeGreaterThan(1 << 20); // reported: a live V8 heap is megabytes
      expect([w.gcs, then.gcs]).toContain(metrics.get(`vxroute_worker_gc_total{worker="${w.index}"}`));
    }
    for (const w of c.workers) {
      for (const d of ['tun', 'udp'] as const) {
        const l = `worker="${w.index}",direction="${d}"`;
        expect(metrics.get(`vxroute_batches_total{${l}}`)).toBe(w[d].batches);
        expect(metrics.get(`vxroute_batch_size_count{${l}}`)).toBe(w[d].batches);
        expect(metrics.get(`vxroute_batch_size_sum{${l}}`)).toBe(w[d].packets);
        expect(metrics.get(`vxroute_batch_size_bucket{${l},le="+Inf"}`)).toBe(w[d].batches);
        expect(w[d].sizes.reduce((a, b) => a + b, 0)).toBe(w[d].batches);
      }
    }
    // Every packet the workers read is in some batch: at least what went to and came from the peer.
    const read = (d: 'tun' | 'udp') => c.workers.reduce((a, w) => a + w[d].packets, 0);
    expect(read('tun')).toBeGreaterThanOrEqual(p.txPackets);
    expect(read('udp')).toBeGreaterThanOrEqual(p.rxPackets);

    const peers = JSON.parse((await daemon.get('/debug/peers')).body) as PeersView;
    expect(peers.self).toMatchObject({ name: ours.name, podCIDR: ours.podCIDR, publicIP: ours.publicIP });
    expect(peers.peers).toEqual([
      {
        name: peer.name, podCIDR: peer.podCIDR, podCIDRv6: null, publicIP: peer.publicIP, publicIPv6: null, vtepMAC: peer.vtepMAC, vtepMACv6: expect.any(String),
        txPackets: p.txPackets, txBytes: p.txBytes, rxPackets: p.rxPackets, rxBytes: p.rxBytes, lastSeen: new Date(p.lastSeen!).toISOString(),
      },
    ]);
  });

  it('traces packets with the decision taken for each', async () => {
    const trace = spawnCli(ours.ns, ['trace', '--addr', ADDR, '--count', '4', '--peer', peer.name, '--json']);
    let out = '';
    trace.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await new Promise((r) => setTimeout(r, 500)); // the trace is on once its request is in
    expect((await ping(ours.pods[0].ns, peer.pods[0].ip, 2, 0.05)).received).toBe(2);
    await new Promise((r) => trace.once('close', r));
    const records = out.trim().split('\n').map((l) => JSON.parse(l) as TraceRecord);
    const requests = records.filter((r) => r.direction === 'to-peer');
    const replies = records.filter((r) => r.direction === 'from-peer');
    expect(requests).toHaveLength(2);
    expect(replies).toHaveLength(2);
    for (const r of requests) {
      expect(r).toMatchObject({ verdict: 'encapsulated', peer: peer.name, length: 84, inner: { src: ours.pods[0].ip, dst: peer.pods[0].ip, protocol: 1, icmpType: 8 } });
    }
    for (const r of replies) {
      expect(r).toMatchObject({
        verdict: 'delivered', peer: peer.name, length: 22 + 84,
        outer: { src: peer.publicIP, vni: 1, flags: 0x08, innerSrcMac: peer.vtepMAC, innerDstMac: ours.vtepMAC },
        inner: { src: peer.pods[0].ip, dst: ours.pods[0].ip, protocol: 1, icmpType: 0 },
      });
    }
    // Off again once the trace is done: a new one is accepted (not 409) and sees only what comes after it.
    const next = spawnCli(ours.ns, ['trace', '--addr', ADDR, '--count', '1', '--json']);
    let line = '';
    next.stdout!.setEncoding('utf8').on('data', (d: string) => (line += d));
    await new Promise((r) => setTimeout(r, 500));
    expect((await ping(ours.pods[0].ns, peer.pods[0].ip, 1, 0.05)).received).toBe(1);
    expect(await new Promise((r) => next.once('close', r))).toBe(0);
    expect(JSON.parse(line)).toMatchObject({ direction: 'to-peer', verdict: 'encapsulated', inner: { icmpType: 8 } });
  });

  it('traces only drops with --drops-only, in text, naming the reason', async () => {
    const trace = spawnCli(ours.ns, ['trace', '--addr', ADDR, '--count', '2', '--drops-only']);
    let out = '';
    trace.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await new Promise((r) => setTimeout(r, 500));
    expect((await ping(ours.pods[0].ns, peer.pods[0].ip, 1, 0.05)).received).toBe(1); // forwarded: not shown
    const frame = vxlanFrame({ vni: 2, dstMac: ours.vtepMAC, srcMac: peer.vtepMAC, src: peer.pods[0].ip, dst: ours.pods[0].ip });
    await sendDatagrams(peer.ns, peer.publicIP, ours.publicIP, 8472, [frame, frame]);
    await new Promise((r) => trace.once('close', r));
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatch(new RegExp(`← ${peer.name}\\s+dropped wrong_vni\\s+from ${peer.publicIP} VNI 2 .* ${peer.pods[0].ip} > ${ours.pods[0].ip} UDP 40000 > 9`));
    }
  });

  it('refuses a second trace while one runs, with a clear message', async () => {
    const first = spawnCli(ours.ns, ['trace', '--addr', ADDR, '--count', '1000']);
    await new Promise((r) => setTimeout(r, 500));
    const second = await tryInNs(ours.ns, process.execPath, [cliPath(), 'trace', '--addr', ADDR]);
    first.kill('SIGINT');
    await new Promise((r) => first.once('close', r));
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/answered .* with 409: another trace is running/);
  });

  it('prints one top snapshot as JSON with the counters’ numbers when not on a terminal', async () => {
    const r = await tryInNs(ours.ns, process.execPath, [cliPath(), 'top', '--addr', ADDR, '--interval', '0.3', '--json']);
    expect(r.code).toBe(0);
    const top = JSON.parse(r.stdout) as TopSample;
    const c = await daemon.counters();
    const p = c.peers[0];
    expect(top.node).toBe(ours.name);
    expect(top.peers).toHaveLength(1);
    expect(top.peers[0]).toMatchObject({ name: p.name, txPackets: p.txPackets, txBytes: p.txBytes, rxPackets: p.rxPackets, rxBytes: p.rxBytes });
    expect(top.peers[0].txPacketsPerSecond).toBe(0); // nothing flowed during the interval
    expect(top.drops).toEqual([{ reason: 'wrong_vni', total: c.drops.wrong_vni, perSecond: 0 }]);
    expect(top.workers.map((w) => w.index)).toEqual([0, 1]);
  });

  it('draws live rates in a terminal while traffic flows, and quits on q', async () => {
    const top = spawnCli(ours.ns, ['top', '--addr', ADDR, '--interval', '0.5'], { tty: true });
    let screen = '';
    top.stdout!.setEncoding('utf8').on('data', (d: string) => (screen += d));
    const flood = ping(ours.pods[0].ns, peer.pods[0].ip, 200, 0.01);
    // A frame whose peer row shows a nonzero rate both ways.
    const live = new RegExp(`\\n${peer.name}\\s+([\\d.]+[kM]?)\\s+([\\d.]+[kM]?)\\s+([\\d.]+[kM]?)\\s+([\\d.]+[kM]?)\\s+0\\.\\ds ago`);
    const deadline = Date.now() + 10_000;
    let match: RegExpExecArray | null = null;
    while (Date.now() < deadline && !(match = [...screen.split('\x1b[H\x1b[2J')].reverse().map((f) => live.exec(f)).find((m) => m && Number(m[1].replace(/[kM]/, '')) > 0) ?? null)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(match, screen.slice(-2000)).not.toBeNull();
    expect(screen).toContain('\x1b[?1049h'); // drawn on the alternate screen
    top.stdin!.write('q');
    const code = await new Promise((r) => top.once('close', r));
    expect(code).toBe(0);
    expect(screen).toContain('\x1b[?1049l'); // and the terminal restored
    expect((await flood).received).toBe(200);
  }, 30_000);
});
