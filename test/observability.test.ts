// What an operator sees of a running daemon, checked against traffic of known size: exact
// per-peer counts in /debug/counters, /metrics and /debug/peers, and the tunnel-GSO send path's
// counters after a TCP stream; `vxroute trace` naming the decision for each packet; `vxroute top`
// as JSON and drawn in a real pseudo-terminal.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CounterSnapshot } from '../src/datapath/counter-snapshot.js';
import type { PeersView } from '../src/metrics/debug-peers.js';
import type { TraceRecord } from '../src/metrics/trace-decode.js';
import type { TopSample } from '../src/cli/top-sample.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { ping, sendDatagrams, tcpTransfer, udpDatagram } from '../src/lab/traffic.js';
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

/** Runs `step` (traffic) again and again until `child` exits, at most `maxSteps` times; resolves with its exit code. */
async function driveUntilExit(child: ChildProcess, step: () => Promise<unknown>, maxSteps = 200): Promise<number | null> {
  let exit: { code: number | null } | undefined;
  const closed = new Promise<void>((resolve) =>
    child.once('close', (code: number | null) => {
      exit = { code };
      resolve();
    }),
  );
  for (let i = 0; i < maxSteps && exit === undefined; i++) await step();
  if (exit === undefined) child.kill('SIGKILL');
  await closed;
  expect(exit, `still running after ${maxSteps} rounds of traffic`).toBeDefined();
  return exit!.code;
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

  it("logs 'settled' after 'ready', once every worker runs and has reported its memory", async () => {
    const ready = await daemon.waitForLog((l) => l.msg === 'ready');
    const settled = await daemon.waitForLog((l) => l.msg === 'settled', 30_000);
    expect(settled.time as number).toBeGreaterThanOrEqual(ready.time as number);
    const c = await daemon.counters();
    expect(c.workers).toHaveLength(2);
    for (const w of c.workers) expect(w.heapCommitted, `worker ${w.index}`).toBeGreaterThan(1 << 20); // a live V8 heap is megabytes
  });

  it('counts exactly N pings and M datagrams, the same in every view', async () => {
    const N = 7;
    const S = 100; // ICMP payload: 128-byte IP packets
    const M = 5;
    const P = 333; // UDP payload: 361-byte IP packets
    const start = Date.now();
    const beforeAll = await daemon.counters();
    const before = beforeAll.peers.find((p) => p.name === peer.name)!;
    expect((await ping(ours.pods[0].ns, peer.pods[0].ip, N, 0.02, S)).received).toBe(N);
    for (let i = 0; i < M; i++) expect((await udpDatagram(ours.pods[0].ns, peer.pods[0].ns, peer.pods[0].ip, P)).received?.length).toBe(P);

    const c = await daemon.counters();
    const p = c.peers.find((x) => x.name === peer.name)!;
    expect(p.txPackets - before.txPackets).toBe(N + M);
    expect(p.txBytes - before.txBytes).toBe(N * (28 + S) + M * (28 + P));
    expect(p.rxPackets - before.rxPackets).toBe(N);
    expect(p.rxBytes - before.rxBytes).toBe(N * (28 + S));
    expect(p.lastSeen).toBeGreaterThanOrEqual(start); // a reply of these pings, not an older packet
    expect(p.lastSeen).toBeLessThanOrEqual(Date.now());
    expect(c.drops).toEqual(beforeAll.drops);

    // Nothing moves now: every view reads the same totals.
    const metrics = parseMetrics((await daemon.get('/metrics')).body);
    const later = await daemon.counters();
    const label = `{peer="${peer.name}"}`;
    expect(metrics.get(`vxroute_tx_packets_total${label}`)).toBe(p.txPackets);
    expect(metrics.get(`vxroute_tx_bytes_total${label}`)).toBe(p.txBytes);
    expect(metrics.get(`vxroute_rx_packets_total${label}`)).toBe(p.rxPackets);
    expect(metrics.get(`vxroute_rx_bytes_total${label}`)).toBe(p.rxBytes);
    expect(metrics.get(`vxroute_peer_last_seen_timestamp_seconds${label}`)).toBe(p.lastSeen! / 1000);
    expect(metrics.get('vxroute_dropped_packets_total{reason="no_route"}')).toBe(c.drops.no_route);
    expect(metrics.get('vxroute_peers')).toBe(1);
    expect(metrics.get('vxroute_ready')).toBe(1);
    // Each worker refreshes its memory gauges once a second, any number of times between two
    // reads on a loaded machine: the heap is checked for being reported, the GC count (which
    // only grows) and the batch counters for lying between the reads before and after the scrape.
    const between = (name: string, low: number, high: number): void => {
      expect(metrics.get(name), name).toBeGreaterThanOrEqual(low);
      expect(metrics.get(name), name).toBeLessThanOrEqual(high);
    };
    for (const w of c.workers) {
      const then = later.workers[w.index];
      expect(metrics.get(`vxroute_worker_heap_used_bytes{worker="${w.index}"}`)).toBeGreaterThan(1 << 20); // a live V8 heap is megabytes
      expect(w.heapUsed).toBeGreaterThan(1 << 20);
      expect(metrics.get(`vxroute_worker_heap_committed_bytes{worker="${w.index}"}`)).toBeGreaterThanOrEqual(w.heapUsed); // committed holds what is in use
      between(`vxroute_worker_gc_total{worker="${w.index}"}`, w.gcs, then.gcs);
      between(`vxroute_tun_writes_total{worker="${w.index}"}`, w.tunWrites, then.tunWrites);
      between(`vxroute_tun_whole_tso_writes_total{worker="${w.index}"}`, w.wholeTsoWrites, then.wholeTsoWrites);
      for (const d of ['tun', 'udp'] as const) {
        const l = `worker="${w.index}",direction="${d}"`;
        between(`vxroute_batches_total{${l}}`, w[d].batches, then[d].batches);
        between(`vxroute_batch_size_count{${l}}`, w[d].batches, then[d].batches);
        between(`vxroute_batch_size_sum{${l}}`, w[d].packets, then[d].packets);
        between(`vxroute_batch_size_bucket{${l},le="+Inf"}`, w[d].batches, then[d].batches);
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

  it("exports the tunnel-GSO send path's frames, segments, fallbacks and unfit runs as /debug/counters counts them", async () => {
    const BYTES = 4 << 20;
    const server = peer.pods[0];
    const t = await tcpTransfer(server.ns, server.ip, ours.pods[0].ns, BYTES);
    expect(t.receivedSha256).toBe(t.sentSha256);
    const tunnel = (c: CounterSnapshot) => c.udp.find((f) => f.family === 4)!.tunnelGso!;
    const before = tunnel(await daemon.counters());
    const metrics = parseMetrics((await daemon.get('/metrics')).body);
    const after = tunnel(await daemon.counters());
    expect(before.frames).toBeGreaterThan(0); // the stream left as frames (Linux 6.16+)
    for (const k of ['frames', 'segments', 'fallbacks', 'unfit'] as const) {
      const name = `vxroute_tunnel_gso_${k}_total{family="4"}`;
      expect(metrics.get(name), name).toBeGreaterThanOrEqual(before[k]);
      expect(metrics.get(name), name).toBeLessThanOrEqual(after[k]);
    }
  });

  it('traces packets with the decision taken for each', async () => {
    const trace = spawnCli(ours.ns, ['trace', '--addr', ADDR, '--count', '4', '--peer', peer.name, '--json']);
    let out = '';
    trace.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    // One echo at a time until the trace has its four packets: it may start between a request and its reply.
    const echo = async () => expect((await ping(ours.pods[0].ns, peer.pods[0].ip, 1)).received).toBe(1);
    expect(await driveUntilExit(trace, echo)).toBe(0);
    const records = out.trim().split('\n').map((l) => JSON.parse(l) as TraceRecord);
    const requests = records.filter((r) => r.direction === 'to-peer');
    const replies = records.filter((r) => r.direction === 'from-peer');
    expect(records).toHaveLength(4);
    expect(requests.length + replies.length).toBe(4);
    // Four packets of alternating requests and replies hold at least one of each.
    expect(requests.length).toBeGreaterThan(0);
    expect(replies.length).toBeGreaterThan(0);
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
    // Off again once the trace is done: a new one is accepted (not 409) and sees only what comes
    // after it: echoes of another size than any traced before.
    const next = spawnCli(ours.ns, ['trace', '--addr', ADDR, '--count', '1', '--json']);
    let line = '';
    next.stdout!.setEncoding('utf8').on('data', (d: string) => (line += d));
    expect(await driveUntilExit(next, () => ping(ours.pods[0].ns, peer.pods[0].ip, 1, 0.2, 200))).toBe(0);
    expect(JSON.parse(line)).toMatchObject({ peer: peer.name, inner: { protocol: 1, length: 28 + 200 } });
  });

  it('traces only drops with --drops-only, in text, naming the reason', async () => {
    const trace = spawnCli(ours.ns, ['trace', '--addr', ADDR, '--count', '2', '--drops-only']);
    let out = '';
    trace.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const frame = vxlanFrame({ vni: 2, dstMac: ours.vtepMAC, srcMac: peer.vtepMAC, src: peer.pods[0].ip, dst: ours.pods[0].ip });
    // Each round: an echo (forwarded: not shown) and a frame on the wrong VNI, until two drops are shown.
    const code = await driveUntilExit(trace, async () => {
      expect((await ping(ours.pods[0].ns, peer.pods[0].ip, 1)).received).toBe(1);
      await sendDatagrams(peer.ns, peer.publicIP, ours.publicIP, 8472, [frame]);
    });
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatch(new RegExp(`← ${peer.name}\\s+dropped wrong_vni\\s+from ${peer.publicIP} VNI 2 .* ${peer.pods[0].ip} > ${ours.pods[0].ip} UDP 40000 > 9`));
    }
  });

  it('refuses a second trace while one runs, with a clear message', async () => {
    const first = spawnCli(ours.ns, ['trace', '--addr', ADDR, '--count', '1000']);
    let shown = '';
    first.stdout!.setEncoding('utf8').on('data', (d: string) => (shown += d));
    // The first trace is on once it shows a packet.
    for (let i = 0; i < 200 && shown === ''; i++) await ping(ours.pods[0].ns, peer.pods[0].ip, 1);
    expect(shown).not.toBe('');
    const second = await tryInNs(ours.ns, process.execPath, [cliPath(), 'trace', '--addr', ADDR]);
    first.kill('SIGINT');
    await new Promise((r) => first.once('close', r));
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/answered .* with 409: another trace is running/);
  });

  it('prints one top snapshot as JSON with the counters’ numbers when not on a terminal', async () => {
    // One drop to show, counted before top starts: nothing flows while it samples.
    const dropped = (await daemon.counters()).drops.wrong_vni;
    const frame = vxlanFrame({ vni: 2, dstMac: ours.vtepMAC, srcMac: peer.vtepMAC, src: peer.pods[0].ip, dst: ours.pods[0].ip });
    await sendDatagrams(peer.ns, peer.publicIP, ours.publicIP, 8472, [frame]);
    await expect.poll(async () => (await daemon.counters()).drops.wrong_vni, { timeout: 10_000 }).toBe(dropped + 1);
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
    expect(top.tun.wholeTsoWrites).toBe(c.workers.reduce((acc, w) => acc + w.wholeTsoWrites, 0));
  });

  it('draws live rates in a terminal while traffic flows, and quits on q', async () => {
    const top = spawnCli(ours.ns, ['top', '--addr', ADDR, '--interval', '0.5'], { tty: true });
    let screen = '';
    top.stdout!.setEncoding('utf8').on('data', (d: string) => (screen += d));
    // A frame whose peer row shows a nonzero rate both ways.
    const live = new RegExp(`\\n${peer.name}\\s+([\\d.]+[kM]?)\\s+([\\d.]+[kM]?)\\s+([\\d.]+[kM]?)\\s+([\\d.]+[kM]?)\\s+0\\.\\ds ago`);
    const liveFrame = () => screen.split('\x1b[H\x1b[2J').reverse().map((f) => live.exec(f)).find((m) => m && Number(m[1].replace(/[kM]/, '')) > 0);
    // Bursts of echoes until a frame drawn while they flow shows them.
    let sent = 0;
    let answered = 0;
    for (let i = 0; i < 100 && !liveFrame(); i++) {
      const burst = await ping(ours.pods[0].ns, peer.pods[0].ip, 50, 0.01);
      sent += burst.transmitted;
      answered += burst.received;
    }
    expect(liveFrame(), screen.slice(-2000)).toBeDefined();
    expect(screen).toContain('\x1b[?1049h'); // drawn on the alternate screen
    top.stdin!.write('q');
    const code = await new Promise((r) => top.once('close', r));
    expect(code).toBe(0);
    expect(screen).toContain('\x1b[?1049l'); // and the terminal restored
    expect(answered).toBe(sent);
  });
});
