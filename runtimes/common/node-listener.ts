/**
 * The proxy, admin and redirect listeners on `node:http`, the same on Node (runtimes/node.ts) and
 * on the runtimes that also ship it (Bun and Deno: runtimes/bun.ts and runtimes/deno.ts).
 * On that server the 'upgrade' event hands over the raw socket, so WebSocket handshakes take Node's
 * byte tunnel (runtimes/node/tunnel.ts); the parser's refusals reach `clientError`
 * (runtimes/node/client-error.ts); and a streamed response keeps the app's Content-Length.
 * @hono/node-server's getRequestListener turns each request into the core's Request.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { HttpBindings } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { Config } from '../../src/config.ts';
import { cannotListenMessage } from '../../src/lifecycle.ts';
import type { ListenAddress } from '../../src/lifecycle.ts';
import { listeningMessage } from '../../src/sidecar.ts';
import type { RuntimeCapabilities, Sidecar } from '../../src/sidecar.ts';
import { redirectMessage } from '../../src/tls/https.ts';
import type { ClientErrors } from '../node/client-error.ts';
import { attachTunnels, shouldTunnel } from '../node/tunnel.ts';
import { http2Authority } from '../node/tls.ts';
import type { startTls } from '../node/tls.ts';

type Tls = Awaited<ReturnType<typeof startTls>>;

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

const incoming = (c: Context) => (c.env as HttpBindings).incoming;

/** What the core reads from a `node:http` request: the peer, the raw target and header fields, the version, a parser refusal. */
export function nodeHttpCapabilities(
  clientErrors: ClientErrors,
  tls: Tls,
): Pick<
  RuntimeCapabilities,
  'remoteAddress' | 'rawTarget' | 'rawHeaders' | 'headerArrays' | 'httpVersion' | 'refusal' | 'tls' | 'authority'
> {
  return {
    tls: tls?.watcher,
    authority: (c) => tls && http2Authority(incoming(c)),
    remoteAddress: (c) => getConnInfo(c).remote.address,
    rawTarget: (c) => incoming(c).url,
    rawHeaders: (c) => incoming(c).rawHeaders,
    headerArrays: true,
    httpVersion: (c) => incoming(c).httpVersion,
    refusal: (c) => clientErrors.refusal(incoming(c)),
  };
}

export interface NodeListeners {
  stopListening(): Promise<void>;
  forceClose(): void;
  release(): void;
}

/** node:http's server options, the same on every runtime that serves on node:http. */
function http1Options(config: Config) {
  return {
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
}

/**
 * Listens, or exits with one line naming the variable whose port could not be had (Bun's node:http
 * says only "Failed to start server. Is port N in use?").
 */
function listen(server: NetServer, address: ListenAddress, exit: (code: number) => void, say: (line: string) => void) {
  return new Promise<AddressInfo>((resolve) => {
    const cannot = (error: Error) => {
      say(cannotListenMessage(address, error));
      exit(1);
    };
    server.once('error', cannot);
    server.listen(address.port, address.host, () => {
      server.off('error', cannot);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Serves the sidecar's listeners on node:http (with TLS, runtimes/node/tls.ts's HTTP/2 and
 * HTTP/1.1 server, rotated by setSecureContext, behind the front door that answers plain HTTP
 * 400: runtimes/node/plain-http.ts), says where, and returns what a drain needs.
 */
export async function serveOnNodeHttp(
  config: Config,
  sidecar: Sidecar,
  options: {
    clientErrors: ClientErrors;
    tls: Tls;
    runtimeName: string;
    say(message: string): void;
    exit(code: number): void;
  },
): Promise<NodeListeners> {
  const { clientErrors, tls, say, exit } = options;
  const host = config.HOST;
  const proxyListener = getRequestListener(sidecar.proxy.fetch, {
    errorHandler: clientErrors.requestError,
  }) as Listener;
  const tlsServer = tls?.serve(http1Options(config), proxyListener, (refusal) => sidecar.refused(refusal));
  const proxyServer =
    tlsServer ?? createServer(http1Options(config) as Parameters<typeof createServer>[0], proxyListener);
  const proxyPort: NetServer = tlsServer?.front?.server ?? proxyServer;
  attachTunnels(proxyServer, {
    config,
    tunnels: sidecar.tunnels,
    onInternalError: (error) =>
      say(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
  });
  clientErrors.attach(proxyServer, sidecar.refused);
  const adminServer = createServer(getRequestListener(sidecar.admin.fetch) as Listener);
  const redirectServer = sidecar.redirect && createServer(getRequestListener(sidecar.redirect.fetch) as Listener);
  const [proxyAddress, adminAddress] = await Promise.all([
    listen(proxyPort, { host, port: config.PORT, variable: 'PORT' }, exit, say),
    listen(adminServer, { host, port: config.ADMIN_PORT, variable: 'ADMIN_PORT' }, exit, say),
  ]);
  if (redirectServer) {
    const redirectPort = { host, port: config.HTTP_REDIRECT_PORT ?? 0, variable: 'HTTP_REDIRECT_PORT' } as const;
    say(redirectMessage(host, (await listen(redirectServer, redirectPort, exit, say)).port));
  }
  void sidecar.readiness.start();
  say(
    listeningMessage(options.runtimeName, { host, port: proxyAddress.port }, { host, port: adminAddress.port }, config),
  );
  return {
    stopListening: () =>
      new Promise<void>((resolve) => {
        proxyPort.close(() => resolve());
        // With TLS: GOAWAY to HTTP/2 sessions, and connections that never said a word closed.
        if (tlsServer) {
          tlsServer.close();
          tlsServer.front?.closeSilent();
        }
        proxyServer.closeIdleConnections();
      }),
    forceClose: () => proxyServer.closeAllConnections(),
    release: () => {
      tls?.watcher.close();
      adminServer.closeAllConnections();
      adminServer.close();
      redirectServer?.closeAllConnections();
      redirectServer?.close();
    },
  };
}
