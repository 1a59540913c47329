/**
 * WebSocket tunnels on Deno: a message relay over Deno.serve. Deno.serve offers only the
 * frame-level Deno.upgradeWebSocket (Deno.upgradeHttp was removed: denoland/deno#21856, and the
 * raw-upgrade op after it: denoland/deno#36528), so: the app's handshake first
 * (./ws-upstream.ts), then the client's upgrade with the app's subprotocol and 101 headers, then
 * src/websocket/message-relay.ts between the two. What Deno's WebSocket lacks is in the README's known
 * differences: no ping/pong API (Deno answers pings itself), no pause() (no receive
 * backpressure from the client, so the relays' budget cannot pause the client's leg either), no
 * abrupt close (a cut leg is closed without a code: 1005), and no message size option (Deno's
 * reader takes up to 64 MiB; the relay measures each message as received and closes with 1009
 * beyond WS_MAX_MESSAGE_BYTES).
 */
import type { Context } from 'hono';
import type { Config } from '../../src/config.ts';
import { relayed101Headers } from '../../src/websocket/handshake-headers.ts';
import type { Handshake } from '../../src/websocket/upgrade.ts';
import { relayMessages } from '../../src/websocket/message-relay.ts';
import type { Relay, RelayLimits } from '../../src/websocket/message-relay.ts';
import { RelayBudget } from '../../src/websocket/relay-budget.ts';
import { appPeer, openAppSocket } from '../common/ws-upstream.ts';
import { clientPeer } from './client-peer.ts';

export function createDenoWebSocket(config: Config): (c: Context, handshake: Handshake) => Promise<Response> {
  // One budget for every tunnel of the process (src/websocket/relay-budget.ts).
  const limits: RelayLimits = {
    maxMessageBytes: config.WS_MAX_MESSAGE_BYTES,
    budget: new RelayBudget(config.WS_RELAY_BUDGET_BYTES),
  };
  return async (c, handshake) => {
    const request = c.req.raw;
    const opened = await openAppSocket(config, handshake, request.signal, { answerPings: true, offerAsHeader: true });
    if (opened instanceof Response) return opened;
    // Never cut for idleness (docs/behaviour.md, Upgrade and WebSocket), and no pings of the
    // sidecar's own.
    const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    for (const [name, value] of relayed101Headers(opened.headers, handshake.requestId)) {
      if (name !== 'set-cookie') response.headers.set(name, value);
    }
    for (const cookie of opened.headers.getSetCookie()) response.headers.append('set-cookie', cookie);
    // The `protocol` option compares against the offer split on ", " only, and refuses the
    // app's choice when the client wrote "a,b": the header itself says the same, and works.
    if (opened.protocol !== '') response.headers.set('sec-websocket-protocol', opened.protocol);
    socket.binaryType = 'arraybuffer';

    let relay: Relay | undefined;
    const app = appPeer(opened);
    const client = clientPeer(socket, () => relay?.client.drained());
    let open = false;
    socket.addEventListener('close', () => {
      if (open) return;
      // Gone before its side opened: no tunnel; the app's leg goes too.
      opened.socket.terminate();
      handshake.answered(499, 'client_aborted');
    });
    socket.addEventListener('open', () => {
      open = true;
      const tunnel = handshake.opened(() => relay?.goAway());
      const r = relayMessages(client, app.peer, tunnel, limits);
      relay = r;
      socket.addEventListener('message', (event: MessageEvent) => {
        const data = event.data as string | ArrayBuffer;
        r.client.message(typeof data === 'string' ? data : new Uint8Array(data));
      });
      socket.addEventListener('close', (event: CloseEvent) => {
        client.stop();
        r.client.closed(event.code, event.reason);
      });
      app.listen(r.app);
    });
    return response;
  };
}
