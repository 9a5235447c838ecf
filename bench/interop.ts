// vxroute ↔ kernel next to kernel ↔ kernel, measured in the same run on the same dual-stack
// namespace test bed: ping RTT (200 echoes, 5 ms apart) and TCP throughput (iperf3, one stream)
// for IPv4 pods over the IPv4 underlay and IPv6 pods over the IPv6 underlay (flannel.1 and
// flannel-v6.1 on the kernel nodes), in interleaved rounds so that every path sees the same
// machine noise. Prints ratios against the kernel path of the same family. Every node's underlay
// veth keeps the transmit offloads a NIC has: a kernel node's TSO packets then cross unsegmented
// (one VXLAN datagram of up to 64 KiB), which vxroute's socket takes whole and cuts.
//   npm run bench:interop -- [--rounds 3] [--seconds 5] [--workers N]
import { mkdir, writeFile } from 'node:fs/promises';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { iperf, median } from '../src/lab/iperf.js';
import { ping } from '../src/lab/traffic.js';
import { benchFlags, whole } from './bench-options.js';

const values = benchFlags({
  module: import.meta.url,
  flags: {
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 3 }),
    seconds: whole('length of each iperf3 run', { min: 1, max: 3600, default: 5 }, 'S'),
    workers: whole("the vxroute daemon's --workers", { min: 1, max: 64, default: undefined, unset: "the daemon's" }),
  },
});
const txOffload = true;
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);

const lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
try {
  const k1 = await lab.addNode('kernel', 1, { txOffload });
  const k2 = await lab.addNode('kernel', 1, { txOffload });
  const vx = await lab.addNode('vxroute', 1, { txOffload });
  await lab.programKernelPeers();
  const daemon = await lab.startVxroute(vx, await lab.writeSubnets(), values.workers ? ['--workers', String(values.workers)] : []);
  await lab.ipv6Settled();

  const pairs = { 'kernel → kernel': [k1, k2], 'vxroute → kernel': [vx, k2], 'kernel → vxroute': [k2, vx] } as const;
  const paths: Record<string, { family: 4 | 6; from: LabNode; to: LabNode }> = {};
  for (const family of [4, 6] as const) {
    for (const [name, [from, to]] of Object.entries(pairs)) paths[`IPv${family} ${name}`] = { family, from, to };
  }
  const addr = (n: LabNode, family: 4 | 6) => (family === 4 ? n.pods[0].ip : n.pods[0].ip6);
  const rtt: Record<string, number[]> = {};
  const mbit: Record<string, number[]> = {};
  for (const { family, from, to } of Object.values(paths)) await ping(from.pods[0].ns, addr(to, family), 20, 0.01); // warm up
  for (let r = 0; r < rounds; r++) {
    for (const [name, { family, from, to }] of Object.entries(paths)) {
      const p = await ping(from.pods[0].ns, addr(to, family), 200, 0.005);
      if (p.received !== p.transmitted) throw new Error(`${name}: ${p.transmitted - p.received} of ${p.transmitted} pings lost`);
      (rtt[name] ??= []).push(p.rttAvg);
      (mbit[name] ??= []).push(await iperf({ ns: to.pods[0].ns, ip: addr(to, family) }, from.pods[0], seconds));
    }
  }
  const rows = Object.entries(paths).map(([name, { family }]) => {
    const base = `IPv${family} kernel → kernel`;
    return {
      path: name,
      rttMs: median(rtt[name]),
      rttRatio: median(rtt[name]) / median(rtt[base]),
      tcpMbit: median(mbit[name]),
      tcpRatio: median(mbit[name]) / median(mbit[base]),
    };
  });
  console.log(`medians of ${rounds} interleaved rounds; ratios against the kernel → kernel path of the same family in the same run; every underlay veth with tx offload on, as a NIC has it\n`);
  console.log('| path | ping RTT avg | ratio | TCP (iperf3, 1 stream) | ratio |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.path} | ${r.rttMs.toFixed(3)} ms | ${r.rttRatio.toFixed(2)}× | ${r.tcpMbit.toFixed(0)} Mbit/s | ${r.tcpRatio.toFixed(2)}× |`);
  }
  // Syscalls per packet on vxroute's receive side, over the whole run (every path through it).
  const c = await daemon.counters();
  const total = (f: (w: (typeof c.workers)[number]) => number) => c.workers.reduce((a, w) => a + f(w), 0);
  const received = total((w) => w.udp.packets);
  const receives = total((w) => w.udp.batches);
  const written = c.peers.reduce((a, p) => a + p.rxPackets, 0);
  const several = c.udp.reduce((a, f) => a + f.groBuffers, 0);
  const whole = total((w) => w.wholeTsoWrites);
  console.log(`\nvxroute receive side: ${(received / receives).toFixed(1)} packets per receive batch (${receives} batches; a TSO packet left whole counts as its segments), ${(written / total((w) => w.tunWrites)).toFixed(1)} packets per TUN write, ${several} messages that held several datagrams, ${whole} of them TSO packets written to the TUN whole`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/interop-${Date.now()}.json`, JSON.stringify({ rounds, seconds, txOffload, rtt, mbit, rows }, null, 2));
} finally {
  await lab.dispose();
}
