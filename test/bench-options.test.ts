// Every bench answers --help and a bad flag the same way (bench/bench-options.ts): the help with
// each flag's default, exit 0; a bad flag as one line naming it, exit 2, never a stack trace; and
// both before anything is run. The entry points are found in dist/bench, so a new one cannot be
// missed; the modules the benches share are listed here and must stay out of package.json's scripts.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { decimal, oneOf, parseBenchFlags, someOf, text, toggle, whole, benchUsage } from '../bench/bench-options.js';
import { cliPath } from '../src/lab/vxroute-process.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const distBench = join(root, 'dist', 'bench');
/** Modules the benches import, not run on their own. */
const SHARED = ['bench-options', 'chart', 'deopt-trace-flags', 'instant-decider', 'interleaved-rounds', 'policy-cost', 'tcp-rr', 'udp-segment'];
const entryPoints = readdirSync(distBench)
  .filter((f) => f.endsWith('.js') && !SHARED.includes(f.slice(0, -3)))
  .sort();

// Every command a bench might run, as a stub that leaves a mark: nothing may run for --help or a bad flag.
const stubs = mkdtempSync(join(tmpdir(), 'vxroute-bench-options-'));
const marks = join(stubs, 'ran');
writeFileSync(join(stubs, 'stub'), `#!/bin/sh\necho "$0 $*" >> ${marks}\nexit 1\n`);
chmodSync(join(stubs, 'stub'), 0o755);
for (const command of ['ip', 'nft', 'sh', 'iperf3', 'socat', 'ping', 'perf', 'strace', 'cc', 'gcc', 'git', 'npm', 'ethtool', 'tc', 'sysctl', 'unshare', 'tcpdump']) {
  symlinkSync(join(stubs, 'stub'), join(stubs, command));
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: root, env: { ...process.env, PATH: stubs }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const STACK_LINE = /^\s+at /m;
const helps = new Map<string, Promise<Run>>();
/** A script's --help run, once per script. */
const help = (script: string): Promise<Run> => helps.get(script) ?? helps.set(script, run(script, ['--help'])).get(script)!;

afterAll(() => rmSync(stubs, { recursive: true, force: true }));

describe('the bench entry points', () => {
  it('are every dist/bench module but the shared ones, and include every one package.json runs', () => {
    for (const shared of SHARED) expect(existsSync(join(root, 'bench', `${shared}.ts`)), shared).toBe(true);
    const scripts = Object.values((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    const run = scripts.flatMap((s) => [...s.matchAll(/dist\/bench\/([\w-]+\.js)/g)].map((m) => m[1]));
    expect(run.length).toBeGreaterThan(15);
    for (const file of run) expect(entryPoints, file).toContain(file);
    expect(entryPoints.length).toBeGreaterThanOrEqual(new Set(run).size);
  });

  describe.concurrent.each(entryPoints)('%s', (file) => {
    const script = join(distBench, file);

    it('prints its usage, every flag with its default and what it measures for --help, exit 0, running nothing', async () => {
      const r = await help(script);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: /);
      expect(r.stdout).toContain(`node dist/bench/${file} [options]`);
      const [, options, about] = /\nOptions:\n([\s\S]*?)\n\n([\s\S]*)$/.exec(r.stdout)!;
      expect(options).toMatch(/^ {2}-h, --help {2,}/m);
      const flags = options.split('\n').filter((l) => /^ {2}--/.test(l)).length;
      expect((options.match(/\(default: [^)]+\)/g) ?? []).length).toBe(flags);
      expect(about.trim().length, 'what it measures').toBeGreaterThan(80);
      expect(existsSync(marks), 'a command ran').toBe(false);
    });

    it('refuses --no-such-flag in one line naming it, exit 2, running nothing', async () => {
      const r = await run(script, ['--no-such-flag']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^bench/${file.slice(0, -3)}: --no-such-flag: no such flag; (the flags are --|this bench takes none).*\\(see --help\\)\\n$`));
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(existsSync(marks), 'a command ran').toBe(false);
    });

    it('refuses a number flag given a word, naming the flag and a value that works', async () => {
      const numeric = /^ {2}(--[\w-]+) (N|S|US|X|F)\b/m.exec((await help(script)).stdout);
      if (!numeric) {
        // A bench without number flags takes no flags at all (bench:micro); any other has one.
        expect((await help(script)).stdout).toMatch(/\nOptions:\n {2}-h, --help .*\n\n/);
        return;
      }
      const r = await run(script, [numeric[1], 'many']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^bench/[\\w-]+: ${numeric[1]}: "many" must be a (whole )?number from .* \\(e\\.g\\. ${numeric[1]} [\\d.]+\\)\\n$`));
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(existsSync(marks), 'a command ran').toBe(false);
    });
  });

  it('vxroute bench takes the same flags: a bad one is exit 2 with one line', async () => {
    const r = await run(cliPath(), ['bench', '--rounds', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('vxroute: --rounds: "0" must be a whole number from 1 to 100 (e.g. --rounds 3)\n');
  });
});

describe('parseBenchFlags', () => {
  const command = {
    module: new URL('../bench/interop.ts', import.meta.url).href,
    flags: {
      rounds: whole('rounds', { min: 1, max: 10, default: 3 }),
      workers: whole('workers', { min: 1, max: 64, default: undefined, unset: "the daemon's" }),
      seconds: decimal('seconds', { min: 0.5, max: 60, default: 5 }, 'S'),
      mode: oneOf('mode', ['router', 'switch'] as const, 'router'),
      paths: someOf('paths', ['vv', 'kv', 'vk'] as const, ['vv', 'kv']),
      out: text('out', 'DIR', 'bench/results'),
      cli: text('cli', 'PATH', undefined, 'this build'),
      quick: toggle('quick'),
    },
  };
  const refusal = (argv: string[]): string => {
    try {
      parseBenchFlags(command, argv);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`${argv.join(' ')} was taken`);
  };

  it('gives the defaults, typed, when no flag is given', () => {
    expect(parseBenchFlags(command, [])).toEqual({ rounds: 3, workers: undefined, seconds: 5, mode: 'router', paths: ['vv', 'kv'], out: 'bench/results', cli: undefined, quick: false });
  });

  it('reads every kind of flag, in either form', () => {
    expect(parseBenchFlags(command, ['--rounds', '7', '--workers=2', '--seconds', '0.5', '--mode', 'switch', '--paths', 'vk', '--out', '/x', '--cli=/y/main.js', '--quick'])).toEqual({
      rounds: 7, workers: 2, seconds: 0.5, mode: 'switch', paths: ['vk'], out: '/x', cli: '/y/main.js', quick: true,
    });
  });

  it('names the flag and the fix for each way a flag can be wrong', () => {
    expect(refusal(['--round', '3'])).toBe('--round: no such flag; the flags are --rounds, --workers, --seconds, --mode, --paths, --out, --cli, --quick (see --help)');
    expect(refusal(['-r'])).toMatch(/^-r: no such flag/);
    expect(refusal(['--rounds'])).toBe('--rounds: needs a value, e.g. --rounds 3');
    expect(refusal(['--rounds', '--quick'])).toBe('--rounds: needs a value, e.g. --rounds 3');
    expect(refusal(['--rounds', 'three'])).toBe('--rounds: "three" must be a whole number from 1 to 10 (e.g. --rounds 3)');
    expect(refusal(['--rounds', '2.5'])).toBe('--rounds: "2.5" must be a whole number from 1 to 10 (e.g. --rounds 3)');
    expect(refusal(['--rounds', '11'])).toBe('--rounds: "11" must be a whole number from 1 to 10 (e.g. --rounds 3)');
    expect(refusal(['--rounds='])).toBe('--rounds: "" must be a whole number from 1 to 10 (e.g. --rounds 3)');
    expect(refusal(['--workers', '0'])).toBe('--workers: "0" must be a whole number from 1 to 64 (e.g. --workers 1)');
    expect(refusal(['--seconds', '0.1'])).toBe('--seconds: "0.1" must be a number from 0.5 to 60 (e.g. --seconds 5)');
    expect(refusal(['--seconds', 'Infinity'])).toMatch(/^--seconds: "Infinity" must be a number/);
    expect(refusal(['--mode', 'bridge'])).toBe('--mode: "bridge" must be one of router, switch (e.g. --mode router)');
    expect(refusal(['--paths', 'vv,xx'])).toBe('--paths: "xx" unknown; choose from vv, kv, vk (e.g. --paths vv,kv)');
    expect(refusal(['--paths', ','])).toBe('--paths: names none; choose from vv, kv, vk (e.g. --paths vv,kv)');
    expect(refusal(['--cli='])).toBe('--cli: is empty (e.g. --cli PATH)');
    expect(refusal(['--quick=yes'])).toBe('--quick: takes no value: write --quick alone');
    expect(refusal(['3'])).toMatch(/^"3": unexpected argument: every option is a flag \(--rounds, .*\) \(see --help\)$/);
  });

  it('shows each default in the help, and a flag with none says what happens without it', () => {
    const usage = benchUsage(command);
    expect(usage).toMatch(/^ {2}--rounds N +rounds \(default: 3\)$/m);
    expect(usage).toMatch(/^ {2}--workers N +workers \(default: the daemon's\)$/m);
    expect(usage).toMatch(/^ {2}--mode router\|switch +mode \(default: router\)$/m);
    expect(usage).toMatch(/^ {2}--paths NAME,\.\.\. +paths \(default: vv,kv\)$/m);
    expect(usage).toMatch(/^ {2}--cli PATH +cli \(default: this build\)$/m);
    expect(usage).toMatch(/^ {2}--quick +quick \(default: off\)$/m);
    expect(usage).toContain('npm run bench:interop -- [options]');
  });
});
