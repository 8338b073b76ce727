// Test config: fast unit tests of pure code, and e2e tests that start real nginx/Apache binaries.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Front servers bind ports and spawn processes: run e2e files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
