// Where a round trip through vxroute goes. Two vxroute nodes and two kernel VXLAN nodes (underlay
// offloads on, as in npm run bench), pinged in the same run; during vxroute's pings, perf records
// the scheduler (how long each daemon thread waited between its wake-up and running) and the
// daemons' syscalls. An echo crosses a daemon four times (out of A, into B, out of B, into A);
// each crossing is a wake-up from poll() and a few syscalls, which is what the difference to the
// kernel path is made of. --busy-poll passes the daemon flag through: spinning instead of sleeping.
//   npm run bench:latency -- [--echoes 2000] [--no-tun-offload] [--busy-poll US]   (needs perf: apt-get install -y linux-perf)
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab } from '../src/lab/lab.js';
import { host, tryInNs } from '../src/lab/netns.js';

const { values } = parseArgs({ options: { echoes: { type: 'string', default: '2000' }, 'no-tun-offload': { type: 'boolean', default: false }, 'busy-poll': { type: 'string' } } });
const echoes = Number(values.echoes);
const INTERVAL_S = 0.002;

if (spawnSync('sh', ['-c', 'command -v perf']).status !== 0) {
  process.stderr.write('bench:latency needs perf: apt-get install -y linux-perf\n');
  process.exit(1);
}

async function rtts(ns: string, dst: string): Promise<number[]> {
  const r = await tryInNs(ns, 'ping', ['-n', '-c', String(echoes), '-i', String(INTERVAL_S), '-W', '2', dst], 600_000);
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

const lab = await Lab.create();
try {
  const k1 = await lab.addNode('kernel', 1, { txOffload: true });
  const k2 = await lab.addNode('kernel', 1, { txOffload: true });
  const v1 = await lab.addNode('vxroute', 1, { txOffload: true });
  const v2 = await lab.addNode('vxroute', 1, { txOffload: true });
  await lab.programKernelPeers();
  const subnets = await lab.writeSubnets([v1, v2]);
  const flags = ['--workers', '1', ...(values['no-tun-offload'] ? ['--no-tun-offload'] : []), ...(values['busy-poll'] ? ['--busy-poll', values['busy-poll']] : [])];
  const d1 = await lab.startVxroute(v1, subnets, flags);
  const d2 = await lab.startVxroute(v2, subnets, flags);
  await rtts(v1.pods[0].ns, v2.pods[0].ip); // warm-up: JIT, neighbours

  // 1. Round trips, nothing attached; the daemons' CPU time (all threads, ns) meanwhile.
  const pids = [d1.pid, d2.pid];
  const kernel = await rtts(k1.pods[0].ns, k2.pods[0].ip);
  const cpuBefore = await cpuNs(pids);
  const ours = await rtts(v1.pods[0].ns, v2.pods[0].ip);
  const cpuPerEcho = ((await cpuNs(pids)) - cpuBefore) / ours.length / 1000;

  // 2. The same pings again under perf: syscalls (perf trace) and scheduling delays (perf sched).
  const data = join(lab.dir, 'sched.data');
  const sched = spawn('perf', ['sched', 'record', '-o', data, '--', 'sleep', String(Math.ceil(echoes * INTERVAL_S * 1.5 + 2))], { stdio: 'ignore' });
  const syscalls = spawn('perf', ['trace', '-s', '-p', pids.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let summary = '';
  syscalls.stderr!.setEncoding('utf8').on('data', (d: string) => (summary += d));
  await new Promise((r) => setTimeout(r, 1000));
  const traced = await rtts(v1.pods[0].ns, v2.pods[0].ip);
  syscalls.kill('SIGINT');
  await once(syscalls, 'exit');
  await once(sched, 'exit');
  const tids = new Set<number>();
  for (const pid of pids) for (const tid of await readdir(`/proc/${pid}/task`)) tids.add(Number(tid));
  const delays: number[] = [];
  for (const line of (await host('perf', ['sched', 'timehist', '-i', data])).split('\n')) {
    // time  cpu  task[tid]  wait-time  sch-delay  run-time (ms)
    const m = /^\s*[\d.]+\s+\[\d+\]\s+\S+\[(\d+)(?:\/\d+)?\]\s+[\d.]+\s+([\d.]+)\s+[\d.]+/.exec(line);
    if (m && tids.has(Number(m[1]))) delays.push(Number(m[2]) * 1000);
  }
  delays.sort((a, b) => a - b);
  // perf trace -s prints a table per thread: add up each syscall's calls over them.
  const per = (name: string): number => [...summary.matchAll(new RegExp(`^\\s*${name}\\s+(\\d+)`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
  const calls = ['poll', 'read', 'readv', 'write', 'writev', 'sendmmsg', 'recvmmsg'].map((c) => [c, per(c)] as const);

  const extra = (p50(ours) - p50(kernel)) * 1000;
  console.log(`${echoes} echoes ${INTERVAL_S * 1000} ms apart, 1 worker per daemon${values['busy-poll'] ? `, --busy-poll ${values['busy-poll']}` : ''}; an echo crosses a daemon 4 times\n`);
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| ping p50, kernel VXLAN | ${p50(kernel).toFixed(3)} ms |`);
  console.log(`| ping p50, vxroute | ${p50(ours).toFixed(3)} ms (+${extra.toFixed(0)} µs, ${(extra / 4).toFixed(0)} µs per crossing) |`);
  console.log(`| daemons' CPU time per crossing (user + kernel, all threads) | ${(cpuPerEcho / 4).toFixed(1)} µs |`);
  console.log(`| syscalls per crossing | ${calls.filter(([, n]) => n > 0).map(([c, n]) => `${c} ${(n / traced.length / 4).toFixed(2)}`).join(', ')} |`);
  console.log(`| scheduling delay of daemon threads, woken → running (${delays.length}) | p50 ${p50(delays).toFixed(1)} µs, p90 ${delays[Math.floor(delays.length * 0.9)]?.toFixed(1)} µs |`);
} finally {
  await lab.dispose();
}
