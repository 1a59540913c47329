/**
 * The bundle the image ships (dist/sidecar.mjs, built here by scripts/build.ts exactly as the
 * image's build stage builds it, and started with the image's V8 flags) behaves as the sources do:
 * the conformance suite, run against it. Every group runs; the suite is the proof that bundling
 * (CommonJS packages inside an ES module, minified syntax) changed nothing a client can see.
 */
import { beforeAll } from 'vitest';
import { buildSidecar } from '../../scripts/build.ts';
import { addConformanceTests } from './suite.ts';

// Before the suite's own beforeAll starts the sidecars (file-level hooks run first).
beforeAll(async () => {
  await buildSidecar();
}, 60_000);

addConformanceTests('node-bundle');
