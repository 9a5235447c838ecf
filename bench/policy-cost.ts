// What NetworkPolicy costs vxroute, from bench/compare.ts's run: the vxroute-policy row against the
// vxroute row (policy off) of the same run, in throughput and in the first packet of a new
// connection; the policy's memory on a node; and how long a change of one policy takes to be in
// force on every worker of both nodes, at the run's world size (the daemon logs
// 'network policy in force on every worker' with the time its last worker switched).
import { readFile } from 'node:fs/promises';
import { allocateConntrack } from '../src/datapath/policy/conntrack.js';
import type { KubeApiServer } from '../src/lab/kube-api-server.js';
import { tryInNs } from '../src/lab/netns.js';
import { syntheticPolicy, type WorldSize } from '../src/lab/policy-world.js';
import type { LogLine, VxrouteProcess } from '../src/lab/vxroute-process.js';
import { median } from '../src/lab/iperf.js';

/** The figures of the two rows this compares (medians over the rounds). */
export interface RowFigures {
  tcp1: number;
  udp64: number;
  udp64NoLoss: number;
  tcpRr: number;
  connectP50: number;
}

export interface PolicyCost {
  /** The row with the policy off that `ratio` and the differences are against. */
  baseline: string;
  world: WorldSize;
  /** vxroute-policy ÷ the baseline (target ≥ 0.95 for tcp1 and udp64). */
  ratio: { tcp1: number; udp64: number; udp64NoLoss: number; tcpRr: number };
  /** Median connect() with policy less without (target ≤ 50 µs). */
  connectExtraUs: number;
  /** On each node: the compiled policy, the connection table (shared memory), its entries after the rounds. */
  compiledBytes: number;
  conntrackBytes: number;
  conntrackEntries: number;
  /** Resident set of a vxroute-policy daemon less a vxroute one (mean of both nodes each): policy, and the Kubernetes client it needs. */
  rssDeltaBytes: number;
  /** Packets of a connection no policy allows (the server pod opening one to the client) dropped and counted as policy_denied_egress on the server's node. */
  deniedProbeDrops: number;
  /** Per change and node: API write → in force on every worker; and the compile's share. */
  changeMs: { median: number; p95: number; max: number; all: number[] };
  compileMs: { median: number; max: number };
  /** Per change and node: the garbage collections inside the compile call (the daemon's GCProfiler). */
  compileGcMs: { median: number; max: number };
  /** Per change and node: the compile logged → in force on every worker (the hand-over to the shards). */
  handoverMs: { median: number; max: number };
}

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const MiB = 1 << 20;

async function rssBytes(pid: number): Promise<number> {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

const meanRss = async (daemons: VxrouteProcess[]): Promise<number> => (await Promise.all(daemons.map((d) => rssBytes(d.pid)))).reduce((a, b) => a + b, 0) / daemons.length;

const lastCompiled = (d: VxrouteProcess): LogLine | undefined => d.logs.filter((l) => l.msg === 'network policy compiled').pop();

/** A port nothing listens on; the server pod has no egress rule, so a connection from it to the client must be denied. */
const DENIED_PORT = 5399;

/** Proof that the row enforced policy: a connection the policies deny is dropped and counted; returns the packets counted. */
async function deniedProbe(server: { ns: string; daemon: VxrouteProcess }, clientIp: string): Promise<number> {
  const before = (await server.daemon.counters()).drops.policy_denied_egress;
  const r = await tryInNs(server.ns, 'socat', ['-u', `TCP:${clientIp}:${DENIED_PORT},connect-timeout=2`, '-'], 10_000);
  const counted = (await server.daemon.counters()).drops.policy_denied_egress - before;
  if (r.code === 0 || counted <= 0) throw new Error(`vxroute-policy let the server pod open a connection no policy allows (socat exit ${r.code}, ${counted} packets counted as policy_denied_egress): the row measured no policy`);
  return counted;
}

/** Replaces synthetic policy k's port `changes` times and times each change on every daemon, one change at a time. */
async function timeChanges(api: KubeApiServer, daemons: VxrouteProcess[], world: WorldSize, syntheticPolicies: number, changes: number): Promise<{ changeMs: number[]; compileMs: number[]; compileGcMs: number[]; handoverMs: number[] }> {
  const changeMs: number[] = [];
  const compileMs: number[] = [];
  const compileGcMs: number[] = [];
  const handoverMs: number[] = [];
  for (let j = 0; j < changes; j++) {
    const k = (j * 7919) % syntheticPolicies;
    const from = daemons.map((d) => d.logs.length);
    const sent = Date.now();
    api.upsertNetworkPolicy(syntheticPolicy(k, 10_000 + j));
    await Promise.all(daemons.map(async (d, i) => {
      const compiled = await d.waitForLog((l) => l.msg === 'network policy compiled' && l.policies === world.policies, 10_000, from[i]);
      const inForce = await d.waitForLog((l) => l.msg === 'network policy in force on every worker' && (l.generation as number) >= (compiled.generation as number), 10_000, from[i]);
      changeMs.push((inForce.at as number) - sent);
      compileMs.push(compiled.ms as number);
      compileGcMs.push(compiled.gcMs as number);
      handoverMs.push((inForce.at as number) - (compiled.time as number));
    }));
  }
  return { changeMs, compileMs, compileGcMs, handoverMs };
}

export async function policyCost(
  /** The row measured with the policy off: vxroute-kube (the same API server and world) or vxroute (a static table). */
  baseline: string,
  rows: { on: RowFigures; off: RowFigures },
  nodes: { on: VxrouteProcess[]; off: VxrouteProcess[] },
  /** The measured server pod's namespace (on nodes.on[1]) and the client pod's address. */
  pods: { serverNs: string; clientIp: string },
  api: KubeApiServer,
  world: WorldSize,
  syntheticPolicies: number,
  conntrackMax: number,
  changes: number,
): Promise<PolicyCost> {
  const { on, off } = rows;
  const compiled = lastCompiled(nodes.on[0]);
  if (!compiled) throw new Error('vxroute-policy logged no compiled policy');
  const metrics = (await nodes.on[0].get('/metrics')).body;
  const entries = Number(/^vxroute_conntrack_entries (\S+)$/m.exec(metrics)?.[1]);
  const rssDeltaBytes = (await meanRss(nodes.on)) - (await meanRss(nodes.off));
  const deniedProbeDrops = await deniedProbe({ ns: pods.serverNs, daemon: nodes.on[1] }, pods.clientIp);
  const { changeMs, compileMs, compileGcMs, handoverMs } = await timeChanges(api, nodes.on, world, syntheticPolicies, changes);
  return {
    baseline,
    world,
    ratio: { tcp1: on.tcp1 / off.tcp1, udp64: on.udp64 / off.udp64, udp64NoLoss: on.udp64NoLoss / off.udp64NoLoss, tcpRr: on.tcpRr / off.tcpRr },
    connectExtraUs: on.connectP50 - off.connectP50,
    compiledBytes: compiled.bytes as number,
    conntrackBytes: allocateConntrack(conntrackMax).byteLength,
    conntrackEntries: entries,
    rssDeltaBytes,
    deniedProbeDrops,
    changeMs: { median: median(changeMs), p95: quantile(changeMs, 0.95), max: Math.max(...changeMs), all: changeMs },
    compileMs: { median: median(compileMs), max: Math.max(...compileMs) },
    compileGcMs: { median: median(compileGcMs), max: Math.max(...compileGcMs) },
    handoverMs: { median: median(handoverMs), max: Math.max(...handoverMs) },
  };
}

/** The markdown table of the cost, each figure beside its target. */
export function policyCostLines(c: PolicyCost, conntrackMax: number): string[] {
  const n = c.changeMs.all.length;
  return [
    `NetworkPolicy on (vxroute-policy: ${c.world.policies} policies over ${c.world.pods} pods in the API) against off (${c.baseline}), same run:`,
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| TCP 1 stream, on ÷ off | ${c.ratio.tcp1.toFixed(2)}× | ≥ 0.95× |`,
    `| UDP 64 B delivered, on ÷ off | ${c.ratio.udp64.toFixed(2)}× | ≥ 0.95× |`,
    `| UDP 64 B highest rate ≤ 0.1 % loss, on ÷ off | ${c.ratio.udp64NoLoss.toFixed(2)}× | |`,
    `| TCP_RR 1 byte, on ÷ off | ${c.ratio.tcpRr.toFixed(2)}× | |`,
    `| TCP connect p50, on − off (a new flow's first packet, both nodes deciding it) | ${c.connectExtraUs.toFixed(0)} µs | ≤ 50 µs |`,
    `| compiled policy, per node | ${(c.compiledBytes / MiB).toFixed(2)} MiB | |`,
    `| connection table (--conntrack-max ${conntrackMax}), per node; entries after the rounds | ${(c.conntrackBytes / MiB).toFixed(1)} MiB; ${c.conntrackEntries} | |`,
    `| resident set, on − off, per node${c.baseline === 'vxroute' ? ' (policy, and the Kubernetes client the static table does without)' : ''} | ${(c.rssDeltaBytes / MiB).toFixed(1)} MiB | |`,
    `| a connection no policy allows (server pod → client pod, ${DENIED_PORT}/TCP) | denied, ${c.deniedProbeDrops} packets counted as policy_denied_egress | denied |`,
    `| one policy changed in the API → in force on every worker (median / p95 / max of ${n}: ${n / 2} changes × 2 nodes) | ${c.changeMs.median} / ${c.changeMs.p95} / ${c.changeMs.max} ms | < 100 ms |`,
    `| of which compiling (median / max) | ${c.compileMs.median} / ${c.compileMs.max} ms | |`,
    `| of the compiling, garbage collection (median / max) | ${c.compileGcMs.median} / ${c.compileGcMs.max} ms | |`,
    `| of which compiled → in force on every worker (median / max) | ${c.handoverMs.median} / ${c.handoverMs.max} ms | |`,
  ];
}
