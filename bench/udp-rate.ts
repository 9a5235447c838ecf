// The 64-byte UDP rows of bench/compare.ts alone, for this build and, with --before-cli, an older
// one, in interleaved rounds: per path, a flood as fast as iperf3 sends (delivered packets/s, loss,
// and both daemons' CPU per delivered packet, every thread), then the highest offered rate that
// loses at most 0.1 % (RFC 2544 §26.1's search, as the full bench runs it). Paths: the kernel's
// VXLAN, vxroute, and vxroute --kube enforcing NetworkPolicy over the full bench's world
// (vxroute-policy, src/lab/policy-world.ts). Each round's ratios are taken within the round
// (vxroute ÷ kernel, policy ÷ vxroute, this ÷ before), then their median and range.
// --profile DIR starts the daemons with --perf-basic-prof and records `perf record -g` of each
// during the last round's flood into DIR/<row>-<node>.data (read with `perf report -i FILE`).
//   node dist/bench/udp-rate.js [--rounds 5] [--seconds 3] [--rate-trial-seconds 1] [--before-cli DIR/dist/src/cli/main.js] [--profile DIR]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from '../src/lab/iperf.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { servePolicyBench } from '../src/lab/policy-bench-api.js';
import { MEASURED_POLICIES, type WorldSize } from '../src/lab/policy-world.js';
import { searchRate, trialsFor } from '../src/lab/rate-search.js';
import { cliPath, VxrouteProcess } from '../src/lab/vxroute-process.js';
import { benchFlags, decimal, text, whole } from './bench-options.js';
import { udpTrial } from './compare.js';
import { CONNECT_PORT, TRANSACTIONS_PORT } from './tcp-rr.js';

/** What bench/compare.ts gives vxroute-policy's nodes, and its pass mark for a trial. */
const CONNTRACK_MAX = 65_536;
const RATE_MAX_LOSS = 0.001;
const IPERF_PORT = 5201;
const TICK_MS = 10; // USER_HZ

type Path = 'kernel' | 'vxroute' | 'vxroute-policy';
type Build = 'before' | 'this';

interface Row {
  name: string;
  path: Path;
  build: Build;
  lab: Lab;
  a: LabNode;
  b: LabNode;
  daemons: VxrouteProcess[];
}

interface Figures {
  delivered: number;
  loss: number;
  /** Both daemons' CPU per delivered packet in the flood, µs. */
  cpuUs: number;
  noLoss: number;
}

async function setup(path: Path, build: Build, cli: string, world: WorldSize, profile: boolean): Promise<Row> {
  const lab = await Lab.create({ underlay: [4], pods: [4] });
  try {
    const kind = path === 'kernel' ? 'kernel' : 'vxroute';
    const a = await lab.addNode(kind, 1, { txOffload: true });
    const b = await lab.addNode(kind, 1, { txOffload: true });
    const daemons: VxrouteProcess[] = [];
    // perf finds JIT-compiled functions by the /tmp/perf-PID.map the daemons write.
    const env = profile ? { ...process.env, NODE_OPTIONS: '--perf-basic-prof' } : undefined;
    const start = async (n: LabNode, args: string[]): Promise<VxrouteProcess> => {
      const p = VxrouteProcess.spawn(n.ns, ['run', '--node-name', n.name, ...args], cli, env);
      daemons.push(p);
      lab.onDispose(() => p.kill());
      await p.waitUntilReady();
      return p;
    };
    if (path === 'kernel') await lab.programKernelPeers();
    if (path === 'vxroute') {
      const subnets = await lab.writeSubnets();
      for (const n of [a, b]) await start(n, ['--subnets', subnets]);
    }
    if (path === 'vxroute-policy') {
      const { kubeconfig, netConf } = await servePolicyBench(lab, a, b, world, { iperf: IPERF_PORT, transactions: Number(TRANSACTIONS_PORT), connects: Number(CONNECT_PORT) });
      for (const n of [a, b]) await start(n, ['--kube', '--kubeconfig', kubeconfig, '--net-conf', netConf, '--cni', 'none', '--conntrack-max', String(CONNTRACK_MAX)]);
      for (const d of daemons) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 60_000);
    }
    for (const d of daemons) await d.waitUntilWarm(path === 'vxroute-policy');
    return { name: path === 'kernel' ? path : `${path}/${build}`, path, build, lab, a, b, daemons };
  } catch (err) {
    await lab.dispose();
    throw err;
  }
}

/** CPU ticks (utime + stime, every thread) of the processes. */
async function cpuTicks(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks;
}

/**
 * One iperf3 run, run again (said on stderr) when it fails to start: under load a server started
 * right after the last one's exit now and then finds the port still held and never listens.
 */
async function trial(server: { ns: string; ip: string }, client: string, pps: number, seconds: number): ReturnType<typeof udpTrial> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await udpTrial(server, client, 64, pps * 64 * 8, seconds);
    } catch (err) {
      if (attempt === 3) throw err;
      process.stderr.write(`${(err as Error).message.split('\n')[0]}; running it again\n`);
    }
  }
}

async function measure(row: Row, seconds: number, trialSeconds: number, precision: number, profileDir: string | undefined): Promise<Figures> {
  const server = { ns: row.b.pods[0].ns, ip: row.b.pods[0].ip };
  const client = row.a.pods[0].ns;
  const pids = row.daemons.map((d) => d.pid);
  const perf = profileDir ? pids.map((pid, i) => spawn('perf', ['record', '-g', '-F', '2000', '-p', String(pid), '-o', join(profileDir, `${row.name.replace('/', '-')}-${'ab'[i]}.data`)], { stdio: 'ignore' })) : [];
  const before = await cpuTicks(pids);
  const flood = await trial(server, client, 0, seconds);
  const cpuMs = ((await cpuTicks(pids)) - before) * TICK_MS;
  for (const p of perf) {
    p.kill('SIGINT');
    await once(p, 'exit');
  }
  const search = await searchRate(async (pps) => (await trial(server, client, pps, trialSeconds)).loss, {
    ceiling: flood.sentPps, maxLoss: RATE_MAX_LOSS, precision, maxTrials: trialsFor(precision) + 2,
  });
  return { delivered: flood.pps, loss: flood.loss * 100, cpuUs: pids.length > 0 ? (cpuMs * 1000) / (flood.pps * seconds) : NaN, noLoss: search.rate };
}

const loadAverage = async (): Promise<string> => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
const spread = (xs: number[], digits: number): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}…${Math.max(...xs).toFixed(digits)})`;

async function main(): Promise<number> {
  const values = benchFlags({
    module: import.meta.url,
    flags: {
      rounds: whole('interleaved rounds; each figure is their median, with their range', { min: 1, max: 100, default: 5 }),
      seconds: whole('length of each as-fast-as-iperf3-sends flood (whole seconds)', { min: 1, max: 600, default: 3 }, 'S'),
      'rate-trial-seconds': whole('length of each trial of the no-loss rate search (iperf3 takes whole seconds)', { min: 1, max: 600, default: 1 }, 'S'),
      'rate-precision': decimal('the rate search stops within this share of the rate', { min: 0.001, max: 0.5, default: 0.05 }, 'F'),
      'policy-pods': whole('pods in the NetworkPolicy world of vxroute-policy', { min: 2, max: 25_000, default: 5000 }),
      policies: whole('policies in that world', { min: MEASURED_POLICIES + 1, max: 10_000, default: 1000 }),
      'before-cli': text("adds the before build's vxroute rows, running that build's CLI", 'PATH', undefined, 'this build only'),
      profile: text('perf record -g of each daemon during the last round\'s floods, into DIR/<row>-<node>.data', 'DIR', undefined, 'no profile'),
    },
  });
  if (process.getuid?.() !== 0) {
    process.stderr.write('udp-rate builds network namespaces: run it as root\n');
    return 1;
  }
  const { rounds, seconds } = values;
  const world: WorldSize = { pods: values['policy-pods'], policies: values.policies };
  const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const builds: Array<[Build, string]> = values['before-cli'] ? [['before', resolve(values['before-cli'])], ['this', cliPath()]] : [['this', cliPath()]];
  const rows: Row[] = [];
  try {
    rows.push(await setup('kernel', 'this', cliPath(), world, false));
    for (const path of ['vxroute', 'vxroute-policy'] as const) for (const [build, cli] of builds) rows.push(await setup(path, build, cli, world, profileDir !== undefined));
    const figures = new Map<string, Figures[]>(rows.map((r) => [r.name, []]));
    console.log(`${rounds} interleaved rounds: floods of ${seconds} s, rate trials of ${values['rate-trial-seconds']} s to within ${values['rate-precision'] * 100} %; load average ${await loadAverage()}`);
    for (let r = 0; r < rounds; r++) {
      for (const row of rows) {
        const f = await measure(row, seconds, values['rate-trial-seconds'], values['rate-precision'], r === rounds - 1 ? profileDir : undefined);
        figures.get(row.name)!.push(f);
        console.log(`round ${r + 1} ${row.name}: ≤ 0.1 % loss ${f.noLoss.toFixed(0)} pkt/s; flood ${f.delivered.toFixed(0)} pkt/s delivered, ${f.loss.toFixed(2)} % lost, ${f.cpuUs.toFixed(2)} µs CPU per packet; load ${await loadAverage()}`);
      }
    }
    const of = (name: string, k: keyof Figures): number[] => figures.get(name)!.map((f) => f[k]);
    const ratio = (x: string, y: string, k: keyof Figures): number[] => of(x, k).map((v, i) => v / of(y, k)[i]);
    const lines = ['', '| row | ≤ 0.1 % loss (pkt/s) | ÷ kernel | flood delivered (pkt/s) | flood loss (%) | CPU per packet (µs) |', '|---|---|---|---|---|---|'];
    for (const row of rows) lines.push(`| ${row.name} | ${spread(of(row.name, 'noLoss'), 0)} | ${spread(ratio(row.name, 'kernel', 'noLoss'), 2)}× | ${spread(of(row.name, 'delivered'), 0)} | ${spread(of(row.name, 'loss'), 2)} | ${row.path === 'kernel' ? '' : spread(of(row.name, 'cpuUs'), 2)} |`);
    lines.push('');
    for (const [build] of builds) {
      lines.push(`policy ÷ vxroute (${build}): ≤ 0.1 % loss ${spread(ratio(`vxroute-policy/${build}`, `vxroute/${build}`, 'noLoss'), 2)}×, flood delivered ${spread(ratio(`vxroute-policy/${build}`, `vxroute/${build}`, 'delivered'), 2)}×`);
    }
    if (builds.length === 2) {
      for (const path of ['vxroute', 'vxroute-policy']) {
        lines.push(`${path} this ÷ before: ≤ 0.1 % loss ${spread(ratio(`${path}/this`, `${path}/before`, 'noLoss'), 2)}×, CPU per packet ${spread(ratio(`${path}/this`, `${path}/before`, 'cpuUs'), 2)}×`);
      }
    }
    console.log([...lines, `load average at the end ${await loadAverage()}`].join('\n'));
    return 0;
  } finally {
    for (const row of rows) {
      await Promise.all(row.daemons.map((d) => d.stop().catch(() => d.kill())));
      await row.lab.dispose();
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
