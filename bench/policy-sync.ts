// How fast the NetworkPolicy world follows the API, and what it costs in memory, at 5,000 pods
// and 1,000 policies. The test API server and the policy source share this process and talk over
// loopback (no namespace needed: nothing leaves 127.0.0.1).
//   sync      source started → first world at the listener (every kind listed)
//   change    one policy replaced at the server → the world carrying it at the listener, and
//             → compiled there as the daemon compiles it (PolicyCompiler, warmed up after the
//             first world); then as many changes again, each after a quiet spell (QUIET_GCS
//             forced major GCs: V8 drops the compile's optimized code and flushes its bytecode)
//   memory    heap kept by the source once synced (after gc), against client-node's own
//             informer on the same pods, which keeps every V1Pod whole
//   npm run bench:policy-sync -- [--pods 5000] [--policies 1000] [--changes 50]
import { CoreV1Api, makeInformer } from '@kubernetes/client-node';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { KubeApiServer } from '../src/lab/kube-api-server.js';
import { loopbackKubeConfig } from '../src/lab/loopback-kubeconfig.js';
import { loadSyntheticWorld, NAMESPACES, NODES, syntheticPod, syntheticPolicy } from '../src/lab/policy-world.js';
import { PolicyCompiler } from '../src/policy/compile-policy.js';
import { KubePolicySource } from '../src/policy/kube-policy-source.js';
import type { PolicyWorld } from '../src/policy/world.js';
import { median } from '../src/lab/iperf.js';
import { benchFlags, whole } from './bench-options.js';

const { pods: podCount, policies: policyCount, changes } = benchFlags({
  module: import.meta.url,
  flags: {
    pods: whole('pods in the world', { min: 2, max: 25_000, default: 5000 }),
    policies: whole('policies in the world', { min: 1, max: 10_000, default: 1000 }),
    changes: whole('changes of one policy timed, warm and again after a quiet spell', { min: 1, max: 10_000, default: 50 }),
  },
});

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Major GCs before each change of the quiet series: more than --bytecode-old-age (5). */
const QUIET_GCS = 8;

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const MiB = 1 << 20;
const spreadOf = (xs: number[]) => ({ median: median(xs), p95: quantile(xs, 0.95), max: Math.max(...xs) });

const api = new KubeApiServer();
loadSyntheticWorld(api, podCount, policyCount);
const podJsonBytes = Buffer.byteLength(JSON.stringify(syntheticPod(0)));
const port = await api.listen('127.0.0.1', 0);
const kc = loopbackKubeConfig(port);

try {
  // client-node's informer on the same pods: what keeping whole objects costs.
  const before = heapUsed();
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  await informer.start(); // resolves once the list is in the cache and the watch is open
  if (informer.list().length !== podCount) throw new Error(`client-node's informer listed ${informer.list().length} pods`);
  const informerBytes = heapUsed() - before;
  await informer.stop();
  while (api.openWatches() > 0) await new Promise((r) => setTimeout(r, 10));

  const base = heapUsed();
  const source = new KubePolicySource(kc, pino({ level: 'warn' }));
  let onWorld: (w: PolicyWorld) => void = () => {};
  let worlds = 0;
  source.onWorld((w) => {
    worlds++;
    onWorld(w);
  });
  const startedAt = performance.now();
  const first = await source.start();
  const syncMs = performance.now() - startedAt;
  if (first.pods.length !== podCount || first.policies.length !== policyCount) throw new Error(`first world has ${first.pods.length} pods, ${first.policies.length} policies`);
  while (api.openWatches() < 4) await new Promise((r) => setTimeout(r, 10)); // every list is done with
  const sourceBytes = heapUsed() - base;

  const compiler = new PolicyCompiler();
  compiler.compile(first, 0);
  await compiler.warmUp();
  const changeMs: number[] = [];
  const compiledMs: number[] = [];
  const compileCpuMs: number[] = [];
  const quietCompiledMs: number[] = [];
  const quietCompileCpuMs: number[] = [];
  const compileWallMs: number[] = [];
  const quietCompileWallMs: number[] = [];
  const worldsBefore = worlds;
  for (let j = 0; j < 2 * changes; j++) {
    const quiet = j >= changes;
    if (quiet) for (let g = 0; g < QUIET_GCS; g++) gc();
    const k = (j * 7919) % policyCount;
    const wanted = 10_000 + j;
    const name = `policy-${k}`;
    let compiledAt = 0;
    let cpuMs = 0;
    let wallMs = 0;
    const seen = new Promise<number>((resolve) => {
      onWorld = (w) => {
        const at = performance.now();
        // As the daemon does with every world: compile it at once.
        const c0 = process.cpuUsage();
        compiler.compile(w, j + 1);
        const c = process.cpuUsage(c0);
        cpuMs = (c.user + c.system) / 1000;
        compiledAt = performance.now();
        wallMs = compiledAt - at;
        const p = w.policies.find((x) => x.metadata?.name === name && x.metadata.namespace === `ns-${k % NAMESPACES}`);
        if (p?.spec?.ingress?.[0].ports?.[0].port === wanted) resolve(at);
      };
    });
    const sent = performance.now();
    api.upsertNetworkPolicy(syntheticPolicy(k, wanted));
    const at = await seen;
    if (!quiet) changeMs.push(at - sent);
    (quiet ? quietCompiledMs : compiledMs).push(compiledAt - sent);
    (quiet ? quietCompileCpuMs : compileCpuMs).push(cpuMs);
    (quiet ? quietCompileWallMs : compileWallMs).push(wallMs);
    onWorld = () => {};
  }
  const worldsPerChange = (worlds - worldsBefore) / (2 * changes);
  source.stop();

  const result = {
    pods: podCount, policies: policyCount, namespaces: NAMESPACES, nodes: NODES, podJsonBytes,
    syncMs,
    changeMs: spreadOf(changeMs),
    compiledMs: spreadOf(compiledMs),
    compileCpuMs: spreadOf(compileCpuMs),
    quietCompiledMs: spreadOf(quietCompiledMs),
    quietCompileCpuMs: spreadOf(quietCompileCpuMs),
    compileWallMs: spreadOf(compileWallMs),
    quietCompileWallMs: spreadOf(quietCompileWallMs),
    loadAverage: loadavg(),
    worldsPerChange,
    heap: { sourceBytes, informerPodsBytes: informerBytes, ratio: informerBytes / sourceBytes },
  };
  console.log(`${podCount} pods (${podJsonBytes} B of JSON each), ${policyCount} policies, ${NAMESPACES} namespaces, ${NODES} nodes; API server in the same process, over loopback\n`);
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| start → first world (every kind listed) | ${syncMs.toFixed(0)} ms |`);
  console.log(`| one policy's change → world at the listener (median / p95 / max of ${changes}) | ${median(changeMs).toFixed(1)} / ${quantile(changeMs, 0.95).toFixed(1)} / ${Math.max(...changeMs).toFixed(1)} ms |`);
  const row = (xs: number[]) => `${median(xs).toFixed(1)} / ${quantile(xs, 0.95).toFixed(1)} / ${Math.max(...xs).toFixed(1)} ms`;
  console.log(`| → compiled at the listener (PolicyCompiler, warmed up), median / p95 / max | ${row(compiledMs)} |`);
  // CPU is the process's (every thread: V8's GC and compiler threads too); wall is the compile call's.
  console.log(`| compile CPU (process) / wall (the call) per change | ${row(compileCpuMs)} / ${row(compileWallMs)} |`);
  console.log(`| after a quiet spell (${QUIET_GCS} major GCs): → compiled, median / p95 / max of ${changes} | ${row(quietCompiledMs)} |`);
  console.log(`| after a quiet spell: compile CPU (process) / wall (the call) per change | ${row(quietCompileCpuMs)} / ${row(quietCompileWallMs)} |`);
  console.log(`| worlds per change | ${worldsPerChange.toFixed(2)} |`);
  console.log(`| load average (1, 5, 15 min) at the end | ${loadavg().map((l) => l.toFixed(1)).join(', ')} |`);
  console.log(`| heap kept by the policy source (pods, namespaces, nodes, policies), after gc | ${(sourceBytes / MiB).toFixed(1)} MiB |`);
  console.log(`| heap kept by client-node's informer on the pods alone, after gc | ${(informerBytes / MiB).toFixed(1)} MiB (${result.heap.ratio.toFixed(1)}×) |`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/policy-sync-${Date.now()}.json`, JSON.stringify({ ...result, changeMsAll: changeMs, compiledMsAll: compiledMs, quietCompiledMsAll: quietCompiledMs }, null, 2));
} finally {
  await api.close();
}
