// `vxroute run` becomes node with a small young generation and capped malloc arenas before it
// does anything: the same process (pid), the flag on node's command line or in NODE_OPTIONS, the
// variable in its environment, and its stderr still the caller's. The run waits on a FIFO as its
// static table, so the test can look at it before letting it fail.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cliPath } from '../lab/vxroute-process.js';

/** Starts `vxroute run` on a FIFO with `env`; checks the process once `restarted` holds of its command line and environment, then lets it fail. */
async function runUntilRestarted(env: NodeJS.ProcessEnv, restarted: (cmdline: string[], environ: string[]) => boolean): Promise<{ cmdline: string[]; environ: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'vxroute-restart-'));
  try {
    const fifo = join(dir, 'subnets.json');
    execFileSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [cliPath(), 'run', '--node-name', 'n1', '--subnets', fifo, '--metrics-addr', ''], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'exit');
    const read = (): { cmdline: string[]; environ: string[] } => ({
      cmdline: readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0'),
      environ: readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0'),
    });
    // It blocks opening the FIFO only after the exec (the table is read in `run`, after it).
    await expect.poll(() => { const p = read(); return restarted(p.cmdline, p.environ); }, { timeout: 30_000, interval: 50 }).toBe(true);
    const seen = read();
    writeFileSync(fifo, '{not json');
    const [code] = await exited;
    expect(code).toBe(2);
    expect(stderr).toContain(`${fifo}: not valid JSON`);
    return seen;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const withoutMemorySettings = (): NodeJS.ProcessEnv => {
  const { MALLOC_ARENA_MAX: _, NODE_OPTIONS: __, ...env } = process.env;
  return env;
};

it('re-executes node once with --max-semi-space-size=1 and MALLOC_ARENA_MAX=2, keeping its pid and stderr', async () => {
  const { cmdline, environ } = await runUntilRestarted(withoutMemorySettings(), (c) => c.includes('--max-semi-space-size=1'));
  expect(cmdline.filter((a) => a.startsWith('--max-semi-space-size'))).toHaveLength(1);
  expect(environ).toContain('MALLOC_ARENA_MAX=2');
});

it('re-executes for the arenas alone when the flag is given, and keeps an arena cap that is given', async () => {
  const flagGiven = await runUntilRestarted({ ...withoutMemorySettings(), NODE_OPTIONS: '--max-semi-space-size=1' }, (_, e) => e.includes('MALLOC_ARENA_MAX=2'));
  expect(flagGiven.cmdline.filter((a) => a.startsWith('--max-semi-space-size'))).toHaveLength(0); // NODE_OPTIONS carries it
  const capGiven = await runUntilRestarted({ ...withoutMemorySettings(), MALLOC_ARENA_MAX: '1' }, (c) => c.includes('--max-semi-space-size=1'));
  expect(capGiven.environ).toContain('MALLOC_ARENA_MAX=1');
  expect(capGiven.environ.filter((v) => v.startsWith('MALLOC_ARENA_MAX='))).toHaveLength(1);
});
