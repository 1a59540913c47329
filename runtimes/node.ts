/**
 * The sidecar on Node (the pod's runtime): read env, validate config, build the handler, serve
 * the proxy, admin and redirect listeners on node:http (runtimes/common/node-listener.ts, as on
 * Bun and Deno), drain on SIGTERM/SIGINT.
 */
import { createSidecar } from '../src/sidecar.ts';
import { configOrExit, stopOnSignal } from '../src/lifecycle.ts';
import { createClientErrors } from './node/client-error.ts';
import { fdStdout } from './common/fd-stdout.ts';
import { createNodeUpstream } from './node/upstream.ts';
import { createOtlpPost } from './node/otlp-post.ts';
import { nodeHttpCapabilities, serveOnNodeHttp } from './common/node-listener.ts';
import { processMetrics } from './common/process-metrics.ts';
import { createTcpProbe } from './common/tcp-probe.ts';
import { zlibCompressorFor } from './common/zlib-compressor.ts';
import { accessControlOrExit } from './common/auth-files.ts';
import { startTls } from './node/tls.ts';

const say = (message: string) => process.stderr.write(`${message}\n`);
const exit = (code: number) => process.exit(code);
const config = configOrExit(process.env, { say, exit });
const tls = await startTls(config, say);

const runtimeName = `node ${process.versions.node}`;
const upstream = createNodeUpstream(config.TARGET, config.MAX_CONCURRENT_REQUESTS);
const otlpPost = createOtlpPost();
const clientErrors = createClientErrors();
const sidecar = createSidecar(config, {
  auth: await accessControlOrExit(config, { say, exit }),
  compressor: zlibCompressorFor(config, runtimeName, { say, exit }),
  upstream: upstream.client,
  probe: createTcpProbe(config.TARGET),
  ...nodeHttpCapabilities(clientErrors, tls),
  exportFetch: otlpPost.fetch,
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
  release: async () => {
    listeners.release();
    await Promise.all([upstream.close(), otlpPost.close()]);
  },
});
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
