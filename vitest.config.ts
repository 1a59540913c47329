import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Bun and Deno on Bun.serve and Deno.serve (runtimes/bun-native.ts, runtimes/deno-native.ts) are
    // the measured alternative (docs/performance.md, "Which listener on Bun and Deno"), run on demand: NATIVE_LISTENERS=1.
    exclude: [...configDefaults.exclude, ...(process.env.NATIVE_LISTENERS ? [] : ['test/**/*-native.test.ts'])],
    // Conformance tests start real Node, Bun and Deno processes and move hundreds of MiB over
    // loopback: give them room, but keep every test bounded.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // 2 cores: the suites that spawn runtimes and push large bodies must not all run at once.
    maxWorkers: 2,
  },
});
