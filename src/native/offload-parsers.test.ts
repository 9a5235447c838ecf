// The native offload parsers (tso_split, gso_coalesce, partial_checksum, udp_gro) over crafted packets:
// native/test/offload_parsers_test.cc, built here with AddressSanitizer and UBSan and run.
import { describe, expect, it } from 'vitest';
import { runSanitizedTest } from '../../test/sanitized-native-test.js';

const sources = ['test/offload_parsers_test.cc', 'src/tso_split.cc', 'src/gso_coalesce.cc', 'src/partial_checksum.cc', 'src/internet_checksum.cc', 'src/udp_gro.cc'];

describe('native offload parsers', () => {
  it('drop each malformed kind under its reason, and cut, finish and coalesce what checks out', async () => {
    const result = await runSanitizedTest('offload_parsers_test', sources);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ok\n');
  }, 120_000);
});
