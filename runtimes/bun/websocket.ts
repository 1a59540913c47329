/**
 * WebSocket tunnels on Bun: a message relay. Bun.serve cannot hand over a raw connection
 * (oven-sh/bun#35972), and Bun's node:http upgrade mishandles a keep-alive connection reused for
 * the upgrade (oven-sh/bun#43342), so: the app's handshake first (./ws-upstream.ts), then
 * server.upgrade() of the client with the app's choice of subprotocol and the app's 101 headers,
 * then src/websocket/message-relay.ts between the two.
 */
import type { Server, ServerWebSocket, WebSocketHandler } from 'bun';
import type { Context } from 'hono';
import type { Config } from '../../src/config.ts';
import { InternalError } from '../../src/errors.ts';
import { relayed101Headers } from '../../src/websocket/handshake-headers.ts';
import type { Handshake } from '../../src/websocket/upgrade.ts';
import { relayMessages } from '../../src/websocket/message-relay.ts';
import type { Peer, Relay, RelayLimits } from '../../src/websocket/message-relay.ts';
import { RelayBudget } from '../../src/websocket/relay-budget.ts';
import { appPeer, openAppSocket } from '../common/ws-upstream.ts';
import type { AppSocket } from '../common/ws-upstream.ts';

/** The reason Bun's close handler gives for a message over maxPayloadLength (Bun 1.4; the conformance suite checks). */
const BUN_TOO_BIG = 'Received too big message';

interface Leg {
  app: AppSocket;
  handshake: Handshake;
  relay?: Relay;
  /** Messages Bun buffered (send returned -1): written through at the next 'drain'. */
  unwritten: (() => void)[];
}

/** The client's leg as a relay Peer: Bun's send result says whether it was written or buffered. */
function clientPeer(ws: ServerWebSocket<Leg>): Peer {
  return {
    send(data, written) {
      const sent = typeof data === 'string' ? ws.sendText(data) : ws.sendBinary(data);
      // -1: Bun holds it (backpressure) until 'drain'; otherwise written, or dropped (0: closed).
      if (sent === -1) ws.data.unwritten.push(written);
      else written();
      return sent !== -1;
    },
    ping: (data) => void ws.ping(data),
    pong: (data) => void ws.pong(data),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
}

export function createBunWebSocket(config: Config): {
  handshake(c: Context, handshake: Handshake): Promise<Response>;
  handlers: WebSocketHandler<Leg>;
} {
  // One budget for every tunnel of the process (src/websocket/relay-budget.ts).
  const limits: RelayLimits = {
    maxMessageBytes: config.WS_MAX_MESSAGE_BYTES,
    budget: new RelayBudget(config.WS_RELAY_BUDGET_BYTES),
  };
  return {
    async handshake(c, handshake) {
      const request = c.req.raw;
      const opened = await openAppSocket(config, handshake, request.signal);
      if (opened instanceof Response) return opened;
      const headers = relayed101Headers(opened.headers, handshake.requestId);
      // Bun echoes the client's first offer unless told (oven-sh/bun#18243): always say which,
      // and say none (an empty value writes no header) when the app chose none.
      headers.set('sec-websocket-protocol', opened.protocol);
      const server = c.env as Server<Leg>;
      if (!server.upgrade(request, { headers, data: { app: opened, handshake, unwritten: [] } })) {
        opened.socket.terminate();
        return handshake.refuse(new InternalError());
      }
      // Bun ignores the response of an upgraded request; Hono needs one.
      return new Response(null);
    },
    handlers: {
      // The relay holds a message whole: bounded (Bun closes with 1009 beyond, reading no more of
      // it: uWebSockets checks the frame's length field), and the same bound as the app's leg.
      maxPayloadLength: config.WS_MAX_MESSAGE_BYTES,
      // Never cut for idleness (docs/behaviour.md, Upgrade and WebSocket), and no pings of the
      // sidecar's own: the app's pass through.
      idleTimeout: 0,
      sendPings: false,
      // No limit, so send() never drops a message (bun-types serve.d.ts): -1 means it was
      // buffered, and the relay then pauses the app until 'drain'.
      backpressureLimit: 0,
      closeOnBackpressureLimit: false,
      perMessageDeflate: false,
      open(ws: ServerWebSocket<Leg>) {
        const leg = ws.data;
        const client = clientPeer(ws);
        const app = appPeer(leg.app);
        const tunnel = leg.handshake.opened(() => leg.relay?.goAway());
        leg.relay = relayMessages(client, app.peer, tunnel, limits);
        app.listen(leg.relay.app);
      },
      message(ws, message) {
        ws.data.relay?.client.message(message);
      },
      ping(ws, data) {
        ws.data.relay?.client.ping(data);
      },
      pong(ws, data) {
        ws.data.relay?.client.pong(data);
      },
      drain(ws) {
        for (const written of ws.data.unwritten.splice(0)) written();
        ws.data.relay?.client.drained();
      },
      close(ws, code, reason) {
        const leg = ws.data;
        // Bun reports its own close for a message over maxPayloadLength (it sent the client 1009)
        // as 1006 with this reason: the app's leg gets the 1009 too, and the record no abort.
        if (leg.relay && code === 1006 && reason === BUN_TOO_BIG)
          return leg.relay.client.closed(1009, 'message too big');
        if (leg.relay) return leg.relay.client.closed(code, reason);
        // Gone before its side opened: no tunnel; the app's leg goes too.
        leg.app.socket.terminate();
        leg.handshake.answered(499, 'client_aborted');
      },
    },
  };
}
