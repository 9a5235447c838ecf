// What observability costs the datapath, in one run: single-stream TCP (iperf3) from a pod
// behind vxroute to a pod behind a kernel VXLAN node, with
//   kernel     both ends kernel VXLAN (the reference every ratio is against)
//   baseline   vxroute built from --baseline REV (default: the commit before the counters issue)
//   counters   this build, tracing off
//   tracing    this build, with `vxroute trace --every K` streaming every sampled packet
// in interleaved rounds, so that all four see the same machine noise.
//   npm run bench:counters-cost -- [--baseline REV] [--rounds 3] [--seconds 5] [--every 1]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iperf, median } from '../src/lab/iperf.js';
import { Lab } from '../src/lab/lab.js';
import { spawnCli } from '../src/lab/vxroute-cli.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { benchFlags, text, whole } from './bench-options.js';

const values = benchFlags({
  module: import.meta.url,
  flags: {
    baseline: text('the git revision the baseline row is built from', 'REV', '1fe467d'),
    rounds: whole('interleaved rounds', { min: 1, max: 100, default: 3 }),
    seconds: whole('length of each iperf3 run', { min: 1, max: 3600, default: 5 }, 'S'),
    every: whole('the tracing row samples one packet in this many', { min: 1, max: 1_000_000, default: 1 }),
  },
});
const { rounds, seconds } = values;
const root = process.cwd();

/** Builds REV in a scratch worktree (sharing our node_modules) and returns its CLI. */
function buildBaseline(rev: string): { cli: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vxroute-baseline-'));
  execFileSync('git', ['worktree', 'add', '--detach', dir, rev], { cwd: root, stdio: 'ignore' });
  const cleanup = () => {
    execFileSync('git', ['worktree', 'remove', '--force', dir], { cwd: root, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    execFileSync('npm', ['run', '--silent', 'install'], { cwd: dir, stdio: 'ignore' }); // the native addon, with npm's node-gyp
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: dir, stdio: 'inherit' });
    const cli = join(dir, 'dist', 'src', 'cli', 'main.js');
    if (!existsSync(cli)) throw new Error(`building ${rev} gave no ${cli}`);
    return { cli, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

const baseline = buildBaseline(values.baseline);
const lab = await Lab.create();
try {
  const k1 = await lab.addNode('kernel');
  const k2 = await lab.addNode('kernel');
  const vx = await lab.addNode('vxroute');
  await lab.programKernelPeers();
  const subnets = await lab.writeSubnets();

  const measure = async (start: () => Promise<VxrouteProcess>, during?: (d: VxrouteProcess) => () => void): Promise<number> => {
    const daemon = await start();
    const stop = during?.(daemon);
    try {
      return await iperf(k2.pods[0], vx.pods[0], seconds);
    } finally {
      stop?.();
      await daemon.stop();
    }
  };
  let traced = 0;
  const variants: Record<string, () => Promise<number>> = {
    kernel: () => iperf(k2.pods[0], k1.pods[0], seconds),
    baseline: () => measure(() => lab.startVxroute(vx, subnets, [], baseline.cli)),
    counters: () => measure(() => lab.startVxroute(vx, subnets)),
    tracing: () =>
      measure(
        () => lab.startVxroute(vx, subnets),
        () => {
          const trace = spawnCli(vx.ns, ['trace', '--count', '10000000', '--every', String(values.every), '--json']);
          trace.stdout!.on('data', (d: Buffer) => {
            for (const byte of d) if (byte === 0x0a) traced++;
          });
          return () => trace.kill('SIGINT');
        },
      ),
  };
  const mbit: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of Object.entries(variants)) (mbit[name] ??= []).push(await run());
  }
  const rows = Object.keys(variants).map((name) => ({ variant: name, mbit: median(mbit[name]), ratio: median(mbit[name]) / median(mbit.kernel) }));
  console.log(`vxroute → kernel TCP, medians of ${rounds} interleaved rounds of ${seconds} s; ratios against kernel → kernel in the same run`);
  console.log(`baseline: ${values.baseline}; tracing: one in ${values.every} packets sampled, ${traced} records streamed as JSON in all\n`);
  console.log('| variant | TCP (iperf3, 1 stream) | ratio to kernel | ratio to baseline |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.variant} | ${r.mbit.toFixed(0)} Mbit/s | ${r.ratio.toFixed(3)}× | ${(r.mbit / median(mbit.baseline)).toFixed(3)}× |`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/counters-cost-${Date.now()}.json`, JSON.stringify({ baseline: values.baseline, rounds, seconds, every: values.every, mbit, rows }, null, 2));
} finally {
  await lab.dispose();
  baseline.cleanup();
}

