// What a UDP source port per inner flow buys: TCP with 1 and 4 streams between two pods over the
// lab's underlay (veths with a NIC's transmit offloads), carried by
//   kernel          the kernel's VXLAN as flannel configures it (the reference)
//   vxroute         this build: each flow leaves from its own sending socket's port
//   vxroute-fixed   this build with --source-ports fixed: every datagram from 8472
//   vxroute-before  an older build given with --before-cli (e.g. one that sends everything from 8472)
// and, for vxroute rows, how the receiving node's datagrams spread over its shards (the busiest
// shard's share: 1.0 = all on one). Rounds interleave the variants; figures are medians, with the
// ratio to the kernel path of the same run.
//   npm run bench:flow-ports -- [--rounds 3] [--seconds 5] [--workers 2] [--before-cli DIR/dist/src/cli/main.js]
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { CounterSnapshot } from '../src/datapath/counter-snapshot.js';
import { iperfJson, median } from '../src/lab/iperf.js';
import { Lab } from '../src/lab/lab.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { benchFlags, text, whole } from './bench-options.js';

type Variant = 'kernel' | 'vxroute' | 'vxroute-fixed' | 'vxroute-before';
interface Figures {
  tcp1: number;
  tcp4: number;
  /** The busiest receiving shard's share of the datagrams in the 4-stream run (NaN for the kernel). */
  busiestShare: number;
  /** Both daemons' CPU seconds (user + system) per gigabit in the 4-stream run (NaN for the kernel): steadier than throughput on a loaded machine. */
  cpuPerGbit4: number;
}

/** A process's user + system CPU seconds so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 0.01; // utime, stime in USER_HZ ticks
}

async function iperf(server: { ns: string; ip: string }, clientNs: string, args: string[]): Promise<number> {
  return (await iperfJson(server, clientNs, args)).end.sum_received.bits_per_second / 1e6;
}

const udpPackets = (c: CounterSnapshot): number[] => c.workers.map((w) => w.udp.packets);

async function run(variant: Variant, seconds: number, workers: number, beforeCli: string | undefined): Promise<Figures> {
  const lab = await Lab.create();
  try {
    const kind = variant === 'kernel' ? 'kernel' : 'vxroute';
    const a = await lab.addNode(kind, 1, { txOffload: true });
    const b = await lab.addNode(kind, 1, { txOffload: true });
    let receiver: VxrouteProcess | undefined;
    const pids: number[] = [];
    if (kind === 'kernel') await lab.programKernelPeers();
    else {
      const subnets = await lab.writeSubnets();
      const cli = variant === 'vxroute-before' ? beforeCli : undefined;
      const args = ['--workers', String(workers), ...(variant === 'vxroute-fixed' ? ['--source-ports', 'fixed'] : [])];
      pids.push((await lab.startVxroute(a, subnets, args, cli)).pid);
      receiver = await lab.startVxroute(b, subnets, args, cli);
      pids.push(receiver.pid);
    }
    const cpu = async (): Promise<number> => (await Promise.all(pids.map(cpuSeconds))).reduce((x, y) => x + y, 0);
    const server = { ns: b.pods[0].ns, ip: b.pods[0].ip };
    const client = a.pods[0].ns;
    const tcp1 = await iperf(server, client, ['-t', String(seconds)]);
    const before = receiver && udpPackets(await receiver.counters());
    const cpuBefore = await cpu();
    const tcp4 = await iperf(server, client, ['-t', String(seconds), '-P', '4']);
    const cpuPerGbit4 = pids.length > 0 ? ((await cpu()) - cpuBefore) / ((tcp4 * seconds) / 1000) : NaN;
    let busiestShare = NaN;
    if (receiver && before) {
      const delta = udpPackets(await receiver.counters()).map((n, i) => n - before[i]);
      busiestShare = Math.max(...delta) / Math.max(1, delta.reduce((x, y) => x + y, 0));
    }
    return { tcp1, tcp4, busiestShare, cpuPerGbit4 };
  } finally {
    await lab.dispose();
  }
}

const FLOW_PORTS_COMMAND = {
  module: import.meta.url,
  flags: {
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 3 }),
    seconds: whole('length of each iperf3 run', { min: 1, max: 3600, default: 5 }, 'S'),
    workers: whole("the vxroute daemons' --workers", { min: 1, max: 64, default: 2 }),
    'before-cli': text("adds the vxroute-before row, running that build's CLI", 'PATH', undefined, 'no such row'),
  },
};

export async function flowPortsBench(argv: string[]): Promise<number> {
  const values = benchFlags(FLOW_PORTS_COMMAND, argv);
  const { rounds, seconds, workers } = values;
  const variants: Variant[] = ['kernel', 'vxroute', 'vxroute-fixed', ...(values['before-cli'] ? (['vxroute-before'] as const) : [])];
  const results = new Map<Variant, Figures[]>(variants.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      const f = await run(v, seconds, workers, values['before-cli']);
      results.get(v)!.push(f);
      console.error(`round ${r + 1} ${v}: ${JSON.stringify(f)}`);
    }
  }
  const med = (v: Variant, k: keyof Figures): number => median(results.get(v)!.map((f) => f[k]));
  const optional = (x: number, digits: number): string => (Number.isNaN(x) ? '—' : x.toFixed(digits));
  console.log(`| variant | TCP 1 stream Mbit/s | × kernel | TCP 4 streams Mbit/s | × kernel | 4 ÷ 1 | busiest receiving shard's share | daemons' CPU s per Gbit, 4 streams |`);
  console.log(`|---|---|---|---|---|---|---|---|`);
  for (const v of variants) {
    const [t1, t4] = [med(v, 'tcp1'), med(v, 'tcp4')];
    console.log(`| ${v} | ${t1.toFixed(0)} | ${(t1 / med('kernel', 'tcp1')).toFixed(2)} | ${t4.toFixed(0)} | ${(t4 / med('kernel', 'tcp4')).toFixed(2)} | ${(t4 / t1).toFixed(2)} | ${optional(med(v, 'busiestShare'), 2)} | ${optional(med(v, 'cpuPerGbit4'), 2)} |`);
  }
  console.log(JSON.stringify({ rounds, seconds, workers, runs: Object.fromEntries(results) }));
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await flowPortsBench(process.argv.slice(2));
}
