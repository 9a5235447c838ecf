// The compiled NetworkPolicy at the issue's size: 1,000 policies over 5,000 pods (50 namespaces
// of 100 pods, 20 policies each; every measured pod selected by several). Measures compile time
// (PolicyWorld → SharedArrayBuffer, parsing and validation included) from scratch and, as the
// daemon compiles (PolicyCompiler), after a change of one policy, one pod's labels, a pod added
// or deleted, or one namespace's labels, warm and after a quiet spell of forced major GCs; the buffer's bytes, the reader's construction, and decide() ns/op on a mix
// of allowed and denied flows, with the reference semantics' ns/op in the same run for scale.
// The first changes after start are timed apart, each series in a fresh process, with and
// without the warm-up the daemon runs (PolicyCompiler.warmUp).
//   npm run bench:policy-compile [-- --processes 3]
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { CompiledPolicy } from '../src/datapath/policy/compiled-policy.js';
import type { FlowQuery } from '../src/datapath/policy/flow-decider.js';
import { compilePolicy, PolicyCompiler } from '../src/policy/compile-policy.js';
import { mappedAddress } from '../src/policy/mapped-address.js';
import { PolicyIndex } from '../src/policy/policy-index.js';
import { referenceDecide } from '../src/policy/reference.js';
import type { PolicyPod, PolicyWorld } from '../src/policy/world.js';
import { median } from '../src/lab/iperf.js';
import { benchFlags, oneOf, whole } from './bench-options.js';

const NAMESPACES = 50;
const PODS_PER_NAMESPACE = 100;
const POLICIES_PER_NAMESPACE = 20;
const APPS = 10;

function world(): PolicyWorld {
  const pods: PolicyPod[] = [];
  const policies: V1NetworkPolicy[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    for (let p = 0; p < PODS_PER_NAMESPACE; p++) {
      const i = n * PODS_PER_NAMESPACE + p;
      pods.push({
        namespace: `ns${n}`,
        name: `pod${p}`,
        labels: { app: `app${p % APPS}`, tier: p % 3 === 0 ? 'db' : 'web', 'pod-template-hash': `h${p}` },
        ips: [`10.244.${i >> 8}.${i & 255}`, `fd00:10:244:${(i >> 8).toString(16)}::${(i & 255).toString(16)}`],
        nodeName: `node${i % 100}`,
        hostNetwork: false,
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }],
      });
    }
    for (let k = 0; k < POLICIES_PER_NAMESPACE; k++) {
      const app = `app${k % APPS}`;
      const spec: Record<string, unknown> =
        k % 4 === 0
          ? { podSelector: { matchLabels: { app } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `app${(k + 1) % APPS}` } } }], ports: [{ port: 'http' }] }] }
          : k % 4 === 1
            ? { podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: `t${n % 5}` } }, podSelector: { matchLabels: { tier: 'web' } } }], ports: [{ port: 5432 }, { port: 6000, endPort: 6100 }] }] }
            : k % 4 === 2
              ? { podSelector: { matchLabels: { app } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} , podSelector: { matchLabels: { tier: 'db' } } }] }, { to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.244.0.0/16'] } }], ports: [{ port: 443 }] }, { ports: [{ port: 'dns', protocol: 'UDP' }] }] }
              : { podSelector: { matchLabels: { app } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': `ns${(n + 1) % NAMESPACES}` } } }, { ipBlock: { cidr: '192.0.2.0/24' } }], ports: [{ port: 'metrics' }] }] };
      policies.push({ metadata: { namespace: `ns${n}`, name: `p${k}` }, spec: spec as V1NetworkPolicy['spec'] });
    }
  }
  const namespaces = Array.from({ length: NAMESPACES }, (_, n) => ({ name: `ns${n}`, labels: { 'kubernetes.io/metadata.name': `ns${n}`, team: `t${n % 5}` } }));
  const nodes = Array.from({ length: 100 }, (_, n) => ({ name: `node${n}`, addresses: [`192.0.2.${n + 1}`] }));
  return { pods, namespaces, nodes, policies };
}

const CHANGE_KINDS = ['policy', 'pod', 'pod added', 'pod deleted', 'namespace'] as const;
type ChangeKind = (typeof CHANGE_KINDS)[number];

function changePolicy(v: PolicyWorld, r: number): PolicyWorld {
  const policies = [...v.policies];
  const k = (r * 37) % policies.length;
  const spec = policies[k].spec!;
  policies[k] = { metadata: policies[k].metadata, spec: { ...spec, podSelector: r % 2 === 0 ? { matchLabels: { app: `app${r % APPS}` } } : spec.podSelector } };
  return { ...v, policies };
}

const w = world();
// As the daemon compiles: each world the one before with one object replaced, as the source hands them over.
const changes: Record<ChangeKind, (v: PolicyWorld, r: number) => PolicyWorld> = {
  policy: changePolicy,
  pod: (v: PolicyWorld, r: number): PolicyWorld => {
    const pods = [...v.pods];
    const k = (r * 101) % pods.length;
    pods[k] = { ...pods[k], labels: { ...pods[k].labels, app: `app${r % APPS}` } };
    return { ...v, pods };
  },
  'pod added': (v: PolicyWorld, r: number): PolicyWorld => {
    const i = NAMESPACES * PODS_PER_NAMESPACE + r;
    const pods = [...v.pods, { ...v.pods[(r * 101) % v.pods.length], name: `added${r}`, ips: [`10.245.${i >> 8}.${i & 255}`] }];
    return { ...v, pods };
  },
  'pod deleted': (v: PolicyWorld, r: number): PolicyWorld => ({ ...v, pods: v.pods.filter((_, k) => k !== (r * 101) % v.pods.length) }),
  namespace: (v: PolicyWorld, r: number): PolicyWorld => {
    const namespaces = [...v.namespaces];
    const k = r % namespaces.length;
    namespaces[k] = { name: namespaces[k].name, labels: { ...namespaces[k].labels, team: `t${r % 7}` } };
    return { ...v, namespaces };
  },
};
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/**
 * CPU ms of each of `count` changes made by `change` after a first compile of the bench world
 * (and the daemon's warm-up when `warmed`); `quiet` runs before each change.
 */
async function timeChanges(change: (v: PolicyWorld, r: number) => PolicyWorld, count: number, warmed: boolean, quiet = (): void => {}): Promise<number[]> {
  const compiler = new PolicyCompiler();
  let v = w;
  compiler.compile(v, 0);
  if (warmed) await compiler.warmUp();
  const ms: number[] = [];
  for (let r = 1; r <= count; r++) {
    quiet();
    v = change(v, r);
    const c0 = process.cpuUsage();
    compiler.compile(v, r);
    ms.push(cpuMs(process.cpuUsage(c0)));
  }
  return ms;
}

// The daemon's first changes, each series in a fresh process (V8 has optimized nothing yet): the
// first compile, then (when warmed) the compiler's warm-up as the daemon runs it after start, then
// FIRST_CHANGES changes of one policy; CPU ms of each change, as JSON on stdout.
const FIRST_CHANGES = 10;
const args = benchFlags({
  module: import.meta.url,
  flags: {
    processes: whole('fresh processes per series of first changes and of changes after a quiet spell', { min: 1, max: 100, default: 3 }),
    'first-changes': oneOf("(the bench's own child) time the first changes in this process", ['cold', 'warmed'], undefined, 'the whole bench'),
    'cold-changes': oneOf("(the bench's own child, under node --expose-gc) time changes of this kind after quiet spells", CHANGE_KINDS, undefined, 'the whole bench'),
  },
});
if (args['first-changes'] !== undefined) {
  console.log(JSON.stringify(await timeChanges(changePolicy, FIRST_CHANGES, args['first-changes'] === 'warmed')));
  process.exit(0);
}
// Changes after a quiet spell: the daemon compiled and warmed up, then sat idle while V8's major
// GCs threw its optimized code away and flushed the compile's bytecode (--bytecode-old-age=5 GCs):
// QUIET_GCS forced major GCs before each change. CPU ms of each change of `kind`, as JSON.
const COLD_CHANGES = 12;
const QUIET_GCS = 8;
if (args['cold-changes'] !== undefined) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('--cold-changes needs node --expose-gc');
  const change = changes[args['cold-changes']];
  console.log(JSON.stringify(await timeChanges(change, COLD_CHANGES, true, () => { for (let g = 0; g < QUIET_GCS; g++) gc(); })));
  process.exit(0);
}
/** Each fresh process's changes, for `mode`. */
function firstChanges(mode: 'cold' | 'warmed'): number[][] {
  return Array.from({ length: args.processes }, () => JSON.parse(execFileSync(process.execPath, [process.argv[1], '--first-changes', mode], { encoding: 'utf8' })) as number[]);
}
const cold = firstChanges('cold');
const warmed = firstChanges('warmed');
/** Changes of `kind` after quiet spells, from fresh processes in turn, all changes of all processes. */
function coldChanges(kind: keyof typeof changes): number[] {
  return Array.from({ length: args.processes }, () => JSON.parse(execFileSync(process.execPath, ['--expose-gc', process.argv[1], '--cold-changes', kind], { encoding: 'utf8' })) as number[]).flat();
}
const afterQuiet = Object.fromEntries(Object.keys(changes).map((kind) => [kind, coldChanges(kind as keyof typeof changes)]));
// Wall time and this thread's CPU time: on a machine shared with other work the CPU time is the
// figure the compile would take alone (the first compile also parses every address).
const compileMs: number[] = [];
const compileCpuMs: number[] = [];
let c0 = process.cpuUsage();
let t0 = performance.now();
let built = compilePolicy(w, 0);
const firstMs = performance.now() - t0;
const firstCpu = process.cpuUsage(c0);
for (let r = 1; r <= 15; r++) {
  c0 = process.cpuUsage();
  t0 = performance.now();
  built = compilePolicy(w, r);
  compileMs.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  compileCpuMs.push((c.user + c.system) / 1000);
}
const incrementalCpuMs: Record<string, number[]> = Object.fromEntries(Object.keys(changes).map((kind) => [kind, []]));
for (const [kind, change] of Object.entries(changes)) {
  const compiler = new PolicyCompiler();
  let v = w;
  compiler.compile(v, 0);
  for (let r = 1; r <= 31; r++) {
    v = change(v, r);
    c0 = process.cpuUsage();
    compiler.compile(v, r);
    incrementalCpuMs[kind].push(cpuMs(process.cpuUsage(c0)));
  }
}

const readerUs: number[] = [];
for (let r = 0; r < 1000; r++) {
  const t0 = performance.now();
  new CompiledPolicy(built.sab);
  readerUs.push((performance.now() - t0) * 1000);
}

// Flows: pod to pod (TCP on the ports the policies name, and others), pod to outside, some UDP.
const flows: FlowQuery[] = [];
let seed = 1;
const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
const PORTS = [8080, 9090, 5432, 6050, 443, 80, 53];
for (let i = 0; i < 4096; i++) {
  const s = w.pods[rand(w.pods.length)];
  const d = w.pods[rand(w.pods.length)];
  const port = PORTS[rand(PORTS.length)];
  const dst = i % 16 === 0 ? '10.1.2.3' : d.ips[0];
  flows.push({ src: mappedAddress(s.ips[0])!, dst: mappedAddress(dst)!, protocol: port === 53 ? 17 : 6, dstPort: port });
}
const decider = new CompiledPolicy(built.sab);
const verdicts = [0, 0, 0];
for (const q of flows) verdicts[decider.decide(q)]++;
const decideNs: number[] = [];
for (let r = 0; r < 7; r++) {
  const rounds = 50;
  const t0 = performance.now();
  let sink = 0;
  for (let k = 0; k < rounds; k++) for (let i = 0; i < flows.length; i++) sink += decider.decide(flows[i]);
  decideNs.push(((performance.now() - t0) * 1e6) / (rounds * flows.length));
  if (sink < 0) console.log(sink);
}
const index = new PolicyIndex(w);
t0 = performance.now();
for (let i = 0; i < 512; i++) referenceDecide(index, flows[i].src, flows[i].dst, flows[i].protocol, flows[i].dstPort);
const referenceNs = ((performance.now() - t0) * 1e6) / 512;

console.log(`policy compile: ${w.policies.length} policies, ${w.pods.length} pods, ${w.namespaces.length} namespaces (other helpers load this machine: figures are noisy)`);
console.log(`  first compile (addresses parsed): ${firstMs.toFixed(1)} ms wall, ${((firstCpu.user + firstCpu.system) / 1000).toFixed(1)} ms CPU`);
console.log(`  recompile (index + validation + buffer): median ${median(compileMs).toFixed(1)} ms wall, ${median(compileCpuMs).toFixed(1)} ms CPU; min ${Math.min(...compileMs).toFixed(1)} ms wall over ${compileMs.length} runs`);
console.log(`  after one change, as the daemon compiles (PolicyCompiler): median ms CPU over ${incrementalCpuMs.policy.length} changes each: ${Object.entries(incrementalCpuMs).map(([kind, ms]) => `${kind} ${median(ms).toFixed(1)}`).join(', ')}`);
const firstLine = (mode: string, series: number[][]) =>
  `  first ${FIRST_CHANGES} changes of one policy after start, ${mode}, ms CPU each (${series.length} fresh processes; median of each change's position): ${series[0].map((_, i) => median(series.map((x) => x[i])).toFixed(0)).join(' ')}; max ${Math.max(...series.flat()).toFixed(0)}`;
console.log(firstLine('cold (no warm-up)', cold));
console.log(firstLine('after the daemon\'s warm-up', warmed));
const spread = (xs: number[]) => `${median(xs).toFixed(1)} / ${quantile(xs, 0.95).toFixed(1)} / ${Math.max(...xs).toFixed(1)}`;
console.log(`  each change after a quiet spell (${QUIET_GCS} forced major GCs first: optimized code and bytecode gone), ms CPU median / p95 / max of ${afterQuiet.policy.length}: ${Object.entries(afterQuiet).map(([kind, ms]) => `${kind} ${spread(ms)}`).join('; ')}`);
console.log(`  buffer: ${built.sab.byteLength} bytes (${(built.sab.byteLength / 1024).toFixed(0)} KiB), ${built.problems.length} problems reported`);
console.log(`  reader construction: median ${median(readerUs).toFixed(2)} µs`);
console.log(`  decide(): median ${median(decideNs).toFixed(0)} ns/op over ${flows.length} flows (allow/deny-egress/deny-ingress ${verdicts.join('/')})`);
console.log(`  reference semantics, same flows: ${(referenceNs / 1000).toFixed(1)} µs/op (${(referenceNs / median(decideNs)).toFixed(0)}× decide())`);
