import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Conformance tests start real Node, Bun and Deno processes and move hundreds of MiB over
    // loopback: give them room, but keep every test bounded.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // 2 cores: the suites that spawn runtimes and push large bodies must not all run at once.
    maxWorkers: 2,
  },
});
