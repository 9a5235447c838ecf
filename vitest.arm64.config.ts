import { defineConfig } from 'vitest/config';

// The tests `npm run arm64` runs with arm64 Node under qemu-user (scripts/arm64.mjs), in the arm64
// copy of the package: the shared-memory structures, their real-concurrency races, and the addon.
// No globalSetup: dist/ is compiled on the host and copied (tsc under qemu takes minutes).
export default defineConfig({
  test: {
    include: [
      'src/datapath/route-lookup.test.ts',
      'src/datapath/datapath.test.ts',
      'src/datapath/switch/fdb.test.ts',
      'src/datapath/trace-ring.test.ts',
      'src/**/*.concurrency.test.ts',
      'src/native/addon.test.ts',
    ],
    fileParallelism: false,
    // Bounds for emulated arm64 on a loaded host (qemu-user runs Node about ten times slower), not speed assertions.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    reporters: ['default'],
  },
});
