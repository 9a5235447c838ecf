// The comparison users ask for, in one run: two nodes joined by the lab's underlay, a pod behind
// each, carried by
//   kernel   the kernel's VXLAN, configured as flannel configures it (the reference)
//   vxroute  vxroute on both nodes
//   kernel-l2  the kernel's bridge + vxlan with head-end replication: one Ethernet segment
//   vxroute-l2 vxroute --mode switch on both nodes: the same segment through TAP devices
//   naive    socat TUN ↔ UDP, one packet per syscall (what flannel's old UDP mode amounted to)
//   none     plain routing over the underlay, no tunnel (this machine's ceiling)
//   vxroute-direct  vxroute --direct-routing on both nodes: same subnet, so kernel routes, no VXLAN
//                   (target: ≥ 0.95× none)
// Per variant: TCP with iperf3 (1 and 4 streams), UDP 64- and 1,400-byte packet rates (delivered
// packets/s and loss), ping RTT p50/p99, and forwarding CPU per gigabit (the forwarder's own CPU
// time plus the machine's softirq time, during the 1-stream TCP run). Rounds interleave the
// variants; each figure is the median over the rounds, and a ratio to the kernel path.
// Writes bench/results/bench-<time>.{md,json,svg}.
//   npm run bench -- [--rounds 3] [--seconds 5] [--quick] [--out DIR]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../src/lab/iperf.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { renderChart } from './chart.js';

const VARIANTS = ['kernel', 'vxroute', 'kernel-l2', 'vxroute-l2', 'naive', 'none', 'vxroute-direct'] as const;
type Variant = (typeof VARIANTS)[number];
const METRICS = {
  tcp1: { label: 'TCP 1 stream', unit: 'Mbit/s', higherIsBetter: true },
  tcp4: { label: 'TCP 4 streams', unit: 'Mbit/s', higherIsBetter: true },
  udp64: { label: 'UDP 64 B delivered', unit: 'pkt/s', higherIsBetter: true },
  udp64Loss: { label: 'UDP 64 B loss', unit: '%', higherIsBetter: false },
  udp1400: { label: 'UDP 1400 B delivered', unit: 'pkt/s', higherIsBetter: true },
  udp1400Loss: { label: 'UDP 1400 B loss', unit: '%', higherIsBetter: false },
  pingP50: { label: 'ping p50', unit: 'ms', higherIsBetter: false },
  pingP99: { label: 'ping p99', unit: 'ms', higherIsBetter: false },
  cpuPerGbit: { label: 'CPU per Gbit', unit: 's/Gbit', higherIsBetter: false },
} as const;
type Metric = keyof typeof METRICS;

interface Setup {
  lab: Lab;
  a: LabNode;
  b: LabNode;
  /** Processes whose CPU time is the forwarding's (daemons, socat). */
  forwarders: () => number[];
}

const TICK_S = 0.01; // USER_HZ

async function setup(variant: Variant): Promise<Setup> {
  const lab = await Lab.create({ underlay: [4], pods: [4], segment: variant.endsWith('-l2') });
  try {
    return await build(lab, variant);
  } catch (err) {
    await lab.dispose();
    throw err;
  }
}

async function build(lab: Lab, variant: Variant): Promise<Setup> {
  const kind = variant === 'kernel' || variant === 'kernel-l2' ? 'kernel' : 'vxroute';
  const a = await lab.addNode(kind);
  const b = await lab.addNode(kind);
  const children: ChildProcess[] = [];
  const pids: number[] = [];
  if (kind === 'kernel') await lab.programKernelPeers();
  if (kind === 'vxroute' && (variant === 'vxroute' || variant === 'vxroute-l2')) {
    const subnets = await lab.writeSubnets();
    const mode = variant === 'vxroute-l2' ? ['--mode', 'switch'] : [];
    for (const n of [a, b]) pids.push((await lab.startVxroute(n, subnets, mode)).pid);
  }
  if (variant === 'naive') {
    // UDP-DATAGRAM is unconnected: an ICMP port unreachable before the peer's socat binds must not end it.
    for (const [n, peer] of [[a, b], [b, a]] as const) {
      const socat = spawn('ip', ['netns', 'exec', n.ns, 'socat', '-b', '65536', `TUN:${n.podCIDR.replace(/0\/24$/, '0')}/32,tun-name=naive0,tun-type=tun,iff-no-pi,iff-up`, `UDP-DATAGRAM:${peer.publicIP}:9999,bind=${n.publicIP}:9999`], { stdio: 'ignore' });
      children.push(socat);
      lab.onDispose(() => socat.kill('SIGKILL'));
    }
    for (const [n, peer] of [[a, b], [b, a]] as const) {
      for (let i = 0; (await tryInNs(n.ns, 'ip', ['link', 'show', 'naive0'])).code !== 0; i++) {
        if (i === 100) throw new Error('socat did not create its TUN device');
        await new Promise((r) => setTimeout(r, 20));
      }
      await inNs(n.ns, 'ip', ['link', 'set', 'naive0', 'mtu', '1472']); // its datagrams fit the underlay unfragmented
      await inNs(n.ns, 'ip', ['route', 'add', peer.podCIDR, 'dev', 'naive0']);
    }
    pids.push(...children.map((c) => c.pid!));
  }
  if (variant === 'vxroute-direct') {
    const subnets = await lab.writeSubnets();
    for (const n of [a, b]) pids.push((await lab.startVxroute(n, subnets, ['--direct-routing'])).pid);
  }
  if (variant === 'none') {
    for (const [n, peer] of [[a, b], [b, a]] as const) await inNs(n.ns, 'ip', ['route', 'add', peer.podCIDR, 'via', peer.publicIP]);
  }
  return { lab, a, b, forwarders: () => pids };
}

async function cpuTicks(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0); // utime, stime (fields 14 and 15)
  }
  const cpu = (await readFile('/proc/stat', 'utf8')).split('\n')[0].split(/\s+/);
  return ticks + Number(cpu[7]); // + softirq of every CPU
}

async function iperfJson(server: { ns: string; ip: string }, clientNs: string, args: string[]): Promise<Record<string, any>> {
  const srv = spawn('ip', ['netns', 'exec', server.ns, 'iperf3', '-s', '-1', '-B', server.ip], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    return JSON.parse(await inNs(clientNs, 'iperf3', ['-c', server.ip, '-J', ...args])) as Record<string, any>;
  } finally {
    srv.kill();
  }
}

async function pingPercentiles(ns: string, dst: string, count: number): Promise<[number, number]> {
  const r = await tryInNs(ns, 'ping', ['-n', '-c', String(count), '-i', '0.005', '-W', '2', dst]);
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
  if (rtts.length === 0) throw new Error(`ping ${dst} in ${ns}: no replies\n${r.stdout}${r.stderr}`);
  return [rtts[Math.floor(rtts.length * 0.5)], rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * 0.99))]];
}

async function measure(s: Setup, seconds: number, pings: number): Promise<Record<Metric, number>> {
  const server = { ns: s.b.pods[0].ns, ip: s.b.pods[0].ip };
  const client = s.a.pods[0].ns;
  const t = String(seconds);
  const before = await cpuTicks(s.forwarders());
  const tcp1 = (await iperfJson(server, client, ['-t', t])).end.sum_received;
  const cpu = ((await cpuTicks(s.forwarders())) - before) * TICK_S;
  const tcp4 = (await iperfJson(server, client, ['-t', t, '-P', '4'])).end.sum_received;
  const udp = async (len: number) => {
    const sum = (await iperfJson(server, client, ['-u', '-l', String(len), '-b', '0', '-t', t])).end.sum;
    return { pps: (sum.packets - sum.lost_packets) / sum.seconds, loss: sum.lost_percent as number };
  };
  const u64 = await udp(64);
  const u1400 = await udp(1400);
  const [p50, p99] = await pingPercentiles(client, server.ip, pings);
  const gbit = (tcp1.bytes * 8) / 1e9;
  return {
    tcp1: tcp1.bits_per_second / 1e6, tcp4: tcp4.bits_per_second / 1e6,
    udp64: u64.pps, udp64Loss: u64.loss, udp1400: u1400.pps, udp1400Loss: u1400.loss,
    pingP50: p50, pingP99: p99, cpuPerGbit: cpu / gbit,
  };
}

const format = (v: number, unit: string): string => (unit === 'pkt/s' ? v.toFixed(0) : unit === 'Mbit/s' ? v.toFixed(0) : unit === '%' ? v.toFixed(2) : v.toFixed(3));

export const BENCH_USAGE = `Usage: vxroute bench [--rounds N] [--seconds S] [--quick] [--out DIR]

Builds seven two-node namespace clusters on this machine (kernel VXLAN as flannel configures it,
vxroute, the kernel's bridge + vxlan as one L2 segment, vxroute --mode switch, socat TUN-UDP,
plain routing, vxroute --direct-routing) and measures TCP (1 and 4 streams), UDP 64/1400-byte packet
rates, ping p50/p99 and CPU per Gbit, as ratios to the kernel path; writes .md, .json and .svg
under DIR (default bench/results). Needs root, iperf3 and socat. --quick: 1 round of 1 s.
`;

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' }, quick: { type: 'boolean', default: false }, out: { type: 'string', default: 'bench/results' } },
  });
  const missing = ['iperf3', 'socat', 'ping'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length > 0) {
    process.stderr.write(`vxroute bench needs ${missing.join(', ')}: apt-get install -y ${missing.map((t) => (t === 'ping' ? 'iputils-ping' : t)).join(' ')}\n`);
    return 1;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('vxroute bench builds network namespaces: run it as root\n');
    return 1;
  }
  const quick = values.quick!;
  const rounds = quick ? 1 : Number(values.rounds);
  const seconds = quick ? 1 : Number(values.seconds);
  const pings = quick ? 50 : 200;
  const setups = new Map<Variant, Setup>();
  try {
    for (const v of VARIANTS) setups.set(v, await setup(v));
    const runs = new Map<Variant, Record<Metric, number>[]>(VARIANTS.map((v) => [v, []]));
    for (let r = 0; r < rounds; r++) for (const v of VARIANTS) runs.get(v)!.push(await measure(setups.get(v)!, seconds, pings));

    const table = Object.fromEntries(
      VARIANTS.map((v) => [v, Object.fromEntries((Object.keys(METRICS) as Metric[]).map((m) => [m, median(runs.get(v)!.map((x) => x[m]))]))]),
    ) as Record<Variant, Record<Metric, number>>;
    const ratio = (v: Variant, m: Metric) => (table.kernel[m] === 0 ? NaN : table[v][m] / table.kernel[m]);
    const lines = [
      `medians of ${rounds} interleaved round(s) of ${seconds} s; (×) = ratio to the kernel path in the same run`,
      '',
      `| | ${VARIANTS.join(' | ')} |`,
      `|---|${VARIANTS.map(() => '---').join('|')}|`,
      ...(Object.keys(METRICS) as Metric[]).map((m) => `| ${METRICS[m].label} (${METRICS[m].unit}) | ${VARIANTS.map((v) => `${format(table[v][m], METRICS[m].unit)} (${ratio(v, m).toFixed(2)}×)`).join(' | ')} |`),
    ];
    console.log(lines.join('\n'));
    const stamp = `bench-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await mkdir(values.out!, { recursive: true });
    const base = join(values.out!, stamp);
    await writeFile(`${base}.md`, `${lines.join('\n')}\n`);
    await writeFile(`${base}.json`, JSON.stringify({ rounds, seconds, quick, metrics: METRICS, medians: table, runs: Object.fromEntries(runs) }, null, 2));
    await writeFile(`${base}.svg`, renderChart(
      (Object.keys(METRICS) as Metric[]).filter((m) => table.kernel[m] > 0).map((m) => ({ label: METRICS[m].label, higherIsBetter: METRICS[m].higherIsBetter, values: VARIANTS.map((v) => ratio(v, m)) })),
      [...VARIANTS],
    ));
    console.log(`\nwritten: ${base}.md, .json, .svg`);
    return 0;
  } finally {
    for (const s of setups.values()) await s.lab.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await benchCommand(process.argv.slice(2));
}
