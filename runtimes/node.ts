/**
 * The sidecar on Node (the pod's runtime): read env, validate config, build the handler, serve
 * the proxy and admin listeners, drain on SIGTERM/SIGINT.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { HttpBindings } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { createSidecar, listeningMessage } from '../src/sidecar.ts';
import { configOrExit, stopOnSignal } from '../src/lifecycle.ts';
import { createClientErrors } from './node/client-error.ts';
import { fdStdout } from './shared/fd-stdout.ts';
import { attachTunnels, shouldTunnel } from './node/tunnel.ts';
import { createNodeUpstream } from './node/upstream.ts';
import { createOtlpPost } from './node/otlp-post.ts';
import { processMetrics } from './shared/process-metrics.ts';
import { createTcpProbe } from './shared/tcp-probe.ts';
import { zlibCompressorFor } from './shared/zlib-compressor.ts';
import { accessControlOrExit } from './shared/auth-files.ts';
import { http2Authority, startTls } from './node/tls.ts';
import { redirectMessage } from '../src/tls/https.ts';

const say = (message: string) => process.stderr.write(`${message}\n`);

const config = configOrExit(process.env, { say, exit: (code) => process.exit(code) });

const tls = await startTls(config, say);

const upstream = createNodeUpstream(config.TARGET, config.MAX_CONCURRENT_REQUESTS);
const otlpPost = createOtlpPost();
const clientErrors = createClientErrors();
const sidecar = createSidecar(config, {
  auth: await accessControlOrExit(config, { say, exit: (code) => process.exit(code) }),
  compressor: zlibCompressorFor(config, `node ${process.versions.node}`, { say, exit: (code) => process.exit(code) }),
  upstream: upstream.client,
  probe: createTcpProbe(config.TARGET),
  remoteAddress: (c) => getConnInfo(c).remote.address,
  rawTarget: (c) => (c.env as HttpBindings).incoming.url,
  httpVersion: (c) => (c.env as HttpBindings).incoming.httpVersion,
  exportFetch: otlpPost.fetch,
  stdout: fdStdout(),
  say,
  processMetrics,
  runtimeName: `node ${process.versions.node}`,
  tls: tls?.watcher,
  authority: (c) => tls && http2Authority((c.env as HttpBindings).incoming),
  refusal: (c) => clientErrors.refusal((c.env as HttpBindings).incoming),
});

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

const http1Options = {
  // CLIENT_IDLE_TIMEOUT_MS (config.ts says why 75 s). Node announces it in `Keep-Alive: timeout=75`.
  keepAliveTimeout: config.CLIENT_IDLE_TIMEOUT_MS,
  // Clients that trickle their headers lose the connection after 60 s.
  headersTimeout: 60_000,
  // Bodies may stream for as long as they take (large uploads); headers are bounded above.
  requestTimeout: 0,
  // Request line plus headers over 16 KiB get 431.
  maxHeaderSize: 16 * 1024,
  // HTTP/1.1 without Host gets 400 (RFC 9112 §3.2), logged (runtimes/node/client-error.ts): Node's own
  // check would answer without a log line or a clientError event.
  requireHostHeader: false,
  // Only WebSocket handshakes become 'upgrade' events (the tunnel); any other Upgrade goes to
  // the handler as a plain request, its Upgrade dropped (Node >= 24.9: nodejs/node#59824).
  shouldUpgradeCallback: shouldTunnel,
};
const proxyListener = getRequestListener(sidecar.proxy.fetch, { errorHandler: clientErrors.requestError }) as Listener;
// With TLS: HTTP/2 and HTTP/1.1 on one port (runtimes/node/tls.ts); the same listener and timeouts.
const proxyServer = tls
  ? tls.serve(http1Options, proxyListener)
  : createServer(http1Options as Parameters<typeof createServer>[0], proxyListener);
attachTunnels(proxyServer, {
  config,
  tunnels: sidecar.tunnels,
  onInternalError: (error) =>
    say(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
});
clientErrors.attach(proxyServer, sidecar.refused);
const adminServer = createServer(getRequestListener(sidecar.admin.fetch) as Listener);

const redirectServer = sidecar.redirect && createServer(getRequestListener(sidecar.redirect.fetch) as Listener);

const listen = (server: NetServer, port: number) =>
  new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, config.HOST, () => resolve(server.address() as AddressInfo));
  });

try {
  const [proxyAddress, adminAddress] = await Promise.all([
    listen(proxyServer, config.PORT),
    listen(adminServer, config.ADMIN_PORT),
  ]);
  if (redirectServer)
    say(redirectMessage(config.HOST, (await listen(redirectServer, config.HTTP_REDIRECT_PORT ?? 0)).port));
  void sidecar.readiness.start();
  say(
    listeningMessage(
      `node ${process.versions.node}`,
      { host: config.HOST, port: proxyAddress.port },
      { host: config.HOST, port: adminAddress.port },
      config,
    ),
  );
} catch (error) {
  say(`sidecar: cannot listen: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

const stop = stopOnSignal({
  sidecar,
  timeoutMs: config.DRAIN_TIMEOUT_MS,
  say,
  exit: (code) => process.exit(code),
  stopListening: () =>
    new Promise<void>((resolve) => {
      proxyServer.close(() => resolve());
      proxyServer.closeIdleConnections();
    }),
  forceClose: () => proxyServer.closeAllConnections(),
  release: async () => {
    adminServer.closeAllConnections();
    adminServer.close();
    redirectServer?.closeAllConnections();
    redirectServer?.close();
    tls?.watcher.close();
    await Promise.all([upstream.close(), otlpPost.close()]);
  },
});
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
