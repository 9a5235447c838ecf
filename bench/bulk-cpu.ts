// Where one bulk TCP stream's CPU goes: one iperf3 stream between two pods over the lab's underlay
// (veths with a NIC's transmit offloads), per path
//   vv   vxroute → vxroute      kv   kernel → vxroute      vk   vxroute → kernel
// for this build and, with --before-cli, an older one, in interleaved rounds. Per run: throughput,
// the vxroute daemons' CPU seconds per gigabit (user and system apart: user is the addon and JS,
// system the syscalls' copies and the stack), the machine's softirq seconds per gigabit, and the
// receiving daemon's packets per TUN write (vv, kv) or the sending one's segments per UDP send.
// `--perf DIR` records `perf record -g` of the daemons of this build's last round per path into
// DIR/<path>.data (started with --perf-basic-prof, so JS frames have names).
// `--family 6`: pods and underlay IPv6 (the UDP checksum is then mandatory and verified by the
// kernel, so the receiver coalesces without summing: docs/decisions.md).
// `--mode switch`: the daemons in switch mode and the pods in one Ethernet segment (a kernel node
// bridges vxlan0); the lab's segment has an IPv4 underlay, so --family picks the pods' only.
// `--before-args`: flags of the before rows' daemons (e.g. "--send-path cut"); without
// --before-cli, the before rows run this build with them.
// `--kube`: the vxroute nodes learn each other from a lab API server (`--kube`, NetworkPolicy on,
// as users run it) under one policy that selects the server pod and allows the client; path vv only.
//   npm run bench:bulk-cpu -- [--paths vv,kv,vk] [--rounds 3] [--seconds 6] [--family 4|6] [--mode router|switch] [--kube] [--before-cli DIR/dist/src/cli/main.js] [--before-args FLAGS] [--perf DIR]
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { iperfJson, median } from '../src/lab/iperf.js';
import { KubeApiServer } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { benchFlags, oneOf, someOf, text, toggle, whole } from './bench-options.js';

const PATHS = ['vv', 'kv', 'vk'] as const;
type Path = (typeof PATHS)[number];
const PATH_NAMES: Record<Path, string> = { vv: 'vxroute → vxroute', kv: 'kernel → vxroute', vk: 'vxroute → kernel' };
type Build = 'this' | 'before';

interface Figures {
  mbit: number;
  userPerGbit: number;
  systemPerGbit: number;
  softirqPerGbit: number;
  /** Packets per TUN write on the receiving vxroute (vv, kv); NaN for vk. */
  packetsPerTunWrite: number;
}

export const TICK_S = 0.01; // USER_HZ

/** User and system CPU ticks of the processes so far. */
export async function cpuTicks(pids: number[]): Promise<{ user: number; system: number }> {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    user += Number(fields[11]);
    system += Number(fields[12]);
  }
  return { user, system };
}

async function softirqTicks(): Promise<number> {
  return Number((await readFile('/proc/stat', 'utf8')).split('\n')[0].split(/\s+/)[7]);
}

/** How the daemons run: the mode, whether from a lab API server, and the before rows' build and extra flags. */
interface Daemons {
  mode: 'router' | 'switch';
  kube: boolean;
  beforeCli: string | undefined;
  beforeArgs: string[];
}

/**
 * Starts `--kube` daemons on vxroute nodes a (the client's) and b (the server's) against an API
 * server of the lab, with one NetworkPolicy selecting the server pod and allowing the client, and
 * waits until each knows the other.
 */
async function startKube(lab: Lab, nodes: [LabNode, LabNode], family: 4 | 6, args: string[], cli: string | undefined, env: NodeJS.ProcessEnv | undefined): Promise<VxrouteProcess[]> {
  const api = new KubeApiServer();
  lab.onDispose(() => void api.close());
  const kubeconfig = await lab.addApiServer(api);
  api.upsertNamespace({ metadata: { name: 'x' } });
  for (const [n, name] of [[nodes[0], 'client'], [nodes[1], 'server']] as const) {
    const cidr = family === 4 ? n.podCIDR : n.podCIDRv6;
    const addresses = (family === 4 ? [n.publicIP] : [n.publicIP, n.publicIPv6]).map((address) => ({ type: 'InternalIP', address }));
    api.upsertNode({ metadata: { name: n.name }, spec: { podCIDR: cidr, podCIDRs: [cidr] }, status: { addresses } });
    const ip = family === 4 ? n.pods[0].ip : n.pods[0].ip6;
    api.upsertPod({ metadata: { namespace: 'x', name, labels: { pod: name } }, spec: { nodeName: n.name, containers: [{ name }] }, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } });
  }
  api.upsertNetworkPolicy({
    metadata: { namespace: 'x', name: 'server-from-client' },
    spec: { podSelector: { matchLabels: { pod: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'client' } } }] }] },
  });
  const netConf = await lab.writeNetConf();
  const daemons = [];
  for (const n of nodes) daemons.push(await lab.startVxrouteKube(n, kubeconfig, netConf, args, { cli, env }));
  for (const d of daemons) await d.waitForLog((l) => l.msg === 'table loaded' && l.nodes === 2, 30_000);
  return daemons;
}

async function run(path: Path, build: Build, seconds: number, family: 4 | 6, daemons: Daemons, perfFile: string | undefined): Promise<Figures> {
  const segment = daemons.mode === 'switch';
  // --kube: the lab's API server listens on the IPv4 underlay.
  const lab = await Lab.create(segment ? { underlay: [4], pods: [family], segment } : { underlay: daemons.kube && family === 6 ? [4, 6] : [family], pods: [family] });
  try {
    const a = await lab.addNode(path === 'kv' ? 'kernel' : 'vxroute', 1, { txOffload: true });
    const b = await lab.addNode(path === 'vk' ? 'kernel' : 'vxroute', 1, { txOffload: true });
    await lab.programKernelPeers();
    const subnets = await lab.writeSubnets();
    const env = perfFile ? { ...process.env, NODE_OPTIONS: '--perf-basic-prof' } : undefined;
    const cli = build === 'before' ? daemons.beforeCli : undefined;
    const args = ['--workers', '1', ...(segment ? ['--mode', 'switch'] : []), ...(build === 'before' ? daemons.beforeArgs : [])];
    const [sender, receiver] = daemons.kube
      ? await startKube(lab, [a, b], family, args, cli, env)
      : [a.kind === 'vxroute' ? await lab.startVxroute(a, subnets, args, cli, env) : undefined, b.kind === 'vxroute' ? await lab.startVxroute(b, subnets, args, cli, env) : undefined];
    const pids = [sender, receiver].flatMap((d) => (d ? [d.pid] : []));
    const server = { ns: b.pods[0].ns, ip: family === 6 ? b.pods[0].ip6 : b.pods[0].ip };
    await iperfJson(server, a.pods[0].ns, ['-t', '1']); // warm up: JIT, routes, neighbours
    const perf = perfFile
      ? spawn('perf', ['record', '-F', '499', '-g', '-o', perfFile, '-p', pids.join(','), '--', 'sleep', String(Math.max(1, seconds - 2))], { stdio: 'ignore' })
      : undefined;
    // Listened for now: perf may end before iperf3 does.
    const perfDone = perf && new Promise((resolve) => perf.once('exit', resolve));
    const cpu0 = await cpuTicks(pids);
    const soft0 = await softirqTicks();
    const before = receiver ? (await receiver.counters()).workers[0] : undefined;
    const report = await iperfJson(server, a.pods[0].ns, ['-t', String(seconds)]);
    const cpu1 = await cpuTicks(pids);
    const soft1 = await softirqTicks();
    const after = receiver ? (await receiver.counters()).workers[0] : undefined;
    await perfDone;
    const gbit = (report.end.sum_received.bytes * 8) / 1e9;
    return {
      mbit: report.end.sum_received.bits_per_second / 1e6,
      userPerGbit: ((cpu1.user - cpu0.user) * TICK_S) / gbit,
      systemPerGbit: ((cpu1.system - cpu0.system) * TICK_S) / gbit,
      softirqPerGbit: ((soft1 - soft0) * TICK_S) / gbit,
      packetsPerTunWrite: before && after ? (after.udp.packets - before.udp.packets) / (after.tunWrites - before.tunWrites) : NaN,
    };
  } finally {
    await lab.dispose();
  }
}

async function loadAverage(): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

async function main(): Promise<void> {
  const values = benchFlags({
    module: import.meta.url,
    flags: {
      paths: someOf('the paths measured: vv vxroute → vxroute, kv kernel → vxroute, vk vxroute → kernel', PATHS, PATHS),
      rounds: whole('interleaved rounds', { min: 1, max: 100, default: 3 }),
      seconds: whole('length of each TCP stream', { min: 1, max: 3600, default: 6 }, 'S'),
      family: oneOf('the pods\' and the underlay\'s IP version (switch mode: the pods\' only)', ['4', '6'], '4'),
      mode: oneOf('the daemons\' mode (switch: one Ethernet segment, IPv4 underlay)', ['router', 'switch'], 'router'),
      kube: toggle('the daemons learn their peers from a lab API server, NetworkPolicy on with one policy (path vv, router mode)'),
      'before-cli': text("adds the before build's rows, running that build's CLI", 'PATH', undefined, 'this build only'),
      'before-args': text("adds the before rows with these daemon flags (space-separated), this build's unless --before-cli", 'FLAGS', undefined, 'none'),
      perf: text("perf record -g of this build's daemons in the last round, into DIR/<path>.data", 'DIR', undefined, 'no recording'),
    },
  });
  const { paths, rounds, seconds } = values;
  const family = values.family === '6' ? 6 : 4;
  if (values.kube && (paths.some((p) => p !== 'vv') || values.mode !== 'router')) {
    process.stderr.write('bench/bulk-cpu: --kube measures vxroute → vxroute in router mode: add --paths vv and leave --mode out\n');
    process.exit(2);
  }
  const daemons: Daemons = { mode: values.mode, kube: values.kube, beforeCli: values['before-cli'] && resolve(values['before-cli']), beforeArgs: values['before-args']?.split(' ').filter((a) => a !== '') ?? [] };
  const builds: Build[] = values['before-cli'] || values['before-args'] ? ['before', 'this'] : ['this'];
  const perfDir = values.perf && resolve(values.perf);
  if (perfDir) {
    // The flag also turns on V8's log (isolate-*-v8.log in the working directory): beside the data.
    await mkdir(perfDir, { recursive: true });
    process.chdir(perfDir);
  }
  const loadBefore = await loadAverage();
  const figures = new Map<string, Figures[]>();
  for (let r = 0; r < rounds; r++) {
    for (const path of paths) {
      for (const build of builds) {
        const perfFile = perfDir && build === 'this' && r === rounds - 1 ? join(perfDir, `${path}.data`) : undefined;
        const f = await run(path, build, seconds, family, daemons, perfFile);
        const key = `${PATH_NAMES[path]} | ${build}`;
        figures.set(key, [...(figures.get(key) ?? []), f]);
        process.stderr.write(`round ${r + 1} ${key}: ${JSON.stringify(f)}\n`);
      }
    }
  }
  console.log(`medians of ${rounds} interleaved rounds of ${seconds} s, one TCP stream, IPv${family}, ${values.mode} mode${values.kube ? ', --kube with NetworkPolicy' : ''}, --workers 1${daemons.beforeArgs.length > 0 ? `, before rows with ${daemons.beforeArgs.join(' ')}` : ''}; load average ${loadBefore} → ${await loadAverage()}\n`);
  console.log('| path | build | Mbit/s | daemons user s/Gbit | daemons system s/Gbit | softirq s/Gbit | packets per TUN write |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [key, fs] of figures) {
    const m = (pick: (f: Figures) => number): number => median(fs.map(pick));
    console.log(`| ${key} | ${m((f) => f.mbit).toFixed(0)} | ${m((f) => f.userPerGbit).toFixed(3)} | ${m((f) => f.systemPerGbit).toFixed(3)} | ${m((f) => f.softirqPerGbit).toFixed(3)} | ${m((f) => f.packetsPerTunWrite).toFixed(1)} |`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
