import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the Node platform (CPU pool, mathjs loading) for tests that import internal modules rather than the entry
    setupFiles: ['test/setup-platform.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Worker pools of our own run inside the tests; keep vitest's own parallelism modest on 2 cores.
    maxWorkers: 2,
    // test/gpu/gc.test.ts forces garbage collections mid-use (the Dawn create() pitfall)
    execArgv: ['--expose-gc'],
  },
});
