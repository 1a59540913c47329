/**
 * A message relay between two WebSocket connections, for runtimes whose server cannot hand over
 * a raw connection (Bun's server: oven-sh/bun#35972; Deno's: denoland/deno#21856). Each runtime
 * wraps its two connections as Peers and feeds their events in; this file holds the rules, so
 * Bun and Deno relay alike:
 * - a message goes on whole, in order, as text or binary as it came: never altered, merged,
 *   split or dropped (docs/behaviour.md, Upgrade and WebSocket);
 * - backpressure: a send that leaves the receiving peer's buffer above its mark pauses the
 *   sending peer until the receiving one drains;
 * - a close goes on with its code and reason; the codes that may not be sent (1005 "no status",
 *   1006 "abnormal", 1015 "TLS", RFC 6455 §7.4.1) become a close without a code, and an abrupt
 *   end of the connection;
 * - once one side has closed, the other gets a second to finish its closing handshake, then is
 *   cut (docs/behaviour.md, Upgrade and WebSocket: a close or reset on one side ends the other within a second).
 */
import type { Tunnel } from './tunnel.ts';

/** One leg of the relay, as the runtime's WebSocket lets the relay drive it. */
export interface Peer {
  /** Sends one whole message; false when the peer's send buffer is above its mark (drained() follows). */
  send(data: string | Uint8Array): boolean;
  /** Control frames, where the runtime exposes them. */
  ping?(data: Uint8Array): void;
  pong?(data: Uint8Array): void;
  /** A closing handshake, with a code (undefined: none) and reason. */
  close(code: number | undefined, reason: string): void;
  /** Ends the connection at once, without a closing handshake. */
  terminate(): void;
  /** Stops and restarts reading messages from this peer (receive backpressure), where the runtime can. */
  pause?(): void;
  resume?(): void;
}

/** What the runtime reports about one peer. */
export interface PeerEvents {
  message(data: string | Uint8Array): void;
  ping(data: Uint8Array): void;
  pong(data: Uint8Array): void;
  /** The peer's connection ended: with its close frame's code and reason, or 1006 without one. */
  closed(code: number, reason: string): void;
  /** The peer's send buffer went below its mark again. */
  drained(): void;
}

export interface Relay {
  client: PeerEvents;
  app: PeerEvents;
  /** The drain deadline: both sides get close 1001 "going away" (RFC 6455 §7.4.1). */
  goAway(): void;
}

/** How long a side that was sent a close may take to finish the closing handshake. */
export const CLOSE_GRACE_MS = 1000;

/** Codes a close frame may carry (RFC 6455 §7.4: 1000-1003, 1007-1014 and 3000-4999). */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** UTF-8 length of a string without encoding it (the access log counts payload bytes). */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      // A surrogate pair: two UTF-16 units, four UTF-8 bytes.
      i++;
      bytes += 2;
    } else if (c > 0x7ff) bytes += 2;
    else if (c > 0x7f) bytes += 1;
  }
  return bytes;
}

const size = (data: string | Uint8Array) => (typeof data === 'string' ? utf8Length(data) : data.byteLength);

export function relayMessages(client: Peer, app: Peer, tunnel: Tunnel): Relay {
  const state = {
    client: { closed: false, timer: undefined as ReturnType<typeof setTimeout> | undefined },
    app: { closed: false, timer: undefined as ReturnType<typeof setTimeout> | undefined },
  };
  let error: 'client_aborted' | 'upstream_reset' | undefined;

  const finishIfDone = () => {
    if (!state.client.closed || !state.app.closed) return;
    clearTimeout(state.client.timer);
    clearTimeout(state.app.timer);
    tunnel.closed(error);
  };

  /** Sends `to` a close (as `from` closed), then cuts it if it has not finished within the grace. */
  const passClose = (to: Peer, side: 'client' | 'app', code: number, reason: string) => {
    if (state[side].closed) return;
    if (sendableCloseCode(code)) to.close(code, reason);
    else if (code === 1005) to.close(undefined, '');
    else to.terminate();
    state[side].timer ??= setTimeout(() => to.terminate(), CLOSE_GRACE_MS);
  };

  const events = (from: Peer, to: Peer, fromSide: 'client' | 'app'): PeerEvents => {
    const toSide = fromSide === 'client' ? 'app' : 'client';
    const count = fromSide === 'client' ? (n: number) => tunnel.bytesIn(n) : (n: number) => tunnel.bytesOut(n);
    return {
      message(data) {
        if (state[toSide].closed) return;
        count(size(data));
        if (!to.send(data)) from.pause?.();
      },
      ping(data) {
        if (!state[toSide].closed) to.ping?.(data);
      },
      pong(data) {
        if (!state[toSide].closed) to.pong?.(data);
      },
      closed(code, reason) {
        if (state[fromSide].closed) return;
        state[fromSide].closed = true;
        if (code === 1006) error ??= fromSide === 'client' ? 'client_aborted' : 'upstream_reset';
        passClose(to, toSide, code, reason);
        finishIfDone();
      },
      drained() {
        // `from`'s buffer drained: the peer sending into it may go on.
        to.resume?.();
      },
    };
  };

  return {
    client: events(client, app, 'client'),
    app: events(app, client, 'app'),
    goAway() {
      passClose(client, 'client', 1001, 'going away');
      passClose(app, 'app', 1001, 'going away');
    },
  };
}
