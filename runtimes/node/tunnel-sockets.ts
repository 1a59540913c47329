/**
 * A tunnel's bytes once the app has switched protocols: both sockets piped into each other, a FIN
 * passed on per direction (caddyserver/caddy#8027), both ended when both directions have.
 */
import type { Socket } from 'node:net';
import type { Handshake } from '../../src/websocket/upgrade.ts';

/**
 * How long one direction may stay open after the other has ended (a FIN passed on, no answer):
 * long enough for a peer to finish what it was sending, short enough that a peer that never
 * closes cannot hold a socket forever (shaobeichen/dsh-pocket#56 leaked them).
 */
const HALF_CLOSED_MS = 30_000;

/** Pipes both ways; a FIN is passed on per direction; both sockets end when both directions have. */
export function pipeTunnel(client: Socket, app: Socket, handshake: Handshake): void {
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
  client.on('data', (chunk: Buffer) => tunnel.bytesIn(chunk.length));
  app.on('data', (chunk: Buffer) => tunnel.bytesOut(chunk.length));
  let halfClosed: ReturnType<typeof setTimeout> | undefined;
  const onEnd = () => {
    halfClosed ??= setTimeout(() => {
      client.destroy();
      app.destroy();
    }, HALF_CLOSED_MS);
  };
  client.once('end', onEnd);
  app.once('end', onEnd);
  // pipe() ends the destination when the source ends: the FIN goes on, the other way stays open.
  client.pipe(app);
  app.pipe(client);

  let open = 2;
  let error: 'client_aborted' | 'upstream_reset' | undefined;
  const onClose = (which: 'client' | 'app') => (hadError: boolean) => {
    // A reset (or error) on one side ends the other at once (SPEC: within a second).
    const ended = which === 'client' ? client.readableEnded : app.readableEnded;
    if (hadError || !ended) {
      error ??= which === 'client' ? 'client_aborted' : 'upstream_reset';
      (which === 'client' ? app : client).destroy();
    }
    if (--open === 0) {
      clearTimeout(halfClosed);
      tunnel.closed(error);
    }
  };
  client.once('close', onClose('client'));
  app.once('close', onClose('app'));
}
