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
//   curve   the resident set and its parts every --sample-every changes: whether it grows or levels
// The changes go in threes on one peer (its VTEP MAC replaced, deleted, added back), each followed
// by a /debug/peers or /metrics read (src/lab/node-churn.ts).
// Each with NetworkPolicy on (the default with --kube) and off. Beside them, in the same run,
// the floor any client pays: one bare HTTP list of the same nodes and its JSON.parse, with no
// informer and no table.
//   npm run bench:kube-sync -- [--nodes 5000] [--changes 30] [--sample-every 10] [--policy on|off|both]
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { formatBreakdown, memoryBreakdown, rssMB, type MemoryBreakdown } from '../src/lab/daemon-memory.js';
import { KubeApiServer } from '../src/lab/kube-api-server.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { churnNodes } from '../src/lab/node-churn.js';
import { NsHttpClient } from '../src/lab/ns-http-client.js';
import { MAX_PEERS, peerNode } from '../src/lab/peer-nodes.js';
import { median } from '../src/lab/iperf.js';
import { benchFlags, oneOf, whole } from './bench-options.js';

const values = benchFlags({
  module: import.meta.url,
  flags: {
    nodes: whole('Node objects in the API (each peer gets a /29 of 10.244.0.0/16)', { min: 2, max: MAX_PEERS, default: 5000 }),
    changes: whole("node changes, one at a time, each followed by a /debug/peers or /metrics read (RSS is taken after the fifth)", { min: 5, max: 10_000, default: 30 }),
    'sample-every': whole('changes between two samples of the resident set and its parts', { min: 1, max: 10_000, default: 10 }),
    policy: oneOf('NetworkPolicy on, off, or a run of each', ['on', 'off', 'both'], 'both'),
  },
});
const nodeCount = values.nodes;
const { changes } = values;
const sampleEvery = values['sample-every'];
const policies = { on: [true], off: [false], both: [true, false] }[values.policy];

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

interface Run {
  policy: boolean;
  /** Node lists the daemon made to start. */
  nodeLists: number;
  startToReadyMs: number;
  startToSettledMs: number;
  syncMs: number;
  changeMs: number[];
  rss: { ready: number; settled: number; firstScrape: number; afterChanges: number; afterPeersReads: number };
  breakdown: { settled: MemoryBreakdown; afterChanges: MemoryBreakdown; afterPeersReads: MemoryBreakdown };
  /** The breakdown after every --sample-every changes (and their reads). */
  curve: { changes: number; memory: MemoryBreakdown }[];
  phases: Record<string, number>;
  /** The daemon's own breakdown: each start phase's end in ms since its process started (the 'ready' line's startMs). */
  startMs: Record<string, number>;
  /** CPU time at ready: the daemon's own (all threads) and its children's (ip, nft). */
  startCpuMs: { own: number; children: number };
}

/** One daemon from spawn to stop: its start, sync, changes and resident set. */
async function measure(lab: Lab, api: KubeApiServer, kubeconfig: string, ours: LabNode, policy: boolean): Promise<Run> {
  const listsBefore = api.statsOf('nodes').lists;
  const spawned = Date.now();
  const daemon = await lab.startVxrouteKube(ours, kubeconfig, await lab.writeNetConf(), ['--workers', '2', ...(policy ? [] : ['--no-network-policy'])]);
  const http = NsHttpClient.start(daemon.ns, `http://${daemon.metricsAddr}`);
  lab.onDispose(() => http.kill());
  const get = (path: string): ReturnType<NsHttpClient['get']> => http.get(path);
  const breakdown = (): Promise<MemoryBreakdown> => memoryBreakdown(daemon.pid, get);
  try {
    const ready = await daemon.waitForLog((l) => l.msg === 'ready');
    const rssReady = await rssMB(daemon.pid);
    const settled = await daemon.waitForLog((l) => l.msg === 'settled', 30_000);
    const rssSettled = await rssMB(daemon.pid);
    const atSettled = await breakdown();
    const rssFirstScrape = await rssMB(daemon.pid); // the breakdown scraped /metrics, as Prometheus would
    const nodeLists = api.statsOf('nodes').lists - listsBefore;
    const loaded = await daemon.waitForLog((l) => l.msg === 'table loaded' && l.nodes === nodeCount, 30_000);
    const syncMs = (loaded.time as number) - api.statsOf('nodes').lastListAt!;
    // Where start → ready goes: the first line of each phase, from the spawn.
    const phases: Record<string, number> = {};
    for (const l of daemon.logs) if (typeof l.time === 'number' && l.msg && !(l.msg in phases)) phases[l.msg] = (l.time) - spawned;

    let rssAfterChanges = 0;
    let afterChanges: MemoryBreakdown | undefined;
    const curve: Run['curve'] = [];
    const changeMs = await churnNodes(api, daemon, {
      peers: nodeCount - 1,
      changes,
      get,
      after: async (done) => {
        if (done === 5) {
          rssAfterChanges = await rssMB(daemon.pid);
          afterChanges = await breakdown();
        }
        if (done % sampleEvery === 0) curve.push({ changes: done, memory: await breakdown() });
      },
    });
    for (let i = 0; i < 2; i++) {
      const peers = await get('/debug/peers');
      if (peers.status !== 200) throw new Error(`/debug/peers answered ${peers.status}`);
    }
    const rssAfterPeersReads = await rssMB(daemon.pid);
    const afterPeersReads = await breakdown();
    return {
      policy, nodeLists, startToReadyMs: (ready.time as number) - spawned, startToSettledMs: (settled.time as number) - spawned, syncMs, changeMs,
      rss: { ready: rssReady, settled: rssSettled, firstScrape: rssFirstScrape, afterChanges: rssAfterChanges, afterPeersReads: rssAfterPeersReads },
      breakdown: { settled: atSettled, afterChanges: afterChanges!, afterPeersReads },
      curve,
      phases,
      startMs: ready.startMs as Record<string, number>,
      startCpuMs: ready.startCpuMs as { own: number; children: number },
    };
  } finally {
    await http.close();
    await daemon.stop();
  }
}

const loadBefore = loadavg();
const lab = await Lab.create();
const api = new KubeApiServer();
try {
  const kubeconfig = await lab.addApiServer(api);
  const ours = await lab.addNode('vxroute', 0);
  api.upsertNode({ metadata: { name: ours.name }, spec: { podCIDR: ours.podCIDR }, status: { addresses: [{ type: 'InternalIP', address: ours.publicIP }] } });
  for (let k = 0; k < nodeCount - 1; k++) api.upsertNode(peerNode(k));

  const bare: number[] = [];
  for (let i = 0; i < 5; i++) bare.push(await bareList(join(lab.dir, 'api.sock')));
  const runs: Run[] = [];
  for (const policy of policies) runs.push(await measure(lab, api, kubeconfig, ours, policy));

  const mb = (x: number): string => `${x.toFixed(0)} MB`;
  const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join(' ');
  console.log(`${nodeCount} nodes; one vxroute --kube with 2 workers; times from the daemon's log clock; load average ${load(loadBefore)} at the start, ${load(loadavg())} at the end\n`);
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
  console.log('\nWhere the resident set goes (MB): anonymous / file-backed; main isolate heap committed (young, old, code spaces) / in use; external to V8; workers\' heaps committed / in use; anonymous by mapping');
  for (const r of runs) {
    for (const [at, b] of Object.entries(r.breakdown)) console.log(`policy ${r.policy ? 'on' : 'off'}, ${at}: ${formatBreakdown(b)}`);
  }
  for (const r of runs) {
    console.log(`\npolicy ${r.policy ? 'on' : 'off'}, the curve (MB, after each ${sampleEvery} changes and their reads):`);
    console.log('| changes | RSS | anon | file | main heap | young | old | code | used | external | workers committed | V8 pages | [heap] | arenas | other anon |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    const f = (x: number): string => x.toFixed(1);
    for (const { changes: n, memory: m } of r.curve) {
      console.log(`| ${n} | ${f(m.rss)} | ${f(m.anonymous)} | ${f(m.file)} | ${f(m.mainHeap)} | ${f(m.mainYoung)} | ${f(m.mainOld)} | ${f(m.mainCode)} | ${f(m.mainHeapUsed)} | ${f(m.external)} | ${m.workersHeapCommitted.map(f).join(' + ')} | ${f(m.v8Pages)} | ${f(m.brk)} | ${f(m.arenas)} | ${f(m.otherAnon)} |`);
    }
    const half = r.curve.filter((p) => p.changes >= changes / 2).map((p) => p.memory.rss);
    if (half.length >= 2) console.log(`over the last half of the changes: RSS ${f(Math.min(...half))}–${f(Math.max(...half))} MB, ${(half[half.length - 1] - half[0]) >= 0 ? '+' : ''}${f(half[half.length - 1] - half[0])} MB from its first sample to its last`);
  }
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/kube-sync-${Date.now()}.json`, JSON.stringify({ nodes: nodeCount, load: { before: loadBefore, after: loadavg() }, bareListMs: median(bare), bare, runs }, null, 2));
} finally {
  await lab.dispose();
  await api.close();
}
