/**
 * The sidecar on Bun: read env, validate config, build the handler, serve on Bun's `node:http`
 * server as on Node (runtimes/common/node-listener.ts: WebSocket tunnels pass bytes, the parser's
 * refusals are logged, a streamed response keeps its Content-Length; docs/performance.md, "Which listener on
 * Bun and Deno"), drain on signal. The upstream client is Bun's fetch. Bun.serve is the measured
 * alternative, runtimes/bun-native.ts.
 */
import process from 'node:process';
import { createSidecar } from '../src/sidecar.ts';
import { configOrExit, stopOnSignal } from '../src/lifecycle.ts';
import { createClientErrors } from './node/client-error.ts';
import { startTls } from './node/tls.ts';
import { bunFetchUpstream } from './bun/fetch-upstream.ts';
import { fdStdout } from './common/fd-stdout.ts';
import { nodeHttpCapabilities, serveOnNodeHttp } from './common/node-listener.ts';
import { processMetrics } from './common/process-metrics.ts';
import { createTcpProbe } from './common/tcp-probe.ts';
import { zlibCompressorFor } from './common/zlib-compressor.ts';
import { accessControlOrExit } from './common/auth-files.ts';

const say = (message: string) => console.error(message);
const exit = (code: number) => process.exit(code);
const config = configOrExit(Bun.env, { say, exit });
const tls = await startTls(config, say);

const runtimeName = `bun ${Bun.version}`;
const clientErrors = createClientErrors();
const sidecar = createSidecar(config, {
  auth: await accessControlOrExit(config, { say, exit }),
  compressor: zlibCompressorFor(config, runtimeName, { say, exit }),
  upstream: bunFetchUpstream,
  probe: createTcpProbe(config.TARGET),
  ...nodeHttpCapabilities(clientErrors, tls),
  stdout: fdStdout(),
  say,
  processMetrics,
  runtimeName,
});
const listeners = await serveOnNodeHttp(config, sidecar, { clientErrors, tls, runtimeName, say, exit });

const stop = stopOnSignal({
  sidecar,
  timeoutMs: config.DRAIN_TIMEOUT_MS,
  say,
  exit,
  stopListening: () => listeners.stopListening(),
  forceClose: () => listeners.forceClose(),
  release: () => listeners.release(),
});
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
