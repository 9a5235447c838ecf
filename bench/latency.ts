// Where a round trip through vxroute goes. Three two-node pairs in one run, underlay offloads on as
// in npm run bench: the kernel's VXLAN, vxroute, and vxroute --busy-poll. For each, interleaved
// rounds of ping and 1-byte TCP transactions (netperf's TCP_RR, bench/tcp-rr.c) as ratios to the
// kernel pair, with the daemons' CPU time per transaction; then, during vxroute's pings, perf
// records the scheduler (how long each daemon thread waited between its wake-up and running) and
// the daemons' syscalls. A round trip crosses a daemon four times (out of A, into B, out of B,
// into A); each crossing is a wake-up from its wait (unless --busy-poll finds the shard awake) and
// a few syscalls, which is what the difference to the kernel path is made of. The TCP_RR rows are
// the narrow version of npm run bench's.
//   npm run bench:latency -- [--rounds 3] [--seconds 3] [--echoes 2000] [--busy-poll 200] [--no-tun-offload] [--cli PATH] [--before PATH]
// --busy-poll 0 leaves the spinning pair out; --cli runs another build's dist/src/cli/main.js;
// --before adds that build's pairs to the same run, interleaved with this one's (a before/after).
// Needs perf (apt-get install -y linux-perf) and a C compiler.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { median } from '../src/lab/iperf.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { host, tryInNs } from '../src/lab/netns.js';
import { buildTcpRr, tcpRr, type TcpRrResult } from './tcp-rr.js';
import { benchFlags, text, toggle, whole } from './bench-options.js';

const values = benchFlags({
  module: import.meta.url,
  flags: {
    echoes: whole('pings per pair for the RTT distributions and during the perf recording', { min: 10, max: 1_000_000, default: 2000 }),
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 3 }),
    seconds: whole('length of each TCP_RR run', { min: 1, max: 3600, default: 3 }, 'S'),
    'no-tun-offload': toggle('start the vxroute daemons with --no-tun-offload'),
    'busy-poll': whole('the spinning pair\'s --busy-poll microseconds; 0 leaves that pair out', { min: 0, max: 1_000_000, default: 200 }, 'US'),
    cli: text("vxroute's pairs run this CLI (another build's dist/src/cli/main.js)", 'PATH', undefined, 'this build'),
    before: text("adds pairs running that build's CLI, interleaved with this one's", 'PATH', undefined, 'no before pairs'),
  },
});
const { echoes, rounds, seconds } = values;
const busyPoll = values['busy-poll'];
const INTERVAL_S = 0.002;
const RR_PINGS = 500;

if (spawnSync('sh', ['-c', 'command -v perf']).status !== 0) {
  process.stderr.write('bench:latency needs perf: apt-get install -y linux-perf\n');
  process.exit(1);
}

async function rtts(ns: string, dst: string, count = echoes): Promise<number[]> {
  const r = await tryInNs(ns, 'ping', ['-n', '-c', String(count), '-i', String(INTERVAL_S), '-W', '2', dst], 600_000);
  return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
}

const p50 = (xs: number[]): number => xs[Math.floor(xs.length / 2)];

/** CPU time of every thread of the processes so far (ns, /proc/<pid>/task/<tid>/schedstat). */
async function cpuNs(pids: number[]): Promise<number> {
  let ns = 0;
  for (const pid of pids) {
    for (const tid of await readdir(`/proc/${pid}/task`)) ns += Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0')).split(' ')[0]);
  }
  return ns;
}

/** Times every thread of the processes went to sleep so far (voluntary_ctxt_switches of /proc/<pid>/task/<tid>/status): each is a wake-up to come. */
async function sleeps(pids: number[]): Promise<number> {
  let n = 0;
  for (const pid of pids) {
    for (const tid of await readdir(`/proc/${pid}/task`)) n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8').catch(() => ''))?.[1] ?? 0);
  }
  return n;
}

interface Pair {
  name: string;
  a: LabNode;
  b: LabNode;
  /** The daemons' pids (none for the kernel pair). */
  pids: number[];
}

interface Round {
  pingP50: number;
  rr: TcpRrResult;
  /** Daemons' CPU time per transaction (µs, all threads of both). */
  cpuPerTransaction: number;
  /** Times the daemons' threads slept per transaction (each a wake-up and a context switch; 4 when every crossing finds its shard asleep). */
  sleepsPerTransaction: number;
}

const lab = await Lab.create();
try {
  const binary = await buildTcpRr(lab.dir);
  const kernel: Pair = { name: 'kernel', a: await lab.addNode('kernel', 1, { txOffload: true }), b: await lab.addNode('kernel', 1, { txOffload: true }), pids: [] };
  await lab.programKernelPeers();
  const flags = values['no-tun-offload'] ? ['--no-tun-offload'] : [];
  const pairs: Pair[] = [kernel];
  const variants: [string, string[]][] = [['vxroute', []], ...(busyPoll > 0 ? [[`vxroute --busy-poll ${busyPoll}`, ['--busy-poll', String(busyPoll)]] as [string, string[]]] : [])];
  const builds: [string, string | undefined][] = [['', values.cli], ...(values.before ? [['before: ', values.before] as [string, string]] : [])];
  for (const [prefix, cli] of builds) for (const [variant, extra] of variants) {
    const name = prefix + variant;
    const a = await lab.addNode('vxroute', 1, { txOffload: true });
    const b = await lab.addNode('vxroute', 1, { txOffload: true });
    const subnets = await lab.writeSubnets([a, b], `subnets-${pairs.length}.json`);
    const pids: number[] = [];
    for (const n of [a, b]) pids.push((await lab.startVxroute(n, subnets, [...flags, ...extra], cli)).pid);
    pairs.push({ name, a, b, pids });
    await rtts(a.pods[0].ns, b.pods[0].ip, 200); // warm-up: JIT, neighbours
    await tcpRr(binary, { ns: b.pods[0].ns, ip: b.pods[0].ip }, a.pods[0].ns, 1);
  }

  // 1. Interleaved rounds of ping and TCP_RR, nothing attached.
  const runs = new Map<Pair, Round[]>(pairs.map((p) => [p, []]));
  for (let r = 0; r < rounds; r++) {
    for (const p of pairs) {
      const server = { ns: p.b.pods[0].ns, ip: p.b.pods[0].ip };
      const pingP50 = p50(await rtts(p.a.pods[0].ns, server.ip, RR_PINGS));
      const before = await cpuNs(p.pids);
      const sleptBefore = await sleeps(p.pids);
      const rr = await tcpRr(binary, server, p.a.pods[0].ns, seconds);
      const transactions = rr.transactionsPerS * seconds;
      const cpuPerTransaction = ((await cpuNs(p.pids)) - before) / 1000 / transactions;
      runs.get(p)!.push({ pingP50, rr, cpuPerTransaction, sleepsPerTransaction: ((await sleeps(p.pids)) - sleptBefore) / transactions });
    }
  }

  // 2. vxroute's pings again, for its profile: CPU per echo, then under perf: syscalls (perf
  //    trace) and scheduling delays (perf sched).
  const ours = pairs[1];
  const kernelRtts = await rtts(kernel.a.pods[0].ns, kernel.b.pods[0].ip);
  const cpuBefore = await cpuNs(ours.pids);
  const ourRtts = await rtts(ours.a.pods[0].ns, ours.b.pods[0].ip);
  const cpuPerEcho = ((await cpuNs(ours.pids)) - cpuBefore) / ourRtts.length / 1000;
  const data = join(lab.dir, 'sched.data');
  const sched = spawn('perf', ['sched', 'record', '-o', data, '--', 'sleep', String(Math.ceil(echoes * INTERVAL_S * 1.5 + 2))], { stdio: 'ignore' });
  const syscalls = spawn('perf', ['trace', '-s', '-p', ours.pids.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let summary = '';
  syscalls.stderr!.setEncoding('utf8').on('data', (d: string) => (summary += d));
  await new Promise((r) => setTimeout(r, 1000));
  const traced = await rtts(ours.a.pods[0].ns, ours.b.pods[0].ip);
  syscalls.kill('SIGINT');
  await once(syscalls, 'exit');
  await once(sched, 'exit');
  const tids = new Set<number>();
  for (const pid of ours.pids) for (const tid of await readdir(`/proc/${pid}/task`)) tids.add(Number(tid));
  const delays: number[] = [];
  for (const line of (await host('perf', ['sched', 'timehist', '-i', data])).split('\n')) {
    // time  cpu  task[tid]  wait-time  sch-delay  run-time (ms)
    const m = /^\s*[\d.]+\s+\[\d+\]\s+\S+\[(\d+)(?:\/\d+)?\]\s+[\d.]+\s+([\d.]+)\s+[\d.]+/.exec(line);
    if (m && tids.has(Number(m[1]))) delays.push(Number(m[2]) * 1000);
  }
  delays.sort((a, b) => a - b);
  // perf trace -s prints a table per thread: add up each syscall's calls over them.
  const per = (name: string): number => [...summary.matchAll(new RegExp(`^\\s*${name}\\s+(\\d+)`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
  const calls = ['poll', 'epoll_wait', 'read', 'readv', 'write', 'writev', 'sendmmsg', 'recvmmsg', 'sched_yield'].map((c) => [c, per(c)] as const);

  const med = (p: Pair, f: (r: Round) => number): number => median(runs.get(p)!.map(f));
  const row = (label: string, f: (r: Round) => number, digits: number, ratio: boolean): string =>
    `| ${label} | ${pairs.map((p) => (p.pids.length === 0 && label.startsWith('daemons') ? '–' : `${med(p, f).toFixed(digits)}${ratio ? ` (${(med(p, f) / med(kernel, f)).toFixed(2)}×)` : ''}`)).join(' | ')} |`;
  console.log(`${rounds} interleaved rounds of ${RR_PINGS} pings and ${seconds} s of TCP_RR (medians; (×) = ratio to the kernel pair of the same run)${values.cli ? `; vxroute from ${values.cli}` : ''}${values.before ? `; before: from ${values.before}` : ''}\n`);
  console.log(`| | ${pairs.map((p) => p.name).join(' | ')} |`);
  console.log(`|---|${pairs.map(() => '---').join('|')}|`);
  console.log(row('TCP_RR 1 byte (trans/s)', (r) => r.rr.transactionsPerS, 0, true));
  console.log(row('TCP_RR p50 (µs)', (r) => r.rr.p50Us, 0, false));
  console.log(row('TCP_RR p99 (µs)', (r) => r.rr.p99Us, 0, false));
  console.log(row('ping p50 (ms)', (r) => r.pingP50, 3, true));
  console.log(row('daemons\' CPU per transaction (µs)', (r) => r.cpuPerTransaction, 1, false));
  console.log(row('daemons\' sleeps per transaction', (r) => r.sleepsPerTransaction, 2, false));

  const extra = (p50(ourRtts) - p50(kernelRtts)) * 1000;
  console.log(`\nvxroute's profile: ${echoes} echoes ${INTERVAL_S * 1000} ms apart; an echo crosses a daemon 4 times\n`);
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| ping p50, kernel VXLAN | ${p50(kernelRtts).toFixed(3)} ms |`);
  console.log(`| ping p50, vxroute | ${p50(ourRtts).toFixed(3)} ms (+${extra.toFixed(0)} µs, ${(extra / 4).toFixed(0)} µs per crossing) |`);
  console.log(`| daemons' CPU time per crossing (user + kernel, all threads) | ${(cpuPerEcho / 4).toFixed(1)} µs |`);
  console.log(`| syscalls per crossing | ${calls.filter(([, n]) => n > 0).map(([c, n]) => `${c} ${(n / traced.length / 4).toFixed(2)}`).join(', ')} |`);
  console.log(`| scheduling delay of daemon threads, woken → running (${delays.length}) | p50 ${p50(delays).toFixed(1)} µs, p90 ${delays[Math.floor(delays.length * 0.9)]?.toFixed(1)} µs |`);
} finally {
  await lab.dispose();
}
