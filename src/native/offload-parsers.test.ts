// The native offload parsers (tso_split, gso_coalesce, partial_checksum, udp_gro) over crafted packets:
// native/test/offload_parsers_test.cc, built here with AddressSanitizer and UBSan and run.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const native = new URL('../../native/', import.meta.url).pathname;
const sources = ['test/offload_parsers_test.cc', 'src/tso_split.cc', 'src/gso_coalesce.cc', 'src/partial_checksum.cc', 'src/internet_checksum.cc', 'src/udp_gro.cc'];

describe('native offload parsers', () => {
  it('drop each malformed kind under its reason, and cut, finish and coalesce what checks out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vxroute-offload-'));
    try {
      const binary = join(dir, 'offload_parsers_test');
      await run('g++', ['-std=c++17', '-g', '-O1', '-Wall', '-Wextra', '-Werror', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-o', binary, ...sources], { cwd: native });
      const result = await run(binary).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('ok\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
