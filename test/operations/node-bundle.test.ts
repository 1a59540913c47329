/**
 * The bundle the image ships, started as the image starts it (test/support/sidecar.ts,
 * `node-bundle`): admin listener, readiness, metrics and the drain on SIGTERM, as on the sources.
 */
import { beforeAll } from 'vitest';
import { buildSidecar } from '../../scripts/build.ts';
import { addOperationsTests } from './suite.ts';

beforeAll(async () => {
  await buildSidecar();
}, 60_000);

addOperationsTests('node-bundle');
