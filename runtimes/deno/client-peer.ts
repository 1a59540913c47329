/**
 * The client's leg of a Deno relay (./websocket.ts) as a relay Peer, apart so that it can be
 * tested without Deno: it needs only the WebSocket API.
 */
import { messageSize } from '../../src/websocket/message-relay.ts';
import type { Peer } from '../../src/websocket/message-relay.ts';
import { SEND_HIGH_WATER } from '../common/ws-upstream.ts';

/** How often a send buffer is looked at again while it holds anything: Deno's WebSocket has no 'drain' event. */
export const DRAIN_POLL_MS = 5;

/**
 * The client's leg as a relay Peer. Deno's WebSocket has no 'drain' event nor a send callback, so
 * while anything is queued its bufferedAmount is looked at every DRAIN_POLL_MS: what it no longer
 * holds has been written (`written`, oldest first), and below the mark the app may go on (`drained`).
 */
export function clientPeer(
  socket: Pick<WebSocket, 'send' | 'close' | 'bufferedAmount'>,
  drained: () => void,
): Peer & { stop(): void } {
  let sent = 0;
  let full = false;
  const unwritten: { end: number; written: () => void }[] = [];
  let poll: ReturnType<typeof setInterval> | undefined;
  const look = () => {
    const done = sent - socket.bufferedAmount;
    while (unwritten.length > 0 && (unwritten[0] as { end: number }).end <= done) unwritten.shift()?.written();
    if (full && socket.bufferedAmount < SEND_HIGH_WATER) {
      full = false;
      drained();
    }
    if (unwritten.length === 0 && !full) stop();
  };
  const stop = () => {
    clearInterval(poll);
    poll = undefined;
  };
  return {
    send(data, written) {
      socket.send(data as string | Uint8Array<ArrayBuffer>);
      sent += messageSize(data);
      unwritten.push({ end: sent, written });
      full = socket.bufferedAmount >= SEND_HIGH_WATER;
      look();
      if (unwritten.length > 0 || full) poll ??= setInterval(look, DRAIN_POLL_MS);
      // The relay pauses the app while full; `drained` says when to resume it.
      return !full;
    },
    close: (code, reason) => (code === undefined ? socket.close() : socket.close(code, reason)),
    terminate: () => socket.close(),
    stop,
  };
}
