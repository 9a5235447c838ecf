// A vxroute peer's run left whole (udp_gro kWholeRun, received_whole): native/test/whole_runs_test.cc,
// built here with AddressSanitizer and UBSan and run.
import { describe, expect, it } from 'vitest';
import { runSanitizedTest } from '../../test/sanitized-native-test.js';

const sources = ['test/whole_runs_test.cc', 'src/udp_gro.cc', 'src/received_whole.cc', 'src/gso_coalesce.cc', 'src/tso_split.cc', 'src/internet_checksum.cc'];

describe('whole runs', () => {
  it('leave a GRO buffer of one TCP run whole, and join held runs of a flow into one GSO write that cuts back into the datagrams', async () => {
    const result = await runSanitizedTest('whole_runs_test', sources);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ok\n');
  }, 120_000);
});
