/**
 * The sidecar on Node (the pod's runtime): read env, validate config, build the handler, serve
 * the proxy and admin listeners, drain on SIGTERM/SIGINT.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { HttpBindings } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { configOrExit, createSidecar, listeningMessage, stopOnSignal } from '../src/sidecar.ts';
import { fdStdout } from './fd-stdout.ts';
import { createNodeUpstream } from './node-upstream.ts';
import { processMetrics } from './process-metrics.ts';
import { createTcpProbe } from './tcp-probe.ts';

const say = (message: string) => process.stderr.write(`${message}\n`);

const config = configOrExit(process.env, { say, exit: (code) => process.exit(code) });

const upstream = createNodeUpstream(config.TARGET);
const sidecar = createSidecar(config, {
  upstream: upstream.client,
  probe: createTcpProbe(config.TARGET),
  remoteAddress: (c) => getConnInfo(c).remote.address,
  rawTarget: (c) => (c.env as HttpBindings).incoming.url,
  httpVersion: (c) => (c.env as HttpBindings).incoming.httpVersion,
  stdout: fdStdout(),
  say,
  processMetrics,
});

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

const proxyServer = createServer(
  {
    // Longer than cloud load balancers' 60 s idle timeout, so the sidecar is never the side that
    // closes a connection the balancer is about to reuse. Node announces it in `Keep-Alive: timeout=65`.
    keepAliveTimeout: 65_000,
    // Clients that trickle their headers lose the connection after 60 s.
    headersTimeout: 60_000,
    // Bodies may stream for as long as they take (large uploads); headers are bounded above.
    requestTimeout: 0,
    // Request line plus headers over 16 KiB get 431.
    maxHeaderSize: 16 * 1024,
    // HTTP/1.1 without Host gets 400 (RFC 9112 §3.2).
    requireHostHeader: true,
    // Hand Upgrade requests to the handler, which answers 501 and logs them, instead of
    // Node's 'upgrade' event (Node >= 24.9; older Node destroys the socket instead).
    shouldUpgradeCallback: () => false,
  } as Parameters<typeof createServer>[0],
  getRequestListener(sidecar.proxy.fetch) as Listener,
);
const adminServer = createServer(getRequestListener(sidecar.admin.fetch) as Listener);

const listen = (server: Server, port: number) =>
  new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, config.HOST, () => resolve(server.address() as AddressInfo));
  });

try {
  const [proxyAddress, adminAddress] = await Promise.all([listen(proxyServer, config.PORT), listen(adminServer, config.ADMIN_PORT)]);
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
    await upstream.close();
  },
});
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
