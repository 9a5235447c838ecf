// The comparison users ask for, in one run: two nodes joined by the lab's underlay (veths with
// the transmit offloads a NIC has), a pod behind each, carried by
//   kernel   the kernel's VXLAN, configured as flannel configures it (the reference)
//   vxroute  vxroute on both nodes
//   vxroute-busy  vxroute --busy-poll on both nodes (what spinning buys in latency, and costs in CPU)
//   vxroute-uring  vxroute --tun-reads uring: TUN reads batched through io_uring, against the
//                  default readv (only when named in --variants; docs/decisions.md "Batched TUN reads")
//   kernel-l2  the kernel's bridge + vxlan with head-end replication: one Ethernet segment
//   vxroute-l2 vxroute --mode switch on both nodes: the same segment through TAP devices
//   naive    socat TUN ↔ UDP, one packet per syscall (what flannel's old UDP mode amounted to)
//   none     plain routing over the underlay, no tunnel (this machine's ceiling)
//   vxroute-direct  vxroute --direct-routing on both nodes: same subnet, so kernel routes, no VXLAN
//                   (target: ≥ 0.95× none)
//   vxroute-policy  vxroute --kube on both nodes enforcing NetworkPolicy, the test API server holding
//                   1,000 policies over 5,000 pods (src/lab/policy-world.ts) and the measured pods
//                   selected by several policies that allow the traffic; compared with `vxroute`
//                   (policy off) in a table of its own: throughput ≥ 0.95×, the first packet of a
//                   new connection ≤ 50 µs slower at the median, the policy's memory, and the time
//                   a change of one policy takes to be in force on every worker (target < 100 ms)
// Per variant: TCP with iperf3 (1 and 4 streams), UDP 64- and 1,400-byte packet rates (delivered
// packets/s and loss, sent as fast as iperf3 can), the highest offered 64-byte rate that loses at
// most 0.1 % (a rate search, RFC 2544 §26.1), ping RTT p50/p99, 1-byte TCP transactions per second
// (netperf's TCP_RR) and the CPU that took, the time connect() takes (a new flow's first packet and
// its answer, from a new source port each time), and forwarding CPU per gigabit (the forwarder's own
// CPU time plus the machine's softirq time, during the 1-stream TCP run). Rounds interleave the
// variants; each figure is the median over the rounds, and a ratio to the kernel path.
// Writes bench/results/bench-<time>.{md,json,svg}.
//   npm run bench -- [--rounds 3] [--seconds 5] [--rate-trial-seconds 2] [--rate-precision 0.05] [--quick] [--out DIR]
//                    [--policy-pods 5000] [--policies 1000] [--policy-changes 20]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { iperfJson, median } from '../src/lab/iperf.js';
import type { KubeApiServer } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { servePolicyBench } from '../src/lab/policy-bench-api.js';
import { MEASURED_POLICIES, type WorldSize } from '../src/lab/policy-world.js';
import { searchRate, trialsFor } from '../src/lab/rate-search.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { benchFlags, benchUsage, decimal, parseBenchFlags, someOf, text, toggle, whole, type FlagValues } from './bench-options.js';
import { renderChart } from './chart.js';
import { policyCost, policyCostLines } from './policy-cost.js';
import { buildTcpRr, CONNECT_PORT, TRANSACTIONS_PORT, tcpConnects, tcpRr } from './tcp-rr.js';

const VARIANTS = ['kernel', 'vxroute', 'vxroute-kube', 'vxroute-policy', 'vxroute-busy', 'kernel-l2', 'vxroute-l2', 'naive', 'none', 'vxroute-direct', 'vxroute-uring'] as const;
/** The variants a run measures when --variants does not name them: all but the comparisons of one setting. */
const DEFAULT_VARIANTS = VARIANTS.filter((v) => v !== 'vxroute-uring');
type Variant = (typeof VARIANTS)[number];
/** How long a vxroute-busy shard spins after traffic: longer than a round trip through both daemons (bench:latency). */
const BUSY_POLL_US = 200;
/** The loss a 64-byte trial may show and still pass. */
const RATE_MAX_LOSS = 0.001;
/** The connection table's cap on vxroute-policy's nodes (the daemon's default, given so its size is known here). */
const CONNTRACK_MAX = 65_536;
/** iperf3's port: what the measured pods' policies allow, with tcp-rr's two. */
const IPERF_PORT = 5201;
const METRICS = {
  tcp1: { label: 'TCP 1 stream', unit: 'Mbit/s', higherIsBetter: true },
  tcp4: { label: 'TCP 4 streams', unit: 'Mbit/s', higherIsBetter: true },
  udp64: { label: 'UDP 64 B delivered', unit: 'pkt/s', higherIsBetter: true },
  udp64Loss: { label: 'UDP 64 B loss', unit: '%', higherIsBetter: false },
  udp64NoLoss: { label: 'UDP 64 B highest rate ≤ 0.1 % loss', unit: 'pkt/s', higherIsBetter: true },
  udp1400: { label: 'UDP 1400 B delivered', unit: 'pkt/s', higherIsBetter: true },
  udp1400Loss: { label: 'UDP 1400 B loss', unit: '%', higherIsBetter: false },
  pingP50: { label: 'ping p50', unit: 'ms', higherIsBetter: false },
  pingP99: { label: 'ping p99', unit: 'ms', higherIsBetter: false },
  tcpRr: { label: 'TCP_RR 1 byte', unit: 'trans/s', higherIsBetter: true },
  tcpRrCpu: { label: 'CPU during TCP_RR', unit: 'cores', higherIsBetter: false },
  connectP50: { label: 'TCP connect p50 (new flow\'s first packet + answer)', unit: 'µs', higherIsBetter: false },
  cpuPerGbit: { label: 'CPU per Gbit', unit: 's/Gbit', higherIsBetter: false },
} as const;
type Metric = keyof typeof METRICS;

interface Setup {
  lab: Lab;
  a: LabNode;
  b: LabNode;
  /** Processes whose CPU time is the forwarding's (daemons, socat). */
  forwarders: () => number[];
  /** The vxroute daemons of both nodes (none for the other paths). */
  daemons: VxrouteProcess[];
  /** vxroute-policy's API server. */
  api?: KubeApiServer;
}

interface Tools {
  /** bench/tcp-rr.c, built for this run. */
  tcpRr: string;
  seconds: number;
  pings: number;
  /** New TCP connections timed per round. */
  connects: number;
  rateTrialSeconds: number;
  ratePrecision: number;
}

const TICK_S = 0.01; // USER_HZ

async function setup(variant: Variant, world: WorldSize): Promise<Setup> {
  const lab = await Lab.create({ underlay: [4], pods: [4], segment: variant.endsWith('-l2') });
  try {
    return await build(lab, variant, world);
  } catch (err) {
    await lab.dispose();
    throw err;
  }
}

async function build(lab: Lab, variant: Variant, world: WorldSize): Promise<Setup> {
  const kind = variant === 'kernel' || variant === 'kernel-l2' ? 'kernel' : 'vxroute';
  // Both nodes send as they would through a NIC: checksums and segmentation left to the "device".
  const a = await lab.addNode(kind, 1, { txOffload: true });
  const b = await lab.addNode(kind, 1, { txOffload: true });
  const children: ChildProcess[] = [];
  const daemons: VxrouteProcess[] = [];
  const pids: number[] = [];
  let api: KubeApiServer | undefined;
  if (kind === 'kernel') await lab.programKernelPeers();
  if (variant === 'vxroute' || variant === 'vxroute-busy' || variant === 'vxroute-l2' || variant === 'vxroute-uring') {
    const subnets = await lab.writeSubnets();
    const flags = variant === 'vxroute-l2' ? ['--mode', 'switch'] : variant === 'vxroute-busy' ? ['--busy-poll', String(BUSY_POLL_US)] : variant === 'vxroute-uring' ? ['--tun-reads', 'uring'] : [];
    for (const n of [a, b]) daemons.push(await lab.startVxroute(n, subnets, flags));
  }
  // vxroute-kube: the same API server and world with the policy off, the baseline of the policy's cost.
  if (variant === 'vxroute-policy' || variant === 'vxroute-kube') {
    const { server, kubeconfig, netConf } = await servePolicyBench(lab, a, b, world, { iperf: IPERF_PORT, transactions: Number(TRANSACTIONS_PORT), connects: Number(CONNECT_PORT) });
    api = server;
    const flags = variant === 'vxroute-kube' ? ['--no-network-policy'] : ['--conntrack-max', String(CONNTRACK_MAX)];
    for (const n of [a, b]) daemons.push(await lab.startVxrouteKube(n, kubeconfig, netConf, flags));
    // Each has the other's lease (the synthetic nodes have none: they are left out of the table).
    for (const d of daemons) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 60_000);
    for (const d of daemons) await d.waitUntilWarm(variant === 'vxroute-policy'); // rounds measure warm daemons
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
    for (const n of [a, b]) daemons.push(await lab.startVxroute(n, subnets, ['--direct-routing']));
  }
  if (variant === 'none') {
    for (const [n, peer] of [[a, b], [b, a]] as const) await inNs(n.ns, 'ip', ['route', 'add', peer.podCIDR, 'via', peer.publicIP]);
  }
  pids.push(...daemons.map((d) => d.pid));
  return { lab, a, b, forwarders: () => pids, daemons, api };
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

async function pingPercentiles(ns: string, dst: string, count: number): Promise<[number, number]> {
  const r = await tryInNs(ns, 'ping', ['-n', '-c', String(count), '-i', '0.005', '-W', '2', dst]);
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
  if (rtts.length === 0) throw new Error(`ping ${dst} in ${ns}: no replies\n${r.stdout}${r.stderr}`);
  return [rtts[Math.floor(rtts.length * 0.5)], rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * 0.99))]];
}

/** Delivered rate and loss of 64-byte UDP offered at `pps`, as the receiver counted (iperf3 paces at -b). */
export async function udpTrial(server: { ns: string; ip: string }, client: string, len: number, bitsPerS: number, seconds: number): Promise<{ sentPps: number; pps: number; loss: number }> {
  const end = (await iperfJson(server, client, ['-u', '-l', String(len), '-b', String(Math.round(bitsPerS)), '-t', String(seconds)])).end;
  const received = end.sum_received;
  return { sentPps: end.sum_sent.packets / end.sum_sent.seconds, pps: (received.packets - received.lost_packets) / received.seconds, loss: received.lost_packets / Math.max(1, received.packets) };
}

async function measure(s: Setup, tools: Tools): Promise<Record<Metric, number>> {
  const server = { ns: s.b.pods[0].ns, ip: s.b.pods[0].ip };
  const client = s.a.pods[0].ns;
  const { seconds } = tools;
  const t = String(seconds);
  const before = await cpuTicks(s.forwarders());
  const tcp1 = (await iperfJson(server, client, ['-t', t])).end.sum_received;
  const cpu = ((await cpuTicks(s.forwarders())) - before) * TICK_S;
  const tcp4 = (await iperfJson(server, client, ['-t', t, '-P', '4'])).end.sum_received;
  const u64 = await udpTrial(server, client, 64, 0, seconds);
  const u1400 = await udpTrial(server, client, 1400, 0, seconds);
  // From the most the sender offered when unpaced, down to the highest rate that loses ≤ 0.1 %.
  const search = await searchRate(async (pps) => (await udpTrial(server, client, 64, pps * 64 * 8, tools.rateTrialSeconds)).loss, {
    ceiling: u64.sentPps, maxLoss: RATE_MAX_LOSS, precision: tools.ratePrecision, maxTrials: trialsFor(tools.ratePrecision) + 2,
  });
  const [p50, p99] = await pingPercentiles(client, server.ip, tools.pings);
  const rrBefore = await cpuTicks(s.forwarders());
  const rrStart = performance.now();
  const rr = await tcpRr(tools.tcpRr, server, client, seconds);
  const rrCores = ((await cpuTicks(s.forwarders())) - rrBefore) * TICK_S / ((performance.now() - rrStart) / 1000);
  const connects = await tcpConnects(tools.tcpRr, server, client, tools.connects);
  const gbit = (tcp1.bytes * 8) / 1e9;
  return {
    tcp1: tcp1.bits_per_second / 1e6, tcp4: tcp4.bits_per_second / 1e6,
    udp64: u64.pps, udp64Loss: u64.loss * 100, udp64NoLoss: search.rate, udp1400: u1400.pps, udp1400Loss: u1400.loss * 100,
    pingP50: p50, pingP99: p99, tcpRr: rr.transactionsPerS, tcpRrCpu: rrCores, connectP50: connects.p50Us, cpuPerGbit: cpu / gbit,
  };
}

const format = (v: number, unit: string): string => (['pkt/s', 'Mbit/s', 'trans/s', 'µs'].includes(unit) ? v.toFixed(0) : unit === '%' || unit === 'cores' ? v.toFixed(2) : v.toFixed(3));

/** What `npm run bench` and `vxroute bench` take. */
export const COMPARE_COMMAND = {
  module: import.meta.url,
  alsoRunAs: 'vxroute bench',
  flags: {
    rounds: whole('interleaved rounds; each figure is their median', { min: 1, max: 100, default: 3 }),
    seconds: decimal('length of each throughput and packet-rate run', { min: 0.1, max: 3600, default: 5 }, 'S'),
    'rate-trial-seconds': decimal('length of each trial of the 64-byte no-loss rate search', { min: 0.1, max: 600, default: 2 }, 'S'),
    'rate-precision': decimal('the rate search stops within this share of the rate', { min: 0.001, max: 0.5, default: 0.05 }, 'F'),
    quick: toggle('1 round of 1 s, rate trials of 1 s to within 0.2, 3 policy changes (what CI runs)'),
    out: text('where the .md, .json and .svg go', 'DIR', 'bench/results'),
    'policy-pods': whole('pods in the NetworkPolicy world of vxroute-kube and vxroute-policy', { min: 2, max: 25_000, default: 5000 }),
    policies: whole('policies in that world', { min: MEASURED_POLICIES + 1, max: 10_000, default: 1000 }),
    'policy-changes': whole('changes of one policy timed until in force on every worker', { min: 1, max: 1000, default: 20 }),
    variants: someOf('the rows measured; the kernel path always is (every figure is a ratio to it)', VARIANTS, DEFAULT_VARIANTS),
  },
};

/** `vxroute bench --help`. */
export const BENCH_USAGE = benchUsage(COMPARE_COMMAND);

/** `vxroute bench ARGS`: a bad flag is a ConfigError, which the CLI prints as one line, exit code 2. */
export async function benchCommand(argv: string[]): Promise<number> {
  return runBench(parseBenchFlags(COMPARE_COMMAND, argv));
}

async function runBench(values: FlagValues<typeof COMPARE_COMMAND.flags>): Promise<number> {
  const missing = ['iperf3', 'socat', 'ping', 'cc'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length > 0) {
    process.stderr.write(`vxroute bench needs ${missing.join(', ')}: apt-get install -y ${missing.map((t) => (t === 'ping' ? 'iputils-ping' : t === 'cc' ? 'gcc' : t)).join(' ')}\n`);
    return 1;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('vxroute bench builds network namespaces: run it as root\n');
    return 1;
  }
  const { quick } = values;
  const variants = VARIANTS.filter((v) => v === 'kernel' || values.variants.includes(v));
  const rounds = quick ? 1 : values.rounds;
  const seconds = quick ? 1 : values.seconds;
  const rateTrialSeconds = quick ? 1 : values['rate-trial-seconds'];
  const ratePrecision = quick ? 0.2 : values['rate-precision'];
  const world: WorldSize = { pods: values['policy-pods'], policies: values.policies };
  const policyChanges = quick ? 3 : values['policy-changes'];
  const scratch = await mkdtemp(join(tmpdir(), 'vxroute-bench-'));
  const setups = new Map<Variant, Setup>();
  try {
    const tools: Tools = { tcpRr: await buildTcpRr(scratch), seconds, pings: quick ? 50 : 200, connects: quick ? 200 : 1000, rateTrialSeconds, ratePrecision };
    for (const v of variants) setups.set(v, await setup(v, world));
    const runs = new Map<Variant, Record<Metric, number>[]>(variants.map((v) => [v, []]));
    for (let r = 0; r < rounds; r++) for (const v of variants) runs.get(v)!.push(await measure(setups.get(v)!, tools));

    const table = Object.fromEntries(
      variants.map((v) => [v, Object.fromEntries((Object.keys(METRICS) as Metric[]).map((m) => [m, median(runs.get(v)!.map((x) => x[m]))]))]),
    ) as Record<Variant, Record<Metric, number>>;
    const ratio = (v: Variant, m: Metric) => (table.kernel[m] === 0 ? NaN : table[v][m] / table.kernel[m]);
    const lines = [
      `medians of ${rounds} interleaved round(s) of ${seconds} s (64-byte rate search: trials of ${rateTrialSeconds} s, to within ${ratePrecision * 100} %); underlay veths with tx offloads on; vxroute-busy: --busy-poll ${BUSY_POLL_US}; (×) = ratio to the kernel path in the same run`,
      '',
      `| | ${variants.join(' | ')} |`,
      `|---|${variants.map(() => '---').join('|')}|`,
      ...(Object.keys(METRICS) as Metric[]).map((m) => `| ${METRICS[m].label} (${METRICS[m].unit}) | ${variants.map((v) => `${format(table[v][m], METRICS[m].unit)} (${ratio(v, m).toFixed(2)}×)`).join(' | ')} |`),
    ];
    let policy: Awaited<ReturnType<typeof policyCost>> | undefined;
    const withPolicy = setups.get('vxroute-policy');
    const baseline = setups.has('vxroute-kube') ? 'vxroute-kube' : 'vxroute';
    const withoutPolicy = setups.get(baseline);
    if (withPolicy && withoutPolicy) {
      policy = await policyCost(
        baseline,
        { on: table['vxroute-policy'], off: table[baseline] },
        { on: withPolicy.daemons, off: withoutPolicy.daemons },
        { serverNs: withPolicy.b.pods[0].ns, clientIp: withPolicy.a.pods[0].ip },
        withPolicy.api!, world, world.policies - MEASURED_POLICIES, CONNTRACK_MAX, policyChanges,
      );
      lines.push('', ...policyCostLines(policy, CONNTRACK_MAX));
    }
    console.log(lines.join('\n'));
    const stamp = `bench-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await mkdir(values.out, { recursive: true });
    const base = join(values.out, stamp);
    await writeFile(`${base}.md`, `${lines.join('\n')}\n`);
    await writeFile(`${base}.json`, JSON.stringify({ rounds, seconds, rateTrialSeconds, ratePrecision, busyPollUs: BUSY_POLL_US, quick, metrics: METRICS, medians: table, runs: Object.fromEntries(runs), policy }, null, 2));
    await writeFile(`${base}.svg`, renderChart(
      (Object.keys(METRICS) as Metric[]).filter((m) => table.kernel[m] > 0).map((m) => ({ label: METRICS[m].label, higherIsBetter: METRICS[m].higherIsBetter, values: variants.map((v) => ratio(v, m)) })),
      [...variants],
    ));
    console.log(`\nwritten: ${base}.md, .json, .svg`);
    return 0;
  } finally {
    for (const s of setups.values()) await s.lab.dispose();
    await rm(scratch, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runBench(benchFlags(COMPARE_COMMAND));
}
