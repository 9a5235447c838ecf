// The inner flow hash (native/src/flow_hash.h) over crafted datagrams: native/test/flow_hash_test.cc,
// built here with AddressSanitizer and UBSan and run.
import { describe, expect, it } from 'vitest';
import { runSanitizedTest } from '../../test/sanitized-native-test.js';

describe('native inner flow hash', () => {
  it('hashes both directions of a flow alike, spreads flows evenly over 32 sockets, reads short frames within their length', async () => {
    const result = await runSanitizedTest('flow_hash_test', ['test/flow_hash_test.cc']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ok\n');
  }, 120_000);
});
