// UDP of 1,400-byte datagrams through vxroute next to the kernel's VXLAN, measured in the same run
// on one namespace test bed (IPv4 pods, IPv4 underlay, transmit offloads on as a NIC has them):
// sent by a pod with UDP_SEGMENT (16 datagrams per sendmsg, bench/udp-segment.c: what a TUN with
// USO hands over whole) and by iperf3 (one datagram per send), as fast as each sender goes.
// Reports datagrams delivered per second and loss per path, ratios against kernel → kernel, and
// on vxroute's receiving node the TUN writes per datagram and on its sending node the USO reads.
// `--cli PATH` adds a pair of vxroute nodes running another build (e.g. one without USO).
//   npm run bench:uso -- [--rounds 3] [--seconds 5] [--cli PATH]
import { mkdir, writeFile } from 'node:fs/promises';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { iperfJson, median } from '../src/lab/iperf.js';
import { ping } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { buildUdpSegment, udpSegmentRun } from './udp-segment.js';
import { benchFlags, text, whole } from './bench-options.js';

const values = benchFlags({
  module: import.meta.url,
  flags: {
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 3 }),
    seconds: whole('length of each sender\'s run', { min: 1, max: 3600, default: 5 }, 'S'),
    cli: text("adds a pair of vxroute nodes running that build's CLI", 'PATH', undefined, 'no such pair'),
  },
});
const { rounds, seconds } = values;
const SIZE = 1400;
const PER_SEND = 16;

interface Trial { pps: number; loss: number; sent: number }

/** iperf3's UDP, unpaced (-b 0): delivered datagrams/s and loss as its server counted them. */
async function iperfUdp(to: { ns: string; ip: string }, fromNs: string): Promise<Trial> {
  const { end } = await iperfJson(to, fromNs, ['-u', '-l', String(SIZE), '-b', '0', '-t', String(seconds)]);
  const r = end.sum_received;
  return { pps: (r.packets - r.lost_packets) / r.seconds, loss: r.lost_packets / Math.max(1, r.packets), sent: end.sum_sent.packets };
}

const lab = await Lab.create();
try {
  const k1 = await lab.addNode('kernel', 1, { txOffload: true });
  const k2 = await lab.addNode('kernel', 1, { txOffload: true });
  const v1 = await lab.addNode('vxroute', 1, { txOffload: true });
  const v2 = await lab.addNode('vxroute', 1, { txOffload: true });
  const o1 = values.cli ? await lab.addNode('vxroute', 1, { txOffload: true }) : undefined;
  const o2 = values.cli ? await lab.addNode('vxroute', 1, { txOffload: true }) : undefined;
  await lab.programKernelPeers();
  const subnets = await lab.writeSubnets();
  const daemons = new Map<LabNode, VxrouteProcess>();
  for (const n of [v1, v2]) daemons.set(n, await lab.startVxroute(n, subnets));
  if (o1 && o2) for (const n of [o1, o2]) daemons.set(n, await lab.startVxroute(n, subnets, [], values.cli));
  const tool = await buildUdpSegment(lab.dir);

  const paths: Record<string, [LabNode, LabNode]> = { 'kernel → kernel': [k1, k2], 'vxroute → vxroute': [v1, v2], 'vxroute → kernel': [v1, k2] };
  if (o1 && o2) paths['vxroute (--cli) → vxroute (--cli)'] = [o1, o2];
  for (const [from, to] of Object.values(paths)) await ping(from.pods[0].ns, to.pods[0].ip, 20, 0.01); // warm up
  const senders = ['UDP_SEGMENT ×16', 'iperf3'] as const;
  const results: Record<string, Record<string, Trial[]>> = {};
  const counts = new Map<string, { writes: number; uso: number; delivered: number; sent: number }>();
  const total = async (n: LabNode, f: (w: Awaited<ReturnType<VxrouteProcess['counters']>>['workers'][number]) => number) =>
    (await daemons.get(n)!.counters()).workers.reduce((a, w) => a + f(w), 0);
  for (let r = 0; r < rounds; r++) {
    for (const [name, [from, to]] of Object.entries(paths)) {
      const dst = { ns: to.pods[0].ns, ip: to.pods[0].ip };
      for (const sender of senders) {
        const writesBefore = daemons.has(to) ? await total(to, (w) => w.tunWrites) : 0;
        const usoBefore = daemons.has(from) ? await total(from, (w) => w.usoPackets ?? 0) : 0;
        let trial: Trial;
        let delivered: number;
        if (sender === 'iperf3') {
          trial = await iperfUdp(dst, from.pods[0].ns);
          delivered = trial.pps * seconds;
        } else {
          const g = await udpSegmentRun(tool, from.pods[0].ns, dst, SIZE, PER_SEND, { seconds });
          trial = { pps: g.intact / Math.max(g.seconds, 1e-3), loss: 1 - g.intact / Math.max(1, g.sent), sent: g.sent };
          delivered = g.intact;
        }
        ((results[name] ??= {})[sender] ??= []).push(trial);
        const key = `${name} / ${sender}`;
        const c = counts.get(key) ?? { writes: 0, uso: 0, delivered: 0, sent: 0 };
        if (daemons.has(to)) c.writes += (await total(to, (w) => w.tunWrites)) - writesBefore;
        if (daemons.has(from)) c.uso += (await total(from, (w) => w.usoPackets ?? 0)) - usoBefore;
        c.delivered += delivered;
        c.sent += trial.sent;
        counts.set(key, c);
      }
    }
  }
  console.log(`medians of ${rounds} interleaved rounds of ${seconds} s; ${SIZE}-byte UDP datagrams as fast as the sender goes; ratios against kernel → kernel with the same sender\n`);
  console.log('| path | sender | delivered | ratio | loss | TUN writes per datagram delivered (receiving node) | USO reads per datagram sent (sending node) |');
  console.log('|---|---|---|---|---|---|---|');
  const rows = [];
  for (const [name, [from, to]] of Object.entries(paths)) {
    for (const sender of senders) {
      const pps = median(results[name][sender].map((t) => t.pps));
      const base = median(results['kernel → kernel'][sender].map((t) => t.pps));
      const loss = median(results[name][sender].map((t) => t.loss));
      const c = counts.get(`${name} / ${sender}`)!;
      const writes = daemons.has(to) ? (c.writes / c.delivered).toFixed(3) : '—';
      const uso = daemons.has(from) ? (c.uso / c.sent).toFixed(3) : '—';
      rows.push({ path: name, sender, pps, ratio: pps / base, loss, writesPerDatagram: daemons.has(to) ? c.writes / c.delivered : null, usoPerDatagram: daemons.has(from) ? c.uso / c.sent : null });
      console.log(`| ${name} | ${sender} | ${Math.round(pps).toLocaleString('en')} /s | ${(pps / base).toFixed(2)}× | ${(loss * 100).toFixed(1)} % | ${writes} | ${uso} |`);
    }
  }
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/uso-${Date.now()}.json`, JSON.stringify({ rounds, seconds, size: SIZE, perSend: PER_SEND, cli: values.cli, results, rows }, null, 2));
} finally {
  await lab.dispose();
}
