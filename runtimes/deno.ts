/**
 * The sidecar on Deno: read env, validate config, build the handler, serve, drain on signal.
 * `deno task serve` runs it with only the permissions it needs (deno.json).
 */
import { getConnInfo } from 'hono/deno';
import { configVariables } from '../src/config.ts';
import { configOrExit, createSidecar, listeningMessage, listenOrExit, stopOnSignal } from '../src/sidecar.ts';
import { denoHeadFraming } from './head-framing.ts';
import { createNodeHttpUpstream } from './node-http-upstream.ts';
import { processMetrics } from './process-metrics.ts';
import { createTcpProbe } from './tcp-probe.ts';

const say = (message: string) => console.error(message);

// Only the sidecar's own variables: `deno task serve` grants --allow-env for exactly these.
const env = Object.fromEntries(configVariables.map((name) => [name, Deno.env.get(name)]));
const config = configOrExit(env, { say, exit: (code) => Deno.exit(code) });

const encoder = new TextEncoder();
/** Deno.stdout.write is asynchronous; node:fs writes to stdout block Deno's event loop on a full pipe. */
const stdout = async (chunk: string) => {
  const bytes = encoder.encode(chunk);
  for (let offset = 0; offset < bytes.length; ) offset += await Deno.stdout.write(bytes.subarray(offset));
};

const upstream = createNodeHttpUpstream(config.TARGET);
const sidecar = createSidecar(config, {
  upstream: upstream.client,
  probe: createTcpProbe(config.TARGET),
  remoteAddress: (c) => getConnInfo(c).remote.address,
  stdout,
  say,
  processMetrics,
});

const listening = (server: Deno.HttpServer<Deno.NetAddr>) => server.addr;
const exit = { say, exit: (code: number) => Deno.exit(code) };
// Deno.serve has no bound for idle keep-alive connections and CLIENT_IDLE_TIMEOUT_MS cannot apply
// (denoland/deno#32497; its option, denoland/deno#34172, is not in Deno 2.9): known differences.
const proxyServer = listenOrExit({ host: config.HOST, port: config.PORT }, () => Deno.serve(
  { hostname: config.HOST, port: config.PORT, onListen: () => {} },
  (request, info) => denoHeadFraming(request, sidecar.proxy.fetch(request, info)),
), exit);
const adminServer = listenOrExit({ host: config.HOST, port: config.ADMIN_PORT }, () => Deno.serve(
  { hostname: config.HOST, port: config.ADMIN_PORT, onListen: () => {} },
  (request, info) => sidecar.admin.fetch(request, info),
), exit);
void sidecar.readiness.start();
say(
  listeningMessage(
    `deno ${Deno.version.deno}`,
    { host: config.HOST, port: listening(proxyServer).port },
    { host: config.HOST, port: listening(adminServer).port },
    config,
  ),
);

const stop = stopOnSignal({
  sidecar,
  timeoutMs: config.DRAIN_TIMEOUT_MS,
  say,
  exit: (code) => Deno.exit(code),
  // shutdown() stops accepting, closes idle connections and resolves once in-flight requests are done.
  stopListening: () => proxyServer.shutdown(),
  // Deno.serve has no forced close: what is still open ends with the process, after the logs are flushed.
  forceClose: () => {},
  release: async () => {
    await adminServer.shutdown();
    upstream.close();
  },
});
Deno.addSignalListener('SIGTERM', () => stop('SIGTERM'));
Deno.addSignalListener('SIGINT', () => stop('SIGINT'));
