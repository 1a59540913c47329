import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The node:http listener variants of Bun and Deno (runtimes/bun-node.ts, runtimes/deno-node.ts)
    // are the measured alternative (README, Runtimes), run on demand: LISTENER_VARIANTS=1.
    exclude: [...configDefaults.exclude, ...(process.env.LISTENER_VARIANTS ? [] : ['test/**/*-node.test.ts'])],
    // Conformance tests start real Node, Bun and Deno processes and move hundreds of MiB over
    // loopback: give them room, but keep every test bounded.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // 2 cores: the suites that spawn runtimes and push large bodies must not all run at once.
    maxWorkers: 2,
  },
});
