/**
 * The sidecar on Bun.serve, the measured alternative to runtimes/bun.ts (docs/performance.md, "Which listener on
 * Bun and Deno"; its known differences are test/conformance/known-differences.ts's `bun-native`).
 * Read env, validate config, build the handler, serve, drain on signal.
 * The upstream client is Bun's own fetch, which keeps the client's Host and, with
 * `decompress: false`, passes compressed bodies through untouched.
 */
import { constants } from 'node:crypto';
import process from 'node:process';
import { getConnInfo } from 'hono/bun';
import { createSidecar, listeningMessage } from '../src/sidecar.ts';
import { configOrExit, listenOrExit, stopOnSignal } from '../src/lifecycle.ts';
import { bunFetchUpstream as upstream } from './bun/fetch-upstream.ts';
import { createBunWebSocket } from './bun/websocket.ts';
import { fdStdout } from './common/fd-stdout.ts';
import { bunHeadFraming } from './common/head-framing.ts';
import { processMetrics } from './common/process-metrics.ts';
import { createTcpProbe } from './common/tcp-probe.ts';
import { zlibCompressorFor } from './common/zlib-compressor.ts';
import { accessControlOrExit } from './common/auth-files.ts';
import { redirectMessage } from '../src/tls/https.ts';
import { startCertificates } from '../src/tls/watcher.ts';
import type { CertificatePair } from '../src/tls/certificate.ts';
import { ListenerSwap } from './common/listener-swap.ts';
import { tls12Ciphers, tlsFiles } from './common/tls-files.ts';

const say = (message: string) => console.error(message);

const config = configOrExit(Bun.env, { say, exit: (code) => process.exit(code) });

// TLS: rotation by a listener swap, since Bun.serve ignores reload({ tls }) (listener-swap.ts).
// eslint-disable-next-line prefer-const -- assigned once the sidecar exists; the watcher's callback is made before
let proxyListeners: Pick<ListenerSwap<unknown>, 'swap'> | undefined;
const tls = await startCertificates(config, tlsFiles, { say, exit: (code) => process.exit(code) }, (pair) =>
  proxyListeners?.swap(pair),
);

const webSocket = createBunWebSocket(config);
const sidecar = createSidecar(config, {
  auth: await accessControlOrExit(config, { say, exit: (code) => process.exit(code) }),
  compressor: zlibCompressorFor(config, `bun ${Bun.version}`, { say, exit: (code) => process.exit(code) }),
  upstream,
  webSocket: webSocket.handshake,
  probe: createTcpProbe(config.TARGET),
  remoteAddress: (c) => getConnInfo(c).remote.address,
  stdout: fdStdout(),
  say,
  processMetrics,
  runtimeName: `bun ${Bun.version}`,
  tls,
});

const serveProxy = (pair: CertificatePair | undefined, port: number) =>
  Bun.serve({
    hostname: config.HOST,
    port,
    fetch: (request, server) => bunHeadFraming(request, sidecar.proxy.fetch(request, server)),
    // With TLS: h2 and HTTP/1.1 by ALPN. `http2: true` is marked experimental (oven-sh/bun#40137);
    // it is on because the conformance suite, test/tls and test/tls/h2.ts pass with it. BoringSSL
    // refuses TLS 1.0/1.1 by itself; the suites are Mozilla's intermediate ones (tls-files.ts), in
    // the server's order, as on Node (runtimes/node/tls.ts: testssl.sh rates the client's order HIGH).
    ...(pair && {
      reusePort: true,
      http2: true,
      tls: {
        cert: pair.cert,
        key: pair.key,
        ciphers: tls12Ciphers,
        secureOptions: constants.SSL_OP_CIPHER_SERVER_PREFERENCE,
      },
    }),
    // CLIENT_IDLE_TIMEOUT_MS (config.ts says why 75 s), in the whole seconds Bun counts, at most its 255.
    idleTimeout: Math.min(255, Math.ceil(config.CLIENT_IDLE_TIMEOUT_MS / 1000)),
    // Bodies stream through: no size limit of the sidecar's own (Bun's default is 128 MiB).
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    websocket: webSocket.handlers,
  });
const exit = { say, exit: (code: number) => process.exit(code) };
const listeners = listenOrExit(
  { host: config.HOST, port: config.PORT, variable: 'PORT' },
  () =>
    new ListenerSwap(
      {
        start: serveProxy,
        port: (server) => server.port ?? 0,
        drain: (server) => server.stop(false),
        kill: (server) => void server.stop(true),
      },
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
      Bun.serve({
        hostname: config.HOST,
        port: config.HTTP_REDIRECT_PORT,
        fetch: (request, server) => redirect.fetch(request, server),
      }),
    exit,
  );
if (redirectServer) say(redirectMessage(config.HOST, redirectServer.port ?? 0));
const adminServer = listenOrExit(
  { host: config.HOST, port: config.ADMIN_PORT, variable: 'ADMIN_PORT' },
  () =>
    Bun.serve({
      hostname: config.HOST,
      port: config.ADMIN_PORT,
      fetch: (request, server) => sidecar.admin.fetch(request, server),
    }),
  exit,
);
void sidecar.readiness.start();
say(
  listeningMessage(
    `bun ${Bun.version}`,
    { host: config.HOST, port: listeners.port },
    { host: config.HOST, port: adminServer.port ?? config.ADMIN_PORT },
    config,
  ),
);

const stop = stopOnSignal({
  sidecar,
  timeoutMs: config.DRAIN_TIMEOUT_MS,
  say,
  exit: (code) => process.exit(code),
  stopListening: () => listeners.stopListening(),
  forceClose: () => listeners.forceClose(),
  release: () => {
    void adminServer.stop(true);
    void redirectServer?.stop(true);
    tls?.close();
  },
});
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
