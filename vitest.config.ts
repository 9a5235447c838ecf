import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The built image's checks need podman and the image: npm run image:test (vitest.image.config.ts).
    exclude: [...configDefaults.exclude, 'test/image.test.ts'],
    // The namespace tests run the built daemon (dist/): build it first so it is never stale.
    globalSetup: ['test/build-daemon.ts'],
    // Namespace tests move real traffic; on 2 cores they must not compete with each other.
    // Timeouts are bounds for a loaded machine, not speed assertions: the tests wait for conditions.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
    reporters: ['default'],
  },
});
