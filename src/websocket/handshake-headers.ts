/**
 * The headers of the client's 101 when the app accepted a WebSocket handshake (docs/behaviour.md, Upgrade and WebSocket: the app's
 * headers, Set-Cookie included, plus X-Request-Id as on every answer): built from the app's own
 * 101, for a raw tunnel (written as bytes) and for a relay (handed to the runtime's upgrade).
 */
import { stripHopByHop } from '../proxy/forward.ts';

/**
 * The headers a relay adds to the client's 101, from the app's 101: everything but hop-by-hop
 * headers and the handshake's own (Sec-WebSocket-Accept, -Protocol, -Extensions), which the
 * runtime's server writes for its own leg; plus X-Request-Id, as on every answer.
 */
export function relayed101Headers(appHeaders: Headers, requestId: string): Headers {
  const headers = stripHopByHop(appHeaders);
  for (const name of ['sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions'])
    headers.delete(name);
  headers.set('x-request-id', requestId);
  return headers;
}

/**
 * The client's 101 on a raw tunnel, from the app's raw header list (names' case and order kept,
 * Set-Cookie several): the app's own `Connection`/`Upgrade` stay (the switch is end to end),
 * any `X-Request-Id` the app set is replaced by the exchange's.
 */
export function raw101Head(statusMessage: string, rawHeaders: readonly string[], requestId: string): string {
  let head = `HTTP/1.1 101 ${statusMessage || 'Switching Protocols'}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.toLowerCase() === 'x-request-id') continue;
    head += `${name}: ${rawHeaders[i + 1] as string}\r\n`;
  }
  return `${head}X-Request-Id: ${requestId}\r\n\r\n`;
}
