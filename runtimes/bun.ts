/**
 * The sidecar on Bun: read env, validate config, build the handler, serve, drain on signal.
 * The upstream client is Bun's own fetch, which keeps the client's Host and, with
 * `decompress: false`, passes compressed bodies through untouched.
 */
import process from 'node:process';
import { getConnInfo } from 'hono/bun';
import { configOrExit, createSidecar, listeningMessage, listenOrExit, stopOnSignal } from '../src/sidecar.ts';
import type { UpstreamClient } from '../src/upstream.ts';
import { fdStdout } from './fd-stdout.ts';
import { bunHeadFraming } from './head-framing.ts';
import { processMetrics } from './process-metrics.ts';
import { createTcpProbe } from './tcp-probe.ts';

const say = (message: string) => console.error(message);

const config = configOrExit(Bun.env, { say, exit: (code) => process.exit(code) });

// Known difference (oven-sh/bun#17012): Bun's fetch adds `User-Agent: Bun/x` and `Accept: */*`
// when the client sent none; everything else the client sent reaches the app unchanged.
const upstream: UpstreamClient = async (request) => {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: request.signal,
    redirect: 'manual',
    decompress: false,
  });
  // The core strips hop-by-hop headers in place. The fetch standard makes a Response's headers
  // immutable, but Bun 1.4 does not, which spares a copy per request; if a Bun release enforces
  // it, every proxied request fails (loudly: the conformance suite), and a copy goes back here.
  return response;
};

const sidecar = createSidecar(config, {
  upstream,
  probe: createTcpProbe(config.TARGET),
  remoteAddress: (c) => getConnInfo(c).remote.address,
  stdout: fdStdout(),
  say,
  processMetrics,
});

const exit = { say, exit: (code: number) => process.exit(code) };
const proxyServer = listenOrExit({ host: config.HOST, port: config.PORT }, () => Bun.serve({
  hostname: config.HOST,
  port: config.PORT,
  fetch: (request, server) => bunHeadFraming(request, sidecar.proxy.fetch(request, server)),
  // CLIENT_IDLE_TIMEOUT_MS (config.ts says why 75 s), in the whole seconds Bun counts, at most its 255.
  idleTimeout: Math.min(255, Math.ceil(config.CLIENT_IDLE_TIMEOUT_MS / 1000)),
  // Bodies stream through: no size limit of the sidecar's own (Bun's default is 128 MiB).
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
}), exit);
const adminServer = listenOrExit({ host: config.HOST, port: config.ADMIN_PORT }, () => Bun.serve({ hostname: config.HOST, port: config.ADMIN_PORT, fetch: (request, server) => sidecar.admin.fetch(request, server) }), exit);
void sidecar.readiness.start();
say(
  listeningMessage(
    `bun ${Bun.version}`,
    { host: config.HOST, port: proxyServer.port ?? config.PORT },
    { host: config.HOST, port: adminServer.port ?? config.ADMIN_PORT },
    config,
  ),
);

const stop = stopOnSignal({
  sidecar,
  timeoutMs: config.DRAIN_TIMEOUT_MS,
  say,
  exit: (code) => process.exit(code),
  stopListening: () => proxyServer.stop(false),
  forceClose: () => void proxyServer.stop(true),
  release: () => void adminServer.stop(true),
});
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
