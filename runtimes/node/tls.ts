/**
 * Node's HTTPS listener: HTTP/2 and HTTP/1.1 on one port (`http2.createSecureServer` with
 * `allowHTTP1`, ALPN `h2` then `http/1.1`), TLS 1.2 and 1.3 with Mozilla's intermediate suites.
 * A new certificate goes in with setSecureContext: "existing connections to the server are not
 * interrupted" (Node docs, tls.Server#setSecureContext; nodejs/node#23644).
 *
 * It stays one server object that emits 'request' and, for HTTP/1.1 upgrades, 'upgrade'
 * (nodejs/node#59924), like node:http's, so whatever listens on node:http's events (a tunnel, a
 * clientError logger) attaches to it the same way.
 */
import { createSecureServer } from 'node:http2';
import type { Http2SecureServer, Http2ServerRequest, Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Config } from '../../src/config.ts';
import { startCertificates } from '../../src/tls/watcher.ts';
import type { CertificatePair } from '../../src/tls/certificate.ts';
import { tls12Ciphers, tlsFiles } from '../common/tls-files.ts';
import { createFrontDoor } from './plain-http.ts';
import type { FrontDoor, PlainHttpRefused } from './plain-http.ts';

/** What node.ts needs of either kind of proxy server, beyond net.Server's listen and close. */
export interface TlsProxyServer extends Http2SecureServer {
  closeIdleConnections(): void;
  closeAllConnections(): void;
  setPair(pair: CertificatePair): void;
  /**
   * What listens on PORT: TLS connections go on to this server, plain HTTP gets 400 (plain-http.ts).
   * None on Deno, whose TLS server loses keep-alive on a connection handed to it
   * (test/conformance/known-differences.ts, plainHttpOnTlsPortUnanswered): it listens itself.
   */
  front?: FrontDoor;
}

/** node:http's server options (timeouts, maxHeaderSize, requireHostHeader, shouldUpgradeCallback), for the HTTP/1.1 fallback. */
export type Http1Settings = Record<string, unknown>;

const context = (pair: CertificatePair): SecureContextOptions => ({
  cert: pair.cert,
  key: pair.key,
  minVersion: 'TLSv1.2',
  ciphers: tls12Ciphers,
  // The server's order. Mozilla's intermediate profile leaves it to the client, but testssl.sh
  // 3.0.8 rates "NOT a cipher order configured" HIGH (testssl.sh, run_server_preference), and
  // every suite on the list is strong, so choosing among them costs nothing.
  honorCipherOrder: true,
});

type Listener = (req: Http2ServerRequest, res: never) => void;

/**
 * An HTTP/2 session with no open stream for `idleMs` is closed: GOAWAY (NO_ERROR), then the
 * connection once nothing is left on it, as keepAliveTimeout ends an idle HTTP/1.1 connection.
 * Only streams count, not bytes: a response that is open but quiet (waiting on the app) is never
 * cut, which is why neither Http2Session#setTimeout nor the server's timeout (socket inactivity,
 * then destroy(): nodejs.org/api/http2.html#http2sessionsettimeoutmsecs-callback) is used.
 */
function closeWhenIdle(session: Http2Session, idleMs: number): void {
  let open = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // close() sends GOAWAY and lets streams already begun finish (nodejs.org/api/http2.html#http2sessionclosecallback).
  const arm = () => (timer = setTimeout(() => session.close(), idleMs));
  session.on('stream', (stream) => {
    open++;
    clearTimeout(timer);
    stream.once('close', () => {
      if (--open === 0 && !session.closed) arm();
    });
  });
  session.once('close', () => clearTimeout(timer));
  arm();
}

export function createTlsProxyServer(
  pair: CertificatePair,
  http1: Http1Settings,
  listener: Listener,
  idleMs: number,
  plainRefused: PlainHttpRefused | undefined,
): TlsProxyServer {
  const server = createSecureServer(
    { ...context(pair), allowHTTP1: true, ALPNProtocols: ['h2', 'http/1.1'] },
    listener as never,
  ) as TlsProxyServer;
  // The HTTP/1.1 fallback reads these from the server, as node:http's own server does.
  Object.assign(server, http1);
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    closeWhenIdle(session, idleMs);
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // server.close() already sends GOAWAY to idle h2 sessions and closes busy ones once their
  // streams end; closeIdleConnections (Node's, for the HTTP/1.1 fallback) does the rest.
  server.closeAllConnections = () => {
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
  };
  server.setPair = (next) => server.setSecureContext(context(next));
  if (plainRefused) server.front = createFrontDoor(server, plainRefused);
  return server;
}

/** HTTP/2's :authority, which @hono/node-server passes on only in the URL, never as a header. */
export function http2Authority(incoming: unknown): string | undefined {
  const request = incoming as Partial<Http2ServerRequest>;
  return typeof request.authority === 'string' && request.httpVersionMajor === 2 ? request.authority : undefined;
}

/**
 * With TLS_CERT_FILE and TLS_KEY_FILE: the pair (or exit 1), its watcher, and the server to build
 * once the request listener exists. Without them: undefined, and node.ts serves plain HTTP.
 */
export async function startTls(config: Config, say: (message: string) => void, { frontDoor = true } = {}) {
  let server: TlsProxyServer | undefined;
  const watcher = await startCertificates(config, tlsFiles, { say, exit: (code) => process.exit(code) }, (pair) =>
    server?.setPair(pair),
  );
  return (
    watcher && {
      watcher,
      serve(
        http1: Http1Settings,
        listener: (req: never, res: never) => void,
        plainRefused: PlainHttpRefused,
      ): TlsProxyServer {
        server = createTlsProxyServer(
          watcher.current,
          http1,
          listener as Listener,
          config.CLIENT_IDLE_TIMEOUT_MS,
          frontDoor ? plainRefused : undefined,
        );
        return server;
      },
    }
  );
}
