// The RFC 1071 sum every checksum of the datapath uses (native/src/internet_checksum.cc) against a
// word-at-a-time reference: native/test/internet_checksum_test.cc, built here with AddressSanitizer
// and UBSan and run.
import { describe, expect, it } from 'vitest';
import { runSanitizedTest } from '../../test/sanitized-native-test.js';

describe('native internet checksum', () => {
  it('sums every length at every alignment as RFC 1071 word by word, carries and odd bytes included', async () => {
    const result = await runSanitizedTest('internet_checksum_test', ['test/internet_checksum_test.cc', 'src/internet_checksum.cc']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ok\n');
  }, 120_000);
});
