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
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import type { Config } from '../../src/config.ts';
import { ClientAbortedError, InternalError, UpstreamTimeoutError, classifyUpstreamFailure } from '../../src/errors.ts';
import type { SidecarError } from '../../src/errors.ts';
import { raw101Head } from '../../src/websocket/handshake-headers.ts';
import { isWebSocketHandshake } from '../../src/websocket/upgrade.ts';
import type { Handshake, Tunnels } from '../../src/websocket/upgrade.ts';
import { relayRefusal, writeError } from './tunnel-answers.ts';
import { pipeTunnel } from './tunnel-sockets.ts';

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
 */
export function attachTunnels(
  server: EventEmitter,
  options: { config: Config; tunnels: Tunnels; onInternalError(error: unknown): void },
): void {
  const { config, tunnels, onInternalError } = options;
  const { secure, hostname: host, port } = config.TARGET;
  const send = secure ? httpsRequest : httpRequest;
  // TLS names TARGET's host, never the client's Host; no SNI for an IP address (RFC 6066 §3).
  const servername = secure && isIP(host) === 0 ? host : undefined;
  const originLength = config.TARGET.origin.length;

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // Before anything else: an unhandled 'error' on either socket ends the process
    // (http-party/node-http-proxy#1468).
    socket.on('error', () => {});
    // Only a Node without shouldUpgradeCallback (< 24.9) hands over other Upgrades: it cannot give
    // them back to the request handler, and forcing them into a WebSocket handshake would be
    // wrong, so they are refused there (never on a supported Node).
    if (!shouldTunnel(req))
      return void socket.end('HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    try {
      tunnel(req, socket, head);
    } catch (error) {
      // A bug of the sidecar's own must not take the process down with it (SPEC: 500, keeps serving).
      onInternalError(error);
      void writeError(socket, new InternalError(error), undefined);
    }
  });

  function tunnel(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const headers = new Headers();
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
    const handshake = tunnels.begin({
      method: req.method ?? 'GET',
      headers,
      rawTarget: req.url,
      url: req.url ?? '/',
      remoteAddress: socket.remoteAddress,
    });
    // MAX_CONCURRENT_REQUESTS: a slot before the app is asked. Reading the socket meanwhile shows a
    // client that leaves the queue (its FIN), and keeps, in order, what it sends before the 101.
    const early: Buffer[] = [head];
    const keep = (chunk: Buffer) => early.push(chunk);
    const left = new AbortController();
    const onLeft = () => left.abort();
    socket.on('data', keep);
    socket.once('end', onLeft);
    socket.once('close', onLeft);
    void handshake
      .admit(left.signal)
      .then((refused) => {
        socket.off('data', keep);
        socket.off('end', onLeft);
        socket.off('close', onLeft);
        if (refused) return void writeError(socket, refused, undefined, handshake.requestId);
        if (left.signal.aborted) return void writeError(socket, new ClientAbortedError(), handshake);
        ask(handshake, socket, early);
      })
      .catch((error: unknown) => {
        // As in the 'upgrade' listener: a bug of the sidecar's own is a 500, never a crash.
        onInternalError(error);
        void writeError(socket, new InternalError(error), handshake);
      });
  }

  /** The app's handshake, bounded by UPSTREAM_TIMEOUT_MS; then the tunnel, or the app's refusal relayed. */
  function ask(handshake: Handshake, socket: Socket, early: Buffer[]): void {
    const outgoing = send({
      host,
      port,
      servername,
      method: 'GET',
      path: handshake.url.slice(originLength),
      // The raw list form keeps repeated headers as they are.
      headers: [...handshake.headers].flat(),
      // A connection of its own: it becomes the tunnel's, it is never pooled.
      agent: false,
      // Passed to net.connect: the app's FIN must not end the client-to-app direction.
      ...({ allowHalfOpen: true } as object),
    });
    outgoing.setNoDelay(true);
    let settled = false;
    const fail = (error: SidecarError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stopWatching();
      outgoing.destroy();
      void writeError(socket, error, handshake);
    };
    // Bounds the handshake only: once open, a tunnel is never cut by UPSTREAM_TIMEOUT_MS.
    const timer = setTimeout(
      () => fail(new UpstreamTimeoutError(config.UPSTREAM_TIMEOUT_MS)),
      config.UPSTREAM_TIMEOUT_MS,
    );
    // A client that leaves before the answer must let the app go. Its FIN only shows if the
    // socket is read: what it sends meanwhile (frames it did not wait to send) is kept, in order.
    const keep = (chunk: Buffer) => early.push(chunk);
    const onClientGone = () => fail(new ClientAbortedError());
    socket.on('data', keep);
    socket.once('end', onClientGone);
    socket.once('close', onClientGone);
    const stopWatching = () => {
      socket.off('data', keep);
      socket.off('end', onClientGone);
      socket.off('close', onClientGone);
      socket.pause();
    };
    outgoing.on('error', (error) => fail(classifyUpstreamFailure(error)));

    outgoing.on('response', (res: IncomingMessage) => {
      if (settled) return void res.destroy();
      settled = true;
      clearTimeout(timer);
      stopWatching();
      relayRefusal(res, socket, handshake);
    });

    outgoing.on('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
      if (settled) return void upstream.destroy();
      settled = true;
      clearTimeout(timer);
      stopWatching();
      upstream.on('error', () => {});
      if (socket.destroyed) {
        upstream.destroy();
        handshake.answered(499, 'client_aborted');
        return;
      }
      socket.write(raw101Head(res.statusMessage ?? '', res.rawHeaders, handshake.requestId));
      // Bytes that arrived with each head (or, from the client, since) belong to the tunnel.
      const ahead = Buffer.concat(early);
      if (ahead.length > 0) socket.unshift(ahead);
      if (upstreamHead.length > 0) upstream.unshift(upstreamHead);
      pipeTunnel(socket, upstream, handshake);
    });
    outgoing.end();
  }
}
