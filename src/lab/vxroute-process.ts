// A `vxroute` daemon started inside a node namespace, as a DaemonSet pod would run it: its JSON
// log lines are collected, its counters read from its own loopback through `ip netns exec`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { CounterSnapshot } from '../datapath/counter-snapshot.js';
import { inNs } from './netns.js';
import { SLOWDOWN } from './slowdown.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const READY_TIMEOUT_MS = 60_000 * SLOWDOWN; // a bound for a loaded machine (and for qemu-user)
const STOP_TIMEOUT_MS = 10_000 * SLOWDOWN;

/** The built CLI, found from this file whether it runs from src/ (tests) or dist/ (demo). */
export function cliPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the vxroute package root');
    dir = up;
  }
  const root = dir.endsWith('/dist') ? dirname(dir) : dir;
  const cli = join(root, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build`);
  return cli;
}

export class VxrouteProcess {
  readonly logs: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<Exit>;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly ns: string,
    private readonly child: ChildProcess,
    readonly metricsAddr: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.logs.push({ level: 30, msg: line });
      }
      for (const w of this.waiters) w();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
  }

  /** Starts `cli` (default: this package's) with `args` in `ns` and waits until it is ready; `env` replaces the environment. */
  static async start(ns: string, args: string[], cli = cliPath(), env?: NodeJS.ProcessEnv): Promise<VxrouteProcess> {
    const p = VxrouteProcess.spawn(ns, args, cli, env);
    await p.waitUntilReady();
    return p;
  }

  /** Starts it without waiting for anything. */
  static spawn(ns: string, args: string[], cli = cliPath(), env?: NodeJS.ProcessEnv): VxrouteProcess {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const i = args.indexOf('--metrics-addr');
    return new VxrouteProcess(ns, child, i >= 0 ? args[i + 1] : '127.0.0.1:9475');
  }

  async waitUntilReady(): Promise<void> {
    await this.waitForLog((l) => l.msg === 'ready', READY_TIMEOUT_MS);
  }

  /**
   * Waits until the daemon has settled (every worker in its loop, the policy compiler warmed) and,
   * with `policy`, every worker's policy stage has been warmed with a policy that knows pods: a
   * bench's first round then measures the warm daemon.
   */
  async waitUntilWarm(policy: boolean, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    await this.waitForLog((l) => l.msg === 'settled', timeoutMs);
    if (policy) await this.waitForLog((l) => l.msg === 'network policy stage warm on every worker', timeoutMs);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first log line (from the start) that matches; rejects if the daemon exits first. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.logs.slice(from).find(match);
        if (hit) finish(() => resolve(hit));
      };
      const timer = setTimeout(() => finish(() => reject(this.failure(`no matching log line within ${timeoutMs} ms`))), timeoutMs);
      const finish = (then: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        then();
      };
      void this.exited.then((e) => finish(() => reject(this.failure(`exited (${e.code ?? e.signal}) before a matching log line`))));
      this.waiters.add(check);
      check();
    });
  }

  /** GET /debug/counters from inside the node's namespace. */
  async counters(): Promise<CounterSnapshot> {
    return JSON.parse((await this.get('/debug/counters')).body) as CounterSnapshot;
  }

  /** GET /readyz from inside the node's namespace: the status a readiness probe would see. */
  readyz(): Promise<{ status: number; body: string }> {
    return this.get('/readyz');
  }

  /** GET `path` of the daemon's HTTP endpoint, from inside the node's namespace. */
  async get(path: string): Promise<{ status: number; body: string }> {
    const script = `const r = await fetch(process.argv[1]); process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() }));`;
    const out = await inNs(this.ns, process.execPath, ['--input-type=module', '-e', script, `http://${this.metricsAddr}${path}`]);
    return JSON.parse(out) as { status: number; body: string };
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** SIGTERM, then the exit status; SIGKILL if it has not exited within 10 s (times VXR_LAB_SLOWDOWN). */
  async stop(): Promise<Exit> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  private failure(what: string): Error {
    const tail = this.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n');
    return new Error(`vxroute in ${this.ns} ${what}\nlast log lines:\n${tail}\nstderr:\n${this.stderr}`);
  }
}
