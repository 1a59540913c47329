/**
 * WebSocket tunnels on Node: byte for byte. The server's 'upgrade' event hands over the client's
 * socket; the handshake goes to the app through `node:http` request() on a connection of its own
 * (not undici, whose upgrade() throws on any answer but 101, so a 403 could not be relayed:
 * undici lib/api/api-upgrade.js), and once the app answers 101 the two sockets are piped into
 * each other: frames, masking and permessage-deflate pass exactly as client and app negotiated.
 * The core (src/websocket/upgrade.ts) builds the app's headers, the client's 101 and the records.
 *
 * Modelled on unjs/httpxy src/middleware/ws-incoming.ts (a non-101 answer relayed; an early error
 * handler on the client socket) and caddyserver/caddy#8027 (a FIN passed on per direction).
 */
import type { EventEmitter } from 'node:events';
import { request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import type { Config } from '../../src/config.ts';
import { ClientAbortedError, InternalError, UpstreamTimeoutError, classifyUpstreamFailure } from '../../src/errors.ts';
import type { SidecarError } from '../../src/errors.ts';
import { isWebSocketHandshake } from '../../src/websocket/entry.ts';
import type { Handshake } from '../../src/websocket/upgrade.ts';
import type { Tunnels } from '../../src/websocket/tunnels.ts';
import { relayRefusal, writeError, writeResponse } from './tunnel-answers.ts';
import { switchProtocols } from './tunnel-sockets.ts';

/** For the server's `shouldUpgradeCallback` (Node >= 24.9): only WebSocket handshakes become 'upgrade' events. */
export function shouldTunnel(req: IncomingMessage): boolean {
  return isWebSocketHandshake(req.method, { get: (name) => headerOf(req, name) });
}

function headerOf(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Listens for 'upgrade' on `server`: a node:http server, or the HTTP/1.1 side of an
 * http2.createSecureServer({ allowHTTP1: true }) (which emits 'upgrade' too: nodejs/node#59924).
 * Each handshake runs these steps, in order:
 *   checkHandshake    an 'error' handler first; anything but a WebSocket handshake refused
 *   beginHandshake    the core's record of it, which builds the app's URL and headers
 *   enter             the door (src/door.ts): edge limits and access control, or the refusal written
 *   admit             MAX_CONCURRENT_REQUESTS: a slot, or the refusal written
 *   requestUpstream   the handshake to the app, bounded by UPSTREAM_TIMEOUT_MS; its answer goes to
 *     relayRefusal    (tunnel-answers.ts) anything but 101, relayed as it was, or to
 *     switchProtocols (tunnel-sockets.ts) the 101 passed on, then the sockets piped into each other
 */
export function attachTunnels(
  server: EventEmitter,
  options: { config: Config; tunnels: Tunnels; onInternalError(error: unknown): void },
): void {
  const { tunnels, onInternalError } = options;
  const app = appOf(options.config);
  // A bug of the sidecar's own must not take the process down with it (docs/behaviour.md, Proxying: 500, and the process keeps serving).
  const internalError = (socket: Socket, handshake: Handshake | undefined) => (error: unknown) => {
    onInternalError(error);
    void writeError(socket, new InternalError(error), handshake);
  };

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!checkHandshake(req, socket)) return;
    let handshake: Handshake;
    try {
      handshake = beginHandshake(tunnels, req, socket);
    } catch (error) {
      return internalError(socket, undefined)(error);
    }
    // What the client sends before the 101 belongs to the tunnel: kept here, in order.
    const early = [head];
    void enter(handshake, req, socket)
      .then((entered) => entered && admit(handshake, socket, early))
      .then((admitted) => {
        if (admitted) requestUpstream(app, handshake, socket, early);
      })
      .catch(internalError(socket, handshake));
  });
}

/** Where the handshakes go: TARGET, over TLS when it is https. */
function appOf(config: Config) {
  const { secure, hostname: host, port } = config.TARGET;
  return {
    send: secure ? httpsRequest : httpRequest,
    host,
    port,
    // TLS names TARGET's host, never the client's Host; no SNI for an IP address (RFC 6066 §3).
    servername: secure && isIP(host) === 0 ? host : undefined,
    originLength: config.TARGET.origin.length,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
  };
}
type App = ReturnType<typeof appOf>;

/** Step 1: false when the socket has been answered here and the handshake goes no further. */
function checkHandshake(req: IncomingMessage, socket: Socket): boolean {
  // Before anything else: an unhandled 'error' on either socket ends the process
  // (http-party/node-http-proxy#1468).
  socket.on('error', () => {});
  // Only a Node without shouldUpgradeCallback (< 24.9) hands over other Upgrades: it cannot give
  // them back to the request handler, and forcing them into a WebSocket handshake would be
  // wrong, so they are refused there (never on a supported Node).
  if (shouldTunnel(req)) return true;
  socket.end('HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  return false;
}

/** Step 2: the core's record of the handshake (src/websocket/upgrade.ts), from the client's raw headers. */
function beginHandshake(tunnels: Tunnels, req: IncomingMessage, socket: Socket): Handshake {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  return tunnels.begin({
    method: req.method ?? 'GET',
    headers,
    rawTarget: req.url,
    url: req.url ?? '/',
    remoteAddress: socket.remoteAddress,
  });
}

/**
 * Step 3, the door: the handshake judged as any request is (the client's own headers, not the
 * ones prepared for the app). False when it ends here, the door's answer written.
 */
async function enter(handshake: Handshake, req: IncomingMessage, socket: Socket): Promise<boolean> {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  const url = `http://${headers.get('host') ?? 'localhost'}${req.url?.startsWith('/') ? req.url : '/'}`;
  const turned = await handshake.enter(new Request(url, { method: req.method ?? 'GET', headers }));
  if (turned === undefined) return true;
  await writeResponse(socket, turned);
  return false;
}

/**
 * Step 4, MAX_CONCURRENT_REQUESTS: a slot before the app is asked. Reading the socket meanwhile
 * shows a client that leaves the queue (its FIN), and keeps, in order, what it sends before the
 * 101. False when the handshake ends here, its answer written.
 */
async function admit(handshake: Handshake, socket: Socket, early: Buffer[]): Promise<boolean> {
  const left = new AbortController();
  const stopReading = keepReading(socket, early, () => left.abort());
  const refused = await handshake.admit(left.signal);
  stopReading();
  if (refused) {
    void writeError(socket, refused, undefined, handshake.requestId);
    return false;
  }
  if (left.signal.aborted) {
    void writeError(socket, new ClientAbortedError(), handshake);
    return false;
  }
  return true;
}

/** Step 5: the app's handshake; then the tunnel, or the app's refusal relayed, or the sidecar's error. */
function requestUpstream(app: App, handshake: Handshake, socket: Socket, early: Buffer[]): void {
  let outgoing: ClientRequest;
  try {
    outgoing = sendHandshake(app, handshake);
  } catch (error) {
    // Deno's node:https throws here, before any 'error' event, when it may not read the CA file
    // NODE_EXTRA_CA_CERTS names (README, known differences): the app was never asked.
    return void writeError(socket, classifyUpstreamFailure(error), handshake);
  }
  const wait = awaitAnswer(socket, early, app.timeoutMs, (error) => {
    outgoing.destroy();
    void writeError(socket, error, handshake);
  });
  outgoing.on('error', (error) => wait.fail(classifyUpstreamFailure(error)));
  outgoing.on('response', (res: IncomingMessage) => {
    if (!wait.settle()) return void res.destroy();
    relayRefusal(res, socket, handshake);
  });
  outgoing.on('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
    if (!wait.settle()) return void upstream.destroy();
    switchProtocols(res, socket, upstream, upstreamHead, handshake, early);
  });
  outgoing.end();
}

function sendHandshake(app: App, handshake: Handshake): ClientRequest {
  const outgoing = app.send({
    host: app.host,
    port: app.port,
    servername: app.servername,
    method: 'GET',
    path: handshake.url.slice(app.originLength),
    // The raw list form keeps repeated headers as they are.
    headers: [...handshake.headers].flat(),
    // A connection of its own: it becomes the tunnel's, it is never pooled.
    agent: false,
    // Passed to net.connect: the app's FIN must not end the client-to-app direction.
    ...({ allowHalfOpen: true } as object),
  });
  outgoing.setNoDelay(true);
  return outgoing;
}

/**
 * The wait for the app's answer, ended once: by `settle()` (an answer came; false if the wait had
 * already ended) or by `fail(error)`, which hands the error to `giveUp`. Bounds the handshake
 * only: once open, a tunnel is never cut by UPSTREAM_TIMEOUT_MS. A client that leaves before the
 * answer must let the app go.
 */
function awaitAnswer(
  socket: Socket,
  early: Buffer[],
  timeoutMs: number,
  giveUp: (error: SidecarError) => void,
): { settle(): boolean; fail(error: SidecarError): void } {
  let settled = false;
  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    stopReading();
    socket.pause();
    return true;
  };
  const fail = (error: SidecarError): void => {
    if (settle()) giveUp(error);
  };
  const timer = setTimeout(() => fail(new UpstreamTimeoutError(timeoutMs)), timeoutMs);
  const stopReading = keepReading(socket, early, () => fail(new ClientAbortedError()));
  return { settle, fail };
}

/**
 * Reads the client's socket while it waits: its FIN only shows if the socket is read, and what it
 * sends meanwhile (frames it did not wait to send) is kept, in order. Returns the way to stop.
 */
function keepReading(socket: Socket, early: Buffer[], gone: () => void): () => void {
  const keep = (chunk: Buffer) => early.push(chunk);
  socket.on('data', keep);
  socket.once('end', gone);
  socket.once('close', gone);
  return () => {
    socket.off('data', keep);
    socket.off('end', gone);
    socket.off('close', gone);
  };
}
