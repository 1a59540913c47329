/**
 * The sidecar on Deno: read env, validate config, build the handler, serve on Deno's `node:http`
 * server as on Node (runtimes/common/node-listener.ts: WebSocket tunnels pass bytes, the parser's
 * refusals are logged, idle client connections are bounded; docs/performance.md, "Which listener on Bun and
 * Deno"), drain on signal. The upstream client is Deno's node:http client
 * (runtimes/deno/node-http-upstream.ts). `deno task serve` runs it with only the permissions it
 * needs (deno.json). Deno.serve is the measured alternative, runtimes/deno-native.ts.
 */
import { configVariables } from '../src/config.ts';
import { createSidecar } from '../src/sidecar.ts';
import { configOrExit, stopOnSignal } from '../src/lifecycle.ts';
import { createClientErrors } from './node/client-error.ts';
import { startTls } from './node/tls.ts';
import { createNodeHttpUpstream } from './deno/node-http-upstream.ts';
import { nodeHttpCapabilities, serveOnNodeHttp } from './common/node-listener.ts';
import { processMetrics } from './common/process-metrics.ts';
import { createTcpProbe } from './common/tcp-probe.ts';
import { zlibCompressorFor } from './common/zlib-compressor.ts';
import { accessControlOrExit } from './common/auth-files.ts';

const say = (message: string) => console.error(message);
const exit = (code: number) => Deno.exit(code);
const env = Object.fromEntries(configVariables.map((name) => [name, Deno.env.get(name)]));
const config = configOrExit(env, { say, exit });
// No front door for plain HTTP on the HTTPS port: Deno's TLS server drops a keep-alive connection
// handed to it after its first answer (known differences, plainHttpOnTlsPortUnanswered).
const tls = await startTls(config, say, { frontDoor: false });

const encoder = new TextEncoder();
/** Deno.stdout.write is asynchronous; node:fs writes to stdout block Deno's event loop on a full pipe. */
const stdout = async (chunk: string) => {
  const bytes = encoder.encode(chunk);
  for (let offset = 0; offset < bytes.length;) offset += await Deno.stdout.write(bytes.subarray(offset));
};

const runtimeName = `deno ${Deno.version.deno}`;
const upstream = createNodeHttpUpstream(config.TARGET, config.MAX_CONCURRENT_REQUESTS);
const clientErrors = createClientErrors();
const sidecar = createSidecar(config, {
  auth: await accessControlOrExit(config, { say, exit }),
  compressor: zlibCompressorFor(config, runtimeName, { say, exit }),
  upstream: upstream.client,
  probe: createTcpProbe(config.TARGET),
  ...nodeHttpCapabilities(clientErrors, tls),
  stdout,
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
  release: () => {
    listeners.release();
    upstream.close();
  },
});
Deno.addSignalListener('SIGTERM', () => stop('SIGTERM'));
Deno.addSignalListener('SIGINT', () => stop('SIGINT'));
