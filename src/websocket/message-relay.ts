/**
 * A message relay between two WebSocket connections, for runtimes whose server cannot hand over
 * a raw connection (Bun's server: oven-sh/bun#35972; Deno's: denoland/deno#21856). Each runtime
 * wraps its two connections as Peers and feeds their events in; this file holds the rules, so
 * Bun and Deno relay alike:
 * - a message goes on whole, in order, as text or binary as it came: never altered, merged,
 *   split or dropped (docs/behaviour.md, Upgrade and WebSocket);
 * - backpressure: a send that leaves the receiving peer's buffer above its mark pauses the
 *   sending peer until the receiving one drains;
 * - bounded memory: a message over the limit (WS_MAX_MESSAGE_BYTES) closes the tunnel with 1009
 *   "message too big" (RFC 6455 §7.4.1) on both legs, none of it passed on; a message is counted
 *   in the one budget of all relays (./relay-budget.ts) until it has been written through, and
 *   while that budget is spent no relay reads;
 * - a close goes on with its code and reason; the codes that may not be sent (1005 "no status",
 *   1006 "abnormal", 1015 "TLS", RFC 6455 §7.4.1) become a close without a code, and an abrupt
 *   end of the connection;
 * - once one side has closed, the other gets a second to finish its closing handshake, then is
 *   cut (docs/behaviour.md, Upgrade and WebSocket: a close or reset on one side ends the other within a second).
 */
import type { RelayBudget } from './relay-budget.ts';
import type { Tunnel } from './tunnel.ts';

/** One leg of the relay, as the runtime's WebSocket lets the relay drive it. */
export interface Peer {
  /**
   * Sends one whole message; false when the peer's send buffer is above its mark (drained()
   * follows). `written` is called once the message has left the sidecar's buffers (or failed to).
   */
  send(data: string | Uint8Array, written: () => void): boolean;
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
  /** The peer sent a message over the limit, found by the runtime's own reader (Bun, the ws package). */
  tooBig(): void;
}

/** What bounds a relay's memory (WS_MAX_MESSAGE_BYTES, and the budget of all relays). */
export interface RelayLimits {
  maxMessageBytes: number;
  budget: RelayBudget;
}

/** RFC 6455 §7.4.1: "a message that is too big for it to process". */
export const MESSAGE_TOO_BIG = 1009;

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

export const messageSize = (data: string | Uint8Array): number =>
  typeof data === 'string' ? utf8Length(data) : data.byteLength;

/** Pauses a peer while any reason holds (its receiver is full, the budget is spent), resumes it when none does. */
function gate(peer: Peer) {
  const reasons = new Set<'full' | 'budget'>();
  return {
    stop(reason: 'full' | 'budget') {
      if (reasons.size === 0) peer.pause?.();
      reasons.add(reason);
    },
    go(reason: 'full' | 'budget') {
      if (reasons.delete(reason) && reasons.size === 0) peer.resume?.();
    },
  };
}

/**
 * One relay's part in the budget: the messages it holds, each counted until written through
 * (once), its gates stopped while the budget is spent; `end` lets go of all of it (writes that
 * never completed, a leg cut with messages queued, hold nothing any more).
 */
function holdings(budget: RelayBudget, gates: ReturnType<typeof gate>[]) {
  let held = 0;
  const unlisten = budget.listen((spent) => {
    for (const g of gates) {
      if (spent) g.stop('budget');
      else g.go('budget');
    }
  });
  return {
    hold(bytes: number): () => void {
      held += bytes;
      budget.take(bytes);
      let done = false;
      return () => {
        if (done || held === 0) return;
        done = true;
        held -= bytes;
        budget.release(bytes);
      };
    },
    end() {
      unlisten();
      budget.release(held);
      held = 0;
    },
  };
}

export function relayMessages(client: Peer, app: Peer, tunnel: Tunnel, limits: RelayLimits): Relay {
  const state = {
    client: { closed: false, closing: false, timer: undefined as ReturnType<typeof setTimeout> | undefined },
    app: { closed: false, closing: false, timer: undefined as ReturnType<typeof setTimeout> | undefined },
  };
  const gates = { client: gate(client), app: gate(app) };
  let error: 'client_aborted' | 'upstream_reset' | undefined;
  const held = holdings(limits.budget, [gates.client, gates.app]);

  const finishIfDone = () => {
    if (!state.client.closed || !state.app.closed) return;
    clearTimeout(state.client.timer);
    clearTimeout(state.app.timer);
    held.end();
    tunnel.closed(error);
  };

  /** Sends `to` a close (as `from` closed), then cuts it if it has not finished within the grace. */
  const passClose = (to: Peer, side: 'client' | 'app', code: number, reason: string) => {
    if (state[side].closed || state[side].closing) return;
    state[side].closing = true;
    if (sendableCloseCode(code)) to.close(code, reason);
    else if (code === 1005) to.close(undefined, '');
    else to.terminate();
    state[side].timer ??= setTimeout(() => to.terminate(), CLOSE_GRACE_MS);
  };

  /** A message over the limit: both legs closed with 1009, nothing of it passed on. */
  const tooBig = () => {
    passClose(client, 'client', MESSAGE_TOO_BIG, 'message too big');
    passClose(app, 'app', MESSAGE_TOO_BIG, 'message too big');
  };

  const events = (from: Peer, to: Peer, fromSide: 'client' | 'app'): PeerEvents => {
    const toSide = fromSide === 'client' ? 'app' : 'client';
    const count = fromSide === 'client' ? (n: number) => tunnel.bytesIn(n) : (n: number) => tunnel.bytesOut(n);
    return {
      message(data) {
        if (state[toSide].closed || state[toSide].closing) return;
        const bytes = messageSize(data);
        if (bytes > limits.maxMessageBytes) return tooBig();
        count(bytes);
        if (!to.send(data, held.hold(bytes))) gates[fromSide].stop('full');
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
        gates[toSide].go('full');
      },
      tooBig,
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
