import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The namespace tests run the built daemon (dist/): build it first so it is never stale.
    globalSetup: ['test/build-daemon.ts'],
    // Namespace tests move real traffic; on 2 cores they must not compete with each other.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
