/**
 * The proxy, admin and redirect listeners on `node:http`, as runtimes/node.ts serves them, for the
 * runtimes that also ship `node:http` (Bun and Deno: runtimes/bun.ts and runtimes/deno.ts).
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

/** What the core reads from a `node:http` request: the peer, the raw target, the version, a parser refusal. */
export function nodeHttpCapabilities(
  clientErrors: ClientErrors,
  tls: Tls,
): Pick<RuntimeCapabilities, 'remoteAddress' | 'rawTarget' | 'httpVersion' | 'refusal' | 'tls' | 'authority'> {
  return {
    tls: tls?.watcher,
    authority: (c) => tls && http2Authority(incoming(c)),
    remoteAddress: (c) => getConnInfo(c).remote.address,
    rawTarget: (c) => incoming(c).url,
    httpVersion: (c) => incoming(c).httpVersion,
    refusal: (c) => clientErrors.refusal(incoming(c)),
  };
}

export interface NodeListeners {
  stopListening(): Promise<void>;
  forceClose(): void;
  release(): void;
}

/** node:http's server options, as runtimes/node.ts sets them (that file says why each one). */
function http1Options(config: Config) {
  return {
    keepAliveTimeout: config.CLIENT_IDLE_TIMEOUT_MS,
    headersTimeout: 60_000,
    requestTimeout: 0,
    maxHeaderSize: 16 * 1024,
    requireHostHeader: false,
    shouldUpgradeCallback: shouldTunnel,
  };
}

/** Rejects naming the address: Bun's node:http says only "Failed to start server. Is port N in use?". */
const listen = (server: NetServer, port: number, host: string) =>
  new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new Error(`cannot listen on ${host}:${port}: ${error instanceof Error ? error.message : String(error)}`)),
    );
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });

/**
 * Serves the sidecar's listeners on node:http (with TLS, runtimes/node/tls.ts's HTTP/2 and
 * HTTP/1.1 server, rotated by setSecureContext), says where, and returns what a drain needs.
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
  const { clientErrors, tls, say } = options;
  const proxyListener = getRequestListener(sidecar.proxy.fetch, {
    errorHandler: clientErrors.requestError,
  }) as Listener;
  const proxyServer = tls
    ? tls.serve(http1Options(config), proxyListener)
    : createServer(http1Options(config) as Parameters<typeof createServer>[0], proxyListener);
  attachTunnels(proxyServer, {
    config,
    tunnels: sidecar.tunnels,
    onInternalError: (error) =>
      say(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
  });
  clientErrors.attach(proxyServer, sidecar.refused);
  const adminServer = createServer(getRequestListener(sidecar.admin.fetch) as Listener);
  const redirectServer = sidecar.redirect && createServer(getRequestListener(sidecar.redirect.fetch) as Listener);
  try {
    const [proxyAddress, adminAddress] = await Promise.all([
      listen(proxyServer, config.PORT, config.HOST),
      listen(adminServer, config.ADMIN_PORT, config.HOST),
    ]);
    if (redirectServer)
      say(
        redirectMessage(config.HOST, (await listen(redirectServer, config.HTTP_REDIRECT_PORT ?? 0, config.HOST)).port),
      );
    void sidecar.readiness.start();
    say(
      listeningMessage(
        options.runtimeName,
        { host: config.HOST, port: proxyAddress.port },
        { host: config.HOST, port: adminAddress.port },
        config,
      ),
    );
  } catch (error) {
    say(`sidecar: ${error instanceof Error ? error.message : String(error)}`);
    options.exit(1);
  }
  return {
    stopListening: () =>
      new Promise<void>((resolve) => {
        proxyServer.close(() => resolve());
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
