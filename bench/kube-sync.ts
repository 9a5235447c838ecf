// How fast the Kubernetes API's Node objects become the table the workers forward on, at the
// Kubernetes scalability limit of 5,000 nodes. One `vxroute run --kube` in a node namespace,
// the test API server behind the lab's relay. Measured from the daemon's own log timestamps:
//   sync    first list request at the API server → 'table loaded' with every node (workers handed it)
//   change  one node's annotations replaced in the API → 'table loaded' carrying it
//   start   the daemon process spawned → 'ready' (process start, imports, list, workers up)
//   settled the daemon process spawned → 'settled' (every worker in its loop, its memory reported,
//           the policy compiler warmed: the start's work all done)
//   RSS     the daemon's resident set (/proc/PID/status VmRSS) at ready, settled, after the first
//           /metrics scrape, after the first five changes, and after all changes and two /debug/peers reads
// Each with NetworkPolicy on (the default with --kube) and off. Beside them, in the same run,
// the floor any client pays: one bare HTTP list of the same nodes and its JSON.parse, with no
// informer and no table.
//   npm run bench:kube-sync -- [--nodes 5000] [--changes 30] [--policy on|off|both]
import { request } from 'node:http';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { KubeApiServer, type NodeObject } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { Annotation, formatBackendData } from '../src/subnets/flannel-annotations.js';
import { median } from '../src/lab/iperf.js';
import { benchFlags, oneOf, whole } from './bench-options.js';

const values = benchFlags({
  module: import.meta.url,
  flags: {
    nodes: whole('Node objects in the API (each peer gets a /29 of 10.244.0.0/16)', { min: 2, max: 8000, default: 5000 }),
    changes: whole("one node's annotations replaced, one change at a time (RSS is taken after the fifth)", { min: 5, max: 10_000, default: 30 }),
    policy: oneOf('NetworkPolicy on, off, or a run of each', ['on', 'off', 'both'], 'both'),
  },
});
const nodeCount = values.nodes;
const { changes } = values;
const policies = { on: [true], off: [false], both: [true, false] }[values.policy];

/** Peer k's /29, skipping 10.244.1.0/24, which is the benchmarked node's own. */
function peerCidr(k: number): string {
  const offset = k * 8 < 256 ? k * 8 : k * 8 + 256;
  return `10.244.${offset >> 8}.${offset & 255}/29`;
}

function peer(k: number, macByte = 0): NodeObject {
  const name = `peer-${String(k).padStart(5, '0')}`;
  const mac = Buffer.from([0x0a, 0x58, macByte, (k >> 16) & 255, (k >> 8) & 255, k & 255]);
  const publicIP = `192.0.2.${2 + (k % 240)}`; // addresses are never sent to: no packet leaves this benchmark
  return {
    metadata: {
      name,
      annotations: {
        [Annotation.kubeSubnetManager]: 'true',
        [Annotation.backendType]: 'vxlan',
        [Annotation.backendData]: formatBackendData(1, mac),
        [Annotation.publicIP]: publicIP,
      },
    },
    spec: { podCIDR: peerCidr(k), podCIDRs: [peerCidr(k)] },
    status: { addresses: [{ type: 'InternalIP', address: publicIP }] },
  };
}

/** One list over the API server's unix socket, parsed: the floor under any informer. */
function bareList(socketPath: string): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    request({ socketPath, path: '/api/v1/nodes' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items: unknown[] };
        if (list.items.length !== nodeCount) reject(new Error(`listed ${list.items.length} nodes`));
        resolve(performance.now() - start);
      });
    }).on('error', reject).end();
  });
}

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** Resident set of a process in MB (the daemon's pid is node's: `ip netns exec` execs it). */
async function rssMB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/**
 * Where the resident set goes, in MB: anonymous memory (every isolate's heap, malloc, shared
 * buffers) against file-backed pages (node's binary, the addon, libraries), from smaps_rollup;
 * the main isolate's heap (committed, its young generation, in use) and what V8 counts outside
 * it (ArrayBuffers, Buffers), from /metrics' default gauges; each worker's heap committed and in use.
 */
interface Breakdown {
  rss: number;
  anonymous: number;
  file: number;
  mainHeap: number;
  mainYoung: number;
  mainHeapUsed: number;
  external: number;
  workersHeapUsed: number[];
  workersHeapCommitted: number[];
  /** Anonymous resident memory by mapping (smaps): V8's 256 KiB pages, glibc's [heap], the rest (malloc arenas, V8's large objects, stacks). */
  v8Pages: number;
  brk: number;
  otherAnon: number;
}

/** Sums the anonymous resident memory of /proc/PID/smaps by kind of mapping, in MB. */
async function anonymousByMapping(pid: number): Promise<{ v8Pages: number; brk: number; otherAnon: number }> {
  const sums = { v8Pages: 0, brk: 0, otherAnon: 0 };
  let kind: keyof typeof sums | undefined;
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    const mapping = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (mapping) {
      const size = parseInt(mapping[2], 16) - parseInt(mapping[1], 16);
      const path = mapping[4];
      kind = path === '[heap]' ? 'brk' : path !== '' ? undefined : size === 256 * 1024 ? 'v8Pages' : 'otherAnon';
      continue;
    }
    const anon = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (anon && kind) sums[kind] += Number(anon[1]) / 1024;
  }
  return sums;
}

async function breakdown(daemon: VxrouteProcess): Promise<Breakdown> {
  const rollup = await readFile(`/proc/${daemon.pid}/smaps_rollup`, 'utf8');
  const kB = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)![1]) / 1024;
  const metrics = (await daemon.get('/metrics')).body;
  const gauge = (name: string): number[] => [...metrics.matchAll(new RegExp(`^${name} (\\S+)`, 'gm'))].map((m) => Number(m[1]) / 2 ** 20);
  return {
    rss: kB('Rss'),
    anonymous: kB('Anonymous'),
    file: kB('Rss') - kB('Anonymous'),
    mainHeap: gauge('nodejs_heap_size_total_bytes')[0],
    mainYoung: gauge('nodejs_heap_space_size_total_bytes\\{space="new"\\}')[0],
    mainHeapUsed: gauge('nodejs_heap_size_used_bytes')[0],
    external: gauge('nodejs_external_memory_bytes')[0],
    workersHeapUsed: gauge('vxroute_worker_heap_used_bytes\\{worker="\\d+"\\}'),
    workersHeapCommitted: gauge('vxroute_worker_heap_committed_bytes\\{worker="\\d+"\\}'),
    ...(await anonymousByMapping(daemon.pid)),
  };
}

interface Run {
  policy: boolean;
  /** Node lists the daemon made to start. */
  nodeLists: number;
  startToReadyMs: number;
  startToSettledMs: number;
  syncMs: number;
  changeMs: number[];
  rss: { ready: number; settled: number; firstScrape: number; afterChanges: number; afterPeersReads: number };
  breakdown: { settled: Breakdown; afterChanges: Breakdown; afterPeersReads: Breakdown };
  phases: Record<string, number>;
  /** The daemon's own breakdown: each start phase's end in ms since its process started (the 'ready' line's startMs). */
  startMs: Record<string, number>;
  /** CPU time at ready: the daemon's own (all threads) and its children's (ip, nft). */
  startCpuMs: { own: number; children: number };
}

/** VTEP MACs handed out by changes so far: each change is a new one, in every run. */
let macChanges = 0;

/** One daemon from spawn to stop: its start, sync, changes and resident set. */
async function measure(lab: Lab, api: KubeApiServer, kubeconfig: string, ours: LabNode, policy: boolean): Promise<Run> {
  const listsBefore = api.statsOf('nodes').lists;
  const spawned = Date.now();
  const daemon = await lab.startVxrouteKube(ours, kubeconfig, await lab.writeNetConf(), ['--workers', '2', ...(policy ? [] : ['--no-network-policy'])]);
  try {
    const ready = await daemon.waitForLog((l) => l.msg === 'ready');
    const rssReady = await rssMB(daemon.pid);
    const settled = await daemon.waitForLog((l) => l.msg === 'settled', 30_000);
    const rssSettled = await rssMB(daemon.pid);
    const atSettled = await breakdown(daemon);
    const rssFirstScrape = await rssMB(daemon.pid); // the breakdown scraped /metrics, as Prometheus would
    const nodeLists = api.statsOf('nodes').lists - listsBefore;
    const loaded = await daemon.waitForLog((l) => l.msg === 'table loaded' && l.nodes === nodeCount, 30_000);
    const syncMs = (loaded.time as number) - api.statsOf('nodes').lastListAt!;
    // Where start → ready goes: the first line of each phase, from the spawn.
    const phases: Record<string, number> = {};
    for (const l of daemon.logs) if (typeof l.time === 'number' && l.msg && !(l.msg in phases)) phases[l.msg] = (l.time) - spawned;

    const changeMs: number[] = [];
    let rssAfterChanges = 0;
    let afterChanges: Breakdown | undefined;
    for (let j = 0; j < changes; j++) {
      const from = daemon.logs.length;
      const k = (j * 7919) % (nodeCount - 1);
      const sent = Date.now();
      api.upsertNode(peer(k, ++macChanges)); // a new VTEP MAC, as after a flanneld restart with a new device
      const line = await daemon.waitForLog((l) => l.msg === 'table loaded', 10_000, from);
      changeMs.push((line.time as number) - sent);
      if (j === 4) {
        rssAfterChanges = await rssMB(daemon.pid);
        afterChanges = await breakdown(daemon);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 0; i < 2; i++) {
      const peers = await daemon.get('/debug/peers');
      if (peers.status !== 200) throw new Error(`/debug/peers answered ${peers.status}`);
    }
    const rssAfterPeersReads = await rssMB(daemon.pid);
    const afterPeersReads = await breakdown(daemon);
    return {
      policy, nodeLists, startToReadyMs: (ready.time as number) - spawned, startToSettledMs: (settled.time as number) - spawned, syncMs, changeMs,
      rss: { ready: rssReady, settled: rssSettled, firstScrape: rssFirstScrape, afterChanges: rssAfterChanges, afterPeersReads: rssAfterPeersReads },
      breakdown: { settled: atSettled, afterChanges: afterChanges!, afterPeersReads },
      phases,
      startMs: ready.startMs as Record<string, number>,
      startCpuMs: ready.startCpuMs as { own: number; children: number },
    };
  } finally {
    await daemon.stop();
  }
}

const lab = await Lab.create();
const api = new KubeApiServer();
try {
  const kubeconfig = await lab.addApiServer(api);
  const ours = await lab.addNode('vxroute', 0);
  api.upsertNode({ metadata: { name: ours.name }, spec: { podCIDR: ours.podCIDR }, status: { addresses: [{ type: 'InternalIP', address: ours.publicIP }] } });
  for (let k = 0; k < nodeCount - 1; k++) api.upsertNode(peer(k));

  const bare: number[] = [];
  for (let i = 0; i < 5; i++) bare.push(await bareList(join(lab.dir, 'api.sock')));
  const runs: Run[] = [];
  for (const policy of policies) runs.push(await measure(lab, api, kubeconfig, ours, policy));

  const mb = (x: number): string => `${x.toFixed(0)} MB`;
  console.log(`${nodeCount} nodes; one vxroute --kube with 2 workers; times from the daemon's log clock; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end\n`);
  console.log('| measure | time | ratio |');
  console.log('|---|---|---|');
  console.log(`| bare list + JSON.parse (median of 5) | ${median(bare).toFixed(0)} ms | 1.00× |`);
  for (const r of runs) {
    const p = `policy ${r.policy ? 'on' : 'off'}`;
    console.log(`| ${p}: spawn → ready (${r.nodeLists} Node list${r.nodeLists === 1 ? '' : 's'}) | ${r.startToReadyMs} ms | ${(r.startToReadyMs / median(bare)).toFixed(2)}× |`);
    console.log(`| ${p}: spawn → settled | ${r.startToSettledMs} ms | ${(r.startToSettledMs / median(bare)).toFixed(2)}× |`);
    console.log(`| ${p}: first list → table handed to the workers | ${r.syncMs} ms | ${(r.syncMs / median(bare)).toFixed(2)}× |`);
    console.log(`| ${p}: one node's change → workers (median / p95 / max of ${changes}) | ${median(r.changeMs)} / ${quantile(r.changeMs, 0.95)} / ${Math.max(...r.changeMs)} ms | |`);
    console.log(`| ${p}: RSS at ready / settled / after the first /metrics scrape / after 5 changes / after all changes and 2 /debug/peers reads | ${mb(r.rss.ready)} / ${mb(r.rss.settled)} / ${mb(r.rss.firstScrape)} / ${mb(r.rss.afterChanges)} / ${mb(r.rss.afterPeersReads)} | |`);
  }
  for (const r of runs) console.log(`\npolicy ${r.policy ? 'on' : 'off'}, ms from spawn to each phase's first log line: ${JSON.stringify(r.phases)}`);
  for (const r of runs) console.log(`policy ${r.policy ? 'on' : 'off'}, start phases, ms from the daemon's process start to each one's end: ${JSON.stringify(r.startMs)}; CPU at ready ${r.startCpuMs.own} ms + ${r.startCpuMs.children} ms in ip/nft`);
  console.log('\nWhere the resident set goes (MB): anonymous / file-backed; main isolate heap committed (young generation) / in use; external to V8; workers\' heaps committed / in use; anonymous by mapping: V8 pages / [heap] / other');
  for (const r of runs) {
    for (const [at, b] of Object.entries(r.breakdown)) {
      const f = (x: number): string => x.toFixed(1);
      console.log(`policy ${r.policy ? 'on' : 'off'}, ${at}: RSS ${f(b.rss)} = ${f(b.anonymous)} anon + ${f(b.file)} file; main heap ${f(b.mainHeap)} (young ${f(b.mainYoung)}) / ${f(b.mainHeapUsed)} used; external ${f(b.external)}; workers ${b.workersHeapCommitted.map((c, i) => `${f(c)} / ${f(b.workersHeapUsed[i])}`).join(' + ')} used; anon ${f(b.v8Pages)} / ${f(b.brk)} / ${f(b.otherAnon)}`);
    }
  }
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/kube-sync-${Date.now()}.json`, JSON.stringify({ nodes: nodeCount, bareListMs: median(bare), bare, runs }, null, 2));
} finally {
  await lab.dispose();
  await api.close();
}
