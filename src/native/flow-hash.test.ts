// The inner flow hash (native/src/flow_hash.h) over crafted datagrams: native/test/flow_hash_test.cc,
// built here with AddressSanitizer and UBSan and run.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const native = new URL('../../native/', import.meta.url).pathname;

describe('native inner flow hash', () => {
  it('hashes both directions of a flow alike, spreads flows evenly over 32 sockets, reads short frames within their length', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vxroute-flow-hash-'));
    try {
      const binary = join(dir, 'flow_hash_test');
      await run('g++', ['-std=c++17', '-g', '-O1', '-Wall', '-Wextra', '-Werror', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-o', binary, 'test/flow_hash_test.cc'], { cwd: native });
      const result = await run(binary).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('ok\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
