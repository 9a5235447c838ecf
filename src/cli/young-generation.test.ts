// `vxroute run` becomes node with a small young generation before it does anything: the same
// process (pid), the flag on node's command line, and its stderr still the caller's. The run
// waits on a FIFO as its static table, so the test can look at it before letting it fail.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cliPath } from '../lab/vxroute-process.js';

it('re-executes node once with --max-semi-space-size=1, keeping its pid and stderr', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vxroute-young-'));
  try {
    const fifo = join(dir, 'subnets.json');
    execFileSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [cliPath(), 'run', '--node-name', 'n1', '--subnets', fifo, '--metrics-addr', ''], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'exit');
    const cmdline = (): string[] => readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    // It blocks opening the FIFO only after the exec (the table is read in `run`, after it).
    await expect.poll(cmdline, { timeout: 30_000, interval: 50 }).toContain('--max-semi-space-size=1');
    expect(cmdline().filter((a) => a.startsWith('--max-semi-space-size'))).toHaveLength(1);
    writeFileSync(fifo, '{not json');
    const [code] = await exited;
    expect(code).toBe(2);
    expect(stderr).toContain(`${fifo}: not valid JSON`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
