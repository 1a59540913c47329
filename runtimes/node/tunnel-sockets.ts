/**
 * A tunnel's bytes once the app has switched protocols: its 101 passed to the client, both sockets
 * piped into each other, a FIN passed on per direction (caddyserver/caddy#8027), both ended when
 * both directions have.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { raw101Head } from '../../src/websocket/handshake-headers.ts';
import type { Tunnel } from '../../src/websocket/tunnel.ts';
import type { Handshake } from '../../src/websocket/upgrade.ts';
import { streamedBytesCollector } from './collect.ts';

/**
 * How long one direction may stay open after the other has ended (a FIN passed on, no answer):
 * long enough for a peer to finish what it was sending, short enough that a peer that never
 * closes cannot hold a socket forever (shaobeichen/dsh-pocket#56 leaked them).
 */
const HALF_CLOSED_MS = 30_000;

/** The chunks every tunnel has passed on are freed by a young-generation GC every 4 MiB (collect.ts). */
let tunnelled: ((bytes: number) => void) | undefined;

/** The app answered 101: the same to the client (src/websocket/handshake-headers.ts), then the pipe. */
export function switchProtocols(
  res: IncomingMessage,
  client: Socket,
  app: Socket,
  appHead: Buffer,
  handshake: Handshake,
  early: Buffer[],
): void {
  // As on the client's socket: an unhandled 'error' ends the process (http-party/node-http-proxy#1468).
  app.on('error', () => {});
  if (client.destroyed) {
    app.destroy();
    handshake.answered(499, 'client_aborted');
    return;
  }
  client.write(raw101Head(res.statusMessage ?? '', res.rawHeaders, handshake.requestId));
  // Bytes that arrived with each head (or, from the client, since) belong to the tunnel.
  const ahead = Buffer.concat(early);
  if (ahead.length > 0) client.unshift(ahead);
  if (appHead.length > 0) app.unshift(appHead);
  pipeSockets(client, app, handshake);
}

/** Pipes both ways; a FIN is passed on per direction; both sockets end when both directions have. */
function pipeSockets(client: Socket, app: Socket, handshake: Handshake): void {
  const tunnel = handshake.opened(() => {
    client.destroy();
    app.destroy();
  });
  for (const s of [client, app]) {
    s.setTimeout(0);
    s.setNoDelay(true);
    // TCP keep-alive finds a peer that vanished without a FIN; it never cuts a live idle tunnel.
    s.setKeepAlive(true, 30_000);
  }
  countBytes(client, app, tunnel);
  const halfClosed = passHalfClose(client, app);
  closeTogether(client, app, (error) => {
    halfClosed.stop();
    tunnel.closed(error);
  });
}

function countBytes(client: Socket, app: Socket, tunnel: Tunnel): void {
  const collect = (tunnelled ??= streamedBytesCollector(4 * 1024 * 1024));
  client.on('data', (chunk: Buffer) => {
    tunnel.bytesIn(chunk.length);
    collect(chunk.length);
  });
  app.on('data', (chunk: Buffer) => {
    tunnel.bytesOut(chunk.length);
    collect(chunk.length);
  });
}

/**
 * pipe() ends the destination when the source ends: the FIN goes on, the other way stays open,
 * for HALF_CLOSED_MS at most. `stop()` clears that bound once both sockets have closed.
 */
function passHalfClose(client: Socket, app: Socket): { stop(): void } {
  let halfClosed: ReturnType<typeof setTimeout> | undefined;
  const onEnd = () => {
    halfClosed ??= setTimeout(() => {
      client.destroy();
      app.destroy();
    }, HALF_CLOSED_MS);
  };
  client.once('end', onEnd);
  app.once('end', onEnd);
  client.pipe(app);
  app.pipe(client);
  return { stop: () => clearTimeout(halfClosed) };
}

/** `closed` once both sockets have closed, with the side that broke the tunnel, if one did. */
function closeTogether(
  client: Socket,
  app: Socket,
  closed: (error: 'client_aborted' | 'upstream_reset' | undefined) => void,
): void {
  let open = 2;
  let error: 'client_aborted' | 'upstream_reset' | undefined;
  const onClose = (which: 'client' | 'app') => (hadError: boolean) => {
    // A reset (or error) on one side ends the other at once (docs/behaviour.md, Upgrade and WebSocket: within a second).
    const ended = which === 'client' ? client.readableEnded : app.readableEnded;
    if (hadError || !ended) {
      error ??= which === 'client' ? 'client_aborted' : 'upstream_reset';
      (which === 'client' ? app : client).destroy();
    }
    if (--open === 0) closed(error);
  };
  client.once('close', onClose('client'));
  app.once('close', onClose('app'));
}
