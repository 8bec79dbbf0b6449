import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file runs in its own process: the instrumentation wraps process-wide globals.
    pool: 'forks',
    // global.gc() lets the lifecycle tests prove that a response dropped unread ends its span.
    execArgv: ['--expose-gc'],
  },
});
