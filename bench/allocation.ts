// Does the hot path allocate? A vxroute node sends to and receives from a kernel VXLAN node at
// full rate for 10 s (TCP, then 64-byte UDP); the workers' garbage collections and heaps (from
// /debug/counters) and the daemon's RSS (/proc) are read before, during and after. A datapath
// that allocates nothing per packet shows no growth in collections as packets grow by millions.
// --mode switch runs the same through switch mode against a kernel bridge + vxlan node.
//   npm run bench:alloc -- [--seconds 10] [--mode router|switch]
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { listening } from '../src/lab/iperf.js';
import { Lab } from '../src/lab/lab.js';
import { inNs } from '../src/lab/netns.js';
import type { CounterSnapshot } from '../src/datapath/counter-snapshot.js';
import { benchFlags, oneOf, whole } from './bench-options.js';

const values = benchFlags({
  module: import.meta.url,
  flags: {
    seconds: whole('length of each traffic run (TCP, then 64-byte UDP)', { min: 1, max: 3600, default: 10 }, 'S'),
    mode: oneOf('the vxroute node\'s mode (switch: against a kernel bridge + vxlan node)', ['router', 'switch'], 'router'),
  },
});
const { seconds } = values;
const switching = values.mode === 'switch';

async function rssMB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const packets = (c: CounterSnapshot) => c.workers.reduce((a, w) => a + w.tun.packets + w.udp.packets, 0);
const gcs = (c: CounterSnapshot) => c.workers.map((w) => w.gcs);
const heapsMB = (c: CounterSnapshot) => c.workers.map((w) => (w.heapUsed / 2 ** 20).toFixed(1));

const lab = await Lab.create({ underlay: [4], pods: [4], segment: switching });
try {
  const vx = await lab.addNode('vxroute');
  const k = await lab.addNode('kernel');
  await lab.programKernelPeers();
  const daemon = await lab.startVxroute(vx, await lab.writeSubnets(), switching ? ['--mode', 'switch'] : []);
  const server = spawn('ip', ['netns', 'exec', k.pods[0].ns, 'iperf3', '-s', '-B', k.pods[0].ip], { stdio: 'ignore' });
  lab.onDispose(() => server.kill('SIGKILL'));
  await listening(k.pods[0].ns, 5201);
  const iperf = (args: string[]) => inNs(vx.pods[0].ns, 'iperf3', ['-c', k.pods[0].ip, ...args]);
  await iperf(['-t', '2']); // warm-up: JIT, table, socket buffers
  await new Promise((r) => setTimeout(r, 1500)); // the workers report memory once a second

  const rows: string[] = [];
  for (const [name, args] of [['TCP, 1 stream', ['-t', String(seconds)]], ['UDP, 64-byte datagrams', ['-u', '-l', '64', '-b', '0', '-t', String(seconds)]]] as const) {
    const before = await daemon.counters();
    let maxRss = await rssMB(daemon.pid);
    const sampler = setInterval(() => void rssMB(daemon.pid).then((r) => (maxRss = Math.max(maxRss, r))), 250);
    await iperf([...args]);
    clearInterval(sampler);
    await new Promise((r) => setTimeout(r, 1500));
    const after = await daemon.counters();
    const moved = packets(after) - packets(before);
    const collected = gcs(after).map((g, i) => g - gcs(before)[i]);
    const total = collected.reduce((a, b) => a + b, 0);
    rows.push(`| ${name} | ${(moved / 1e6).toFixed(2)} M | ${collected.join(' + ')} = ${total} | ${((total / moved) * 1e6).toFixed(2)} | ${heapsMB(before).join(', ')} → ${heapsMB(after).join(', ')} MB | ${maxRss.toFixed(0)} MB |`);
  }
  console.log(`vxroute${switching ? ' --mode switch' : ''} → kernel ${switching ? 'bridge + vxlan' : 'VXLAN'} for ${seconds} s per row, 2 workers; GCs and heaps per worker\n`);
  console.log('| traffic | packets through the workers | garbage collections | GCs per million packets | worker heaps before → after | daemon RSS, max |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
} finally {
  await lab.dispose();
}
