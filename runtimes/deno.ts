/**
 * The sidecar on Deno: read env, validate config, build the handler, serve, drain on signal.
 * `deno task serve` runs it with only the permissions it needs (deno.json).
 */
import { getConnInfo } from 'hono/deno';
import { ConfigError, configVariables, loadConfig } from '../src/config.ts';
import type { Config } from '../src/config.ts';
import { createSidecar, drain, listeningMessage } from '../src/sidecar.ts';
import { createNodeHttpUpstream } from './node-http-upstream.ts';
import { processMetrics } from './process-metrics.ts';
import { createTcpProbe } from './tcp-probe.ts';

const say = (message: string) => console.error(message);

let config: Config;
try {
  // Only the sidecar's own variables: `deno task serve` grants --allow-env for exactly these.
  config = loadConfig(Object.fromEntries(configVariables.map((name) => [name, Deno.env.get(name)])));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  say(`sidecar: invalid configuration: ${error.message}`);
  Deno.exit(1);
}

const encoder = new TextEncoder();
/** Deno.stdout.write is asynchronous; node:fs writes to stdout block Deno's event loop on a full pipe. */
const stdout = async (chunk: string) => {
  const bytes = encoder.encode(chunk);
  for (let offset = 0; offset < bytes.length; ) offset += await Deno.stdout.write(bytes.subarray(offset));
};

const upstream = createNodeHttpUpstream(config.TARGET.origin);
const sidecar = createSidecar(config, {
  upstream: upstream.client,
  probe: createTcpProbe(config.TARGET.origin),
  remoteAddress: (c) => getConnInfo(c).remote.address,
  stdout,
  say,
  processMetrics,
});

const listening = (server: Deno.HttpServer<Deno.NetAddr>) => server.addr;
const proxyServer = Deno.serve(
  { hostname: config.HOST, port: config.PORT, onListen: () => {} },
  (request, info) => sidecar.proxy.fetch(request, info),
);
const adminServer = Deno.serve(
  { hostname: config.HOST, port: config.ADMIN_PORT, onListen: () => {} },
  (request, info) => sidecar.admin.fetch(request, info),
);
void sidecar.readiness.start();
say(
  listeningMessage(
    `deno ${Deno.version.deno}`,
    { host: config.HOST, port: listening(proxyServer).port },
    { host: config.HOST, port: listening(adminServer).port },
    config,
  ),
);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) {
    say(`sidecar: ${signal} again, exiting now`);
    Deno.exit(1);
  }
  stopping = true;
  say(`sidecar: ${signal} received`);
  const clean = await drain({
    sidecar,
    timeoutMs: config.DRAIN_TIMEOUT_MS,
    say,
    // shutdown() stops accepting, closes idle connections and resolves once in-flight requests are done.
    stopListening: () => proxyServer.shutdown(),
    // Deno.serve has no forced close: what is still open ends with the process, after the logs are flushed.
    forceClose: () => {},
  });
  await adminServer.shutdown();
  upstream.close();
  // Exit 0 either way: the drain did what it promised (stderr says if the timeout cut anything).
  void clean;
  Deno.exit(0);
};
Deno.addSignalListener('SIGTERM', () => void stop('SIGTERM'));
Deno.addSignalListener('SIGINT', () => void stop('SIGINT'));
