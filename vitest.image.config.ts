import { defineConfig } from 'vitest/config';

// `npm run image:test`: the image built by `npm run image`, run with podman (test/image.test.ts).
// Apart from `npm test`, which needs neither podman nor the image.
export default defineConfig({
  test: {
    include: ['test/image.test.ts'],
    fileParallelism: false,
    // Bounds for a loaded machine, not speed assertions.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    reporters: ['default'],
  },
});
