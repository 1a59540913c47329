/**
 * The sidecar on Deno.serve, the measured alternative to runtimes/deno.ts (docs/performance.md, "Which listener
 * on Bun and Deno"; its known differences are test/conformance/known-differences.ts's
 * `deno-native`). Read env, validate config, build the handler, serve, drain on signal. Run with
 * `deno task serve`'s permissions (bench/targets.ts denoServeCommand).
 */
import { getConnInfo } from 'hono/deno';
import { configVariables } from '../src/config.ts';
import { createSidecar, listeningMessage } from '../src/sidecar.ts';
import { configOrExit, listenOrExit, stopOnSignal } from '../src/lifecycle.ts';
import { createDenoWebSocket } from './deno/websocket.ts';
import { denoHeadFraming } from './common/head-framing.ts';
import { createNodeHttpUpstream } from './deno/node-http-upstream.ts';
import { processMetrics } from './common/process-metrics.ts';
import { createTcpProbe } from './common/tcp-probe.ts';
import { zlibCompressorFor } from './common/zlib-compressor.ts';
import { accessControlOrExit } from './common/auth-files.ts';
import { redirectMessage } from '../src/tls/https.ts';
import { startCertificates } from '../src/tls/watcher.ts';
import type { CertificatePair } from '../src/tls/certificate.ts';
import { ListenerSwap } from './common/listener-swap.ts';
import { tlsFiles } from './common/tls-files.ts';

const say = (message: string) => console.error(message);

// Only the sidecar's own variables: `deno task serve` grants --allow-env for exactly these.
const env = Object.fromEntries(configVariables.map((name) => [name, Deno.env.get(name)]));
const config = configOrExit(env, { say, exit: (code) => Deno.exit(code) });

const encoder = new TextEncoder();
/** Deno.stdout.write is asynchronous; node:fs writes to stdout block Deno's event loop on a full pipe. */
const stdout = async (chunk: string) => {
  const bytes = encoder.encode(chunk);
  for (let offset = 0; offset < bytes.length;) offset += await Deno.stdout.write(bytes.subarray(offset));
};

// TLS: rotation by a listener swap, since Deno.serve has no reload (listener-swap.ts).
// eslint-disable-next-line prefer-const -- assigned once the sidecar exists; the watcher's callback is made before
let proxyListeners: Pick<ListenerSwap<unknown>, 'swap'> | undefined;
const tls = await startCertificates(config, tlsFiles, { say, exit: (code) => Deno.exit(code) }, (pair) =>
  proxyListeners?.swap(pair),
);

const upstream = createNodeHttpUpstream(config.TARGET, config.MAX_CONCURRENT_REQUESTS);
const sidecar = createSidecar(config, {
  auth: await accessControlOrExit(config, { say, exit: (code) => Deno.exit(code) }),
  compressor: zlibCompressorFor(config, `deno ${Deno.version.deno}`, { say, exit: (code) => Deno.exit(code) }),
  upstream: upstream.client,
  webSocket: createDenoWebSocket(config),
  probe: createTcpProbe(config.TARGET),
  remoteAddress: (c) => getConnInfo(c).remote.address,
  stdout,
  say,
  processMetrics,
  runtimeName: `deno ${Deno.version.deno}`,
  tls,
  // Deno hands an HTTP/2 request over with :authority in the URL and no Host header; it does the
  // same for an HTTP/1.1 request without Host over TLS (README, known differences).
  authority: (c) => (tls ? new URL(c.req.url).host : undefined),
});

const listening = (server: Deno.HttpServer<Deno.NetAddr>) => server.addr;
// With a pair: rustls, TLS 1.2 and 1.3 with AEAD, forward-secret suites only, ALPN h2 and
// http/1.1 (Deno.serve sets both). reusePort for the swap needs --unstable-net (deno.json).
const serveProxy = (pair: CertificatePair | undefined, port: number) =>
  Deno.serve(
    {
      hostname: config.HOST,
      port,
      onListen: () => {},
      // Bytes pass unchanged unless COMPRESS says otherwise: Deno.serve's own compression (opt-in
      // since Deno 2.9, denoland/deno#35253, and turned on by DENO_SERVE_AUTOMATIC_COMPRESSION=1)
      // stays off, so nothing is ever compressed twice or behind the operator's back.
      automaticCompression: false,
      ...(pair && { cert: pair.cert, key: pair.key, reusePort: true }),
    },
    (request, info) => denoHeadFraming(request, sidecar.proxy.fetch(request, info)),
  );
const exit = { say, exit: (code: number) => Deno.exit(code) };
// Deno.serve has no bound for idle keep-alive connections and CLIENT_IDLE_TIMEOUT_MS cannot apply
// (denoland/deno#32497; its option, denoland/deno#34172, is not in Deno 2.9): known differences.
const listeners = listenOrExit(
  { host: config.HOST, port: config.PORT, variable: 'PORT' },
  () =>
    new ListenerSwap(
      { start: serveProxy, port: (server) => server.addr.port, drain: (server) => server.shutdown(), kill: () => {} },
      tls?.current,
      config.PORT,
    ),
  exit,
);
proxyListeners = listeners;
const redirect = sidecar.redirect;
const redirectServer =
  redirect &&
  listenOrExit(
    { host: config.HOST, port: config.HTTP_REDIRECT_PORT ?? 0, variable: 'HTTP_REDIRECT_PORT' },
    () =>
      Deno.serve({ hostname: config.HOST, port: config.HTTP_REDIRECT_PORT, onListen: () => {} }, (request, info) =>
        redirect.fetch(request, info),
      ),
    exit,
  );
if (redirectServer) say(redirectMessage(config.HOST, redirectServer.addr.port));
const adminServer = listenOrExit(
  { host: config.HOST, port: config.ADMIN_PORT, variable: 'ADMIN_PORT' },
  () =>
    Deno.serve({ hostname: config.HOST, port: config.ADMIN_PORT, onListen: () => {} }, (request, info) =>
      sidecar.admin.fetch(request, info),
    ),
  exit,
);
void sidecar.readiness.start();
say(
  listeningMessage(
    `deno ${Deno.version.deno}`,
    { host: config.HOST, port: listeners.port },
    { host: config.HOST, port: listening(adminServer).port },
    config,
  ),
);

const stop = stopOnSignal({
  sidecar,
  timeoutMs: config.DRAIN_TIMEOUT_MS,
  say,
  exit: (code) => Deno.exit(code),
  // shutdown() stops accepting, closes idle connections and resolves once in-flight requests are
  // done; it also closes every open WebSocket at once (1001, seen with Deno 2.9), so it waits
  // until the tunnels have closed (or the drain deadline closed them).
  stopListening: () => sidecar.tunnels.idle().then(() => listeners.stopListening()),
  // Deno.serve has no forced close: what is still open ends with the process, after the logs are flushed.
  forceClose: () => {},
  release: async () => {
    tls?.close();
    await Promise.all([adminServer.shutdown(), redirectServer?.shutdown()]);
    upstream.close();
  },
});
Deno.addSignalListener('SIGTERM', () => stop('SIGTERM'));
Deno.addSignalListener('SIGINT', () => stop('SIGINT'));
