import { defineConfig } from 'vitest/config';

// The version matrix (scripts/versions.ts): one run per client version, outside `npm test`;
// run from the repository root.
export default defineConfig({
  test: {
    include: ['test/versions/**/*.cases.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
