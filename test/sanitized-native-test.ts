// A C++ test of native/test/, built with AddressSanitizer and UBSan (no recovery) and run: what it printed.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const native = new URL('../native/', import.meta.url).pathname;

/** Builds `sources` (relative to native/) into `name` and runs it; its stdout and stderr, whatever its exit. */
export async function runSanitizedTest(name: string, sources: string[]): Promise<{ stdout: string; stderr: string }> {
  const dir = await mkdtemp(join(tmpdir(), `vxroute-${name}-`));
  try {
    const binary = join(dir, name);
    await run('g++', ['-std=c++17', '-g', '-O1', '-Wall', '-Wextra', '-Werror', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-o', binary, ...sources], { cwd: native });
    return await run(binary).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
