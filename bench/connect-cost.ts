// The narrow form of bench/compare.ts's policy rows: only what a new connection and an established
// one cost with NetworkPolicy on (vxroute-policy) against off (vxroute-kube), the same API server
// world as the full bench, rounds interleaving the two, many connect() samples per round. For
// finding where a first packet's time goes; --profile DIR starts the daemons with --perf-basic-prof
// and records `perf record -g` of each daemon during the last round's connects into
// DIR/<variant>-<node>.data (read with `perf report -i FILE`).
// --perf-event names what perf samples (default cpu-clock at 2 kHz; page-faults: every fault).
// --trace-deopt starts the daemons with V8's deoptimization and optimization traces and prints, per
// round and variant, the functions that deoptimized from the round's first phase to its TCP_RR, with
// V8's reasons, and those TurboFan compiled then, with the compile's time.
// --stream-seconds N adds one TCP stream (iperf3) of N seconds to each round: its throughput on ÷
// off, and the daemons' CPU during it; with --profile, `perf record` of the last round's stream
// goes to DIR/<variant>-<node>-stream.data.
// --udp64-seconds N starts each round with the full bench's unpaced flood of 64-byte UDP (one flow,
// iperf3 -u -l 64 -b 0) of N seconds: its delivered rate on ÷ off and the daemons' CPU, so that
// the connects follow a flood as in the full bench; with --profile, DIR/<variant>-<node>-udp64.data.
// --pings N then sends N pings, 5 ms apart, before the connects (the full bench's latency phase).
//   npm run bench:connect-cost -- [--rounds 5] [--connects 2000] [--rr-seconds 2] [--stream-seconds 0] [--udp64-seconds 0] [--pings 0] [--policy-pods 5000] [--policies 1000] [--profile DIR] [--perf-event E] [--trace-deopt]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { iperfJson, median } from '../src/lab/iperf.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { servePolicyBench } from '../src/lab/policy-bench-api.js';
import { MEASURED_POLICIES, type WorldSize } from '../src/lab/policy-world.js';
import { buildTcpRr, CONNECT_PORT, TRANSACTIONS_PORT, tcpConnects, tcpRr } from './tcp-rr.js';
import { benchFlags, text, toggle, whole } from './bench-options.js';

const VARIANTS = ['vxroute-kube', 'vxroute-policy'] as const;
type Variant = (typeof VARIANTS)[number];
/** The same cap bench/compare.ts gives vxroute-policy's nodes. */
const CONNTRACK_MAX = 65_536;
const IPERF_PORT = 5201;

interface Setup {
  lab: Lab;
  a: LabNode;
  b: LabNode;
  /** Both nodes' daemons. */
  daemons: VxrouteProcess[];
}

/** A counter's value summed over both daemons' /metrics (0 where absent, e.g. policy off). */
async function metricSum(daemons: VxrouteProcess[], name: string): Promise<number> {
  let sum = 0;
  for (const d of daemons) {
    const { body } = await d.get('/metrics');
    for (const m of body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  }
  return sum;
}

/** CPU ticks (utime + stime) of each thread of the processes, by node and thread (`a/main`, `b/node:TID`), and each daemon's minor page faults (`a/minflt`). */
async function threadTicks(pids: number[]): Promise<Map<string, number>> {
  const ticks = new Map<string, number>();
  for (const [i, pid] of pids.entries()) {
    const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
    for (const tid of tasks) {
      const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
      if (stat === '') continue;
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const key = `${'ab'[i] ?? i}/${Number(tid) === pid ? 'main' : `${name}:${tid}`}`;
      ticks.set(key, (ticks.get(key) ?? 0) + Number(fields[11]) + Number(fields[12]));
      ticks.set(`${'ab'[i] ?? i}/minflt`, (ticks.get(`${'ab'[i] ?? i}/minflt`) ?? 0) + Number(fields[7]));
    }
  }
  return ticks;
}

/** The threads that took CPU between two threadTicks, busiest first, in ms (USER_HZ = 100), after each daemon's minor page faults. */
function cpuLine(before: Map<string, number>, after: Map<string, number>): string {
  const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  const faults = `minor faults a ${delta('a/minflt')} b ${delta('b/minflt')}; `;
  return faults + [...after].filter(([k]) => !k.endsWith('/minflt')).map(([k, v]) => [k, (v - (before.get(k) ?? 0)) * 10] as const).filter(([, ms]) => ms > 0).sort((x, y) => y[1] - x[1]).map(([k, ms]) => `${k} ${ms}`).join(', ');
}

/** What the daemons' deoptimization trace says since log line `from` of each: `function (reason) ×count`, most first. */
function deoptsSince(daemons: VxrouteProcess[], from: number[]): string {
  const counts = new Map<string, number>();
  for (const [i, d] of daemons.entries()) {
    for (const line of d.logs.slice(from[i])) {
      const m = /^\[bailout \(kind: ([^,]+), reason: ([^)]*)\).*<JSFunction (\S+)/.exec(String(line.msg));
      if (m) counts.set(`${'ab'[i]}/${m[3]} (${m[1]}: ${m[2]})`, (counts.get(`${'ab'[i]}/${m[3]} (${m[1]}: ${m[2]})`) ?? 0) + 1);
    }
  }
  return [...counts].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
}

/** What TurboFan compiled in the daemons since log line `from` of each: `function ×count (ms)`, longest first. */
function compiledSince(daemons: VxrouteProcess[], from: number[]): string {
  const compiled = new Map<string, { count: number; ms: number }>();
  for (const [i, d] of daemons.entries()) {
    for (const line of d.logs.slice(from[i])) {
      // V8: `[completed compiling 0x… <JSFunction NAME (sfi = 0x…)> (target TURBOFAN) - took PREPARE, EXECUTE, FINALIZE ms]`
      const m = /^\[completed compiling .*<JSFunction (\S+) .*took ([\d.]+), ([\d.]+), ([\d.]+) ms\]/.exec(String(line.msg));
      if (!m) continue;
      const c = compiled.get(`${'ab'[i]}/${m[1]}`) ?? { count: 0, ms: 0 };
      c.count++;
      c.ms += Number(m[2]) + Number(m[3]) + Number(m[4]);
      compiled.set(`${'ab'[i]}/${m[1]}`, c);
    }
  }
  return [...compiled].sort((x, y) => y[1].ms - x[1].ms).map(([k, c]) => `${k} ×${c.count} (${c.ms.toFixed(1)} ms)`).join(', ') || 'nothing';
}

async function setup(variant: Variant, world: WorldSize, profileDir: string | undefined, traceDeopt: boolean): Promise<Setup> {
  const lab = await Lab.create({ underlay: [4], pods: [4] });
  try {
    const a = await lab.addNode('vxroute', 1, { txOffload: true });
    const b = await lab.addNode('vxroute', 1, { txOffload: true });
    const { kubeconfig, netConf } = await servePolicyBench(lab, a, b, world, { iperf: IPERF_PORT, transactions: Number(TRANSACTIONS_PORT), connects: Number(CONNECT_PORT) });
    const flags = variant === 'vxroute-kube' ? ['--no-network-policy'] : ['--conntrack-max', String(CONNTRACK_MAX)];
    const saved = process.env.NODE_OPTIONS;
    // perf finds JIT-compiled functions by the /tmp/perf-PID.map the daemons write.
    const options = [...(profileDir ? ['--perf-basic-prof'] : []), ...(traceDeopt ? [`--import=${new URL('./deopt-trace-flags.js', import.meta.url).href}`] : [])];
    if (options.length > 0) process.env.NODE_OPTIONS = options.join(' ');
    const daemons = [];
    try {
      for (const n of [a, b]) daemons.push(await lab.startVxrouteKube(n, kubeconfig, netConf, flags));
      for (const d of daemons) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 60_000);
      // The first round measures warm daemons, not their policy warm-up (policy-warm-up.ts) or the compiler's.
      for (const d of daemons) await d.waitUntilWarm(variant === 'vxroute-policy');
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
    }
    return { lab, a, b, daemons };
  } catch (err) {
    await lab.dispose();
    throw err;
  }
}

async function stopRecording(perf: ReturnType<typeof spawn>[]): Promise<void> {
  for (const p of perf) {
    p.kill('SIGINT');
    await once(p, 'exit');
  }
}

const loadAverage = async (): Promise<string> => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

async function main(argv: string[]): Promise<number> {
  const values = benchFlags({
    module: import.meta.url,
    flags: {
      rounds: whole('interleaved rounds', { min: 1, max: 100, default: 5 }),
      connects: whole('connect() samples per variant per round', { min: 10, max: 100_000, default: 2000 }),
      'rr-seconds': whole('length of each TCP_RR run', { min: 1, max: 600, default: 2 }, 'S'),
      'stream-seconds': whole('adds one TCP stream of this length to each round; 0: none', { min: 0, max: 600, default: 0 }, 'S'),
      pings: whole('pings before each round\'s connects, 5 ms apart; 0: none', { min: 0, max: 100_000, default: 0 }),
      'udp64-seconds': whole('starts each round with an unpaced 64-byte UDP flood of this length; 0: none', { min: 0, max: 600, default: 0 }, 'S'),
      'policy-pods': whole('pods in the NetworkPolicy world', { min: 2, max: 25_000, default: 5000 }),
      policies: whole('policies in that world', { min: MEASURED_POLICIES + 1, max: 10_000, default: 1000 }),
      profile: text("perf record -g of each daemon in the last round, into DIR/<variant>-<node>.data", 'DIR', undefined, 'no profile'),
      'perf-event': text('what perf samples (cpu-clock at 2 kHz; page-faults: every fault)', 'E', 'cpu-clock'),
      'trace-deopt': toggle("V8's deoptimization and optimization traces of the daemons, per round and variant"),
    },
  }, argv);
  const { rounds, connects } = values;
  const rrSeconds = values['rr-seconds'];
  const streamSeconds = values['stream-seconds'];
  const udpSeconds = values['udp64-seconds'];
  const world: WorldSize = { pods: values['policy-pods'], policies: values.policies };
  if (process.getuid?.() !== 0) {
    process.stderr.write('connect-cost builds network namespaces: run it as root\n');
    return 1;
  }
  const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'vxroute-connect-'));
  const setups = new Map<Variant, Setup>();
  try {
    const binary = await buildTcpRr(scratch);
    for (const v of VARIANTS) setups.set(v, await setup(v, world, profileDir, values['trace-deopt']!));
    if (values['trace-deopt']) for (const s of setups.values()) for (const d of s.daemons) process.kill(d.pid, 'SIGUSR2');
    const connectP50 = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    const rr = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    const stream = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    const udp64 = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    for (let r = 0; r < rounds; r++) {
      for (const v of VARIANTS) {
        const s = setups.get(v)!;
        const server = { ns: s.b.pods[0].ns, ip: s.b.pods[0].ip };
        const pids = s.daemons.map((d) => d.pid);
        const waits = await metricSum(s.daemons, 'vxroute_conntrack_lock_waits_total');
        const record = (what: string) => (profileDir && r === rounds - 1 ? pids.map((pid, i) => spawn('perf', ['record', '-g', '-e', values['perf-event']!, ...(values['perf-event'] === 'cpu-clock' ? ['-F', '2000'] : []), '-p', String(pid), '-o', join(profileDir, `${v}-${'ab'[i]}${what}.data`)], { stdio: 'ignore' })) : []);
        const logsAt = s.daemons.map((d) => d.logs.length);
        if (udpSeconds > 0) {
          const udpPerf = record('-udp64');
          const u0 = await threadTicks(pids);
          const received = (await iperfJson(server, s.a.pods[0].ns, ['-u', '-l', '64', '-b', '0', '-t', String(udpSeconds)], IPERF_PORT)).end.sum_received;
          const u1 = await threadTicks(pids);
          await stopRecording(udpPerf);
          const pps = (received.packets - received.lost_packets) / received.seconds;
          udp64.get(v)!.push(pps);
          console.log(`round ${r + 1} ${v}: UDP 64 B delivered ${pps.toFixed(0)} pkt/s (loss ${((100 * received.lost_packets) / Math.max(1, received.packets)).toFixed(1)} %); CPU ms during it: ${cpuLine(u0, u1)}`);
        }
        if (values.pings > 0) {
          const r = await tryInNs(s.a.pods[0].ns, 'ping', ['-n', '-q', '-c', String(values.pings), '-i', '0.005', '-W', '2', server.ip]);
          if (!/ 0% packet loss/.test(r.stdout)) throw new Error(`ping ${server.ip}: ${r.stdout}${r.stderr}`);
        }
        const perf = record('');
        const t0 = await threadTicks(pids);
        const c = await tcpConnects(binary, server, s.a.pods[0].ns, connects);
        const t1 = await threadTicks(pids);
        await stopRecording(perf);
        const t = await tcpRr(binary, server, s.a.pods[0].ns, rrSeconds);
        const t2 = await threadTicks(pids);
        connectP50.get(v)!.push(c.p50Us);
        rr.get(v)!.push(t.transactionsPerS);
        console.log(`round ${r + 1} ${v}: connect p50 ${c.p50Us} µs p99 ${c.p99Us} µs, TCP_RR ${t.transactionsPerS.toFixed(0)}/s (p50 ${t.p50Us} µs); load ${await loadAverage()}`);
        console.log(`  CPU ms during connects: ${cpuLine(t0, t1)}; conntrack lock waits ${(await metricSum(s.daemons, 'vxroute_conntrack_lock_waits_total')) - waits}`);
        console.log(`  CPU ms during TCP_RR: ${cpuLine(t1, t2)}`);
        if (values['trace-deopt']) {
          console.log(`  deoptimized from the round's first phase to its TCP_RR: ${deoptsSince(s.daemons, logsAt)}`);
          console.log(`  compiled by TurboFan then: ${compiledSince(s.daemons, logsAt)}`);
        }
        if (streamSeconds > 0) {
          const streamPerf = record('-stream');
          const received = (await iperfJson(server, s.a.pods[0].ns, ['-t', String(streamSeconds)], IPERF_PORT)).end.sum_received;
          await stopRecording(streamPerf);
          const t3 = await threadTicks(pids);
          stream.get(v)!.push(received.bits_per_second / 1e6);
          console.log(`  TCP 1 stream ${(received.bits_per_second / 1e6).toFixed(0)} Mbit/s; CPU ms during it: ${cpuLine(t2, t3)}`);
        }
      }
    }
    const on = 'vxroute-policy';
    const off = 'vxroute-kube';
    const diffs = connectP50.get(on)!.map((x, i) => x - connectP50.get(off)![i]);
    const ratios = rr.get(on)!.map((x, i) => x / rr.get(off)![i]);
    console.log(`connect p50 on − off: median ${median(diffs)} µs (rounds: ${diffs.join(', ')})`);
    console.log(`TCP_RR on ÷ off: median ${median(ratios).toFixed(2)}× (rounds: ${ratios.map((x) => x.toFixed(2)).join(', ')})`);
    if (udpSeconds > 0) {
      const floods = udp64.get(on)!.map((x, i) => x / udp64.get(off)![i]);
      console.log(`UDP 64 B delivered on ÷ off: median ${median(floods).toFixed(2)}× (rounds: ${floods.map((x) => x.toFixed(2)).join(', ')})`);
    }
    if (streamSeconds > 0) {
      const streams = stream.get(on)!.map((x, i) => x / stream.get(off)![i]);
      console.log(`TCP 1 stream on ÷ off: median ${median(streams).toFixed(2)}× (rounds: ${streams.map((x) => x.toFixed(2)).join(', ')})`);
    }
    return 0;
  } finally {
    for (const s of setups.values()) await s.lab.dispose();
    await rm(scratch, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
