/**
 * Where a WebSocket handshake enters: recognised among requests (every runtime), and taken from
 * the fetch handler on runtimes whose server hands it there (Bun, Deno); Node's server hands it to
 * its own 'upgrade' listener instead (runtimes/node/tunnel.ts).
 */
import type { Context } from 'hono';
import { InternalError, errorResponse } from '../errors.ts';
import type { Handshake, HandshakeRequest } from './upgrade.ts';

/** Whether a comma-separated header value lists `token` (case-insensitive, RFC 9110 §5.6.1). */
function listsToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  for (const item of value.split(',')) {
    // An Upgrade item may carry a version (`name/version`, RFC 9110 §7.8); a WebSocket one has none.
    if (item.trim().toLowerCase() === token) return true;
  }
  return false;
}

/**
 * RFC 6455 §4.1: a WebSocket handshake is a GET whose Connection names `upgrade` and whose Upgrade
 * lists `websocket`. Anything else carrying Upgrade (h2c, a custom token, another method, an
 * Upgrade that Connection does not name) is an ordinary request whose Upgrade is hop-by-hop.
 */
export function isWebSocketHandshake(method: string | undefined, headers: Pick<Headers, 'get'>): boolean {
  return (
    method === 'GET' &&
    listsToken(headers.get('upgrade'), 'websocket') &&
    listsToken(headers.get('connection'), 'upgrade')
  );
}

/**
 * The handler's `tunnel` on runtimes whose server hands a handshake to the fetch handler (Bun,
 * Deno): the handshake begins here, `carry` answers it and runs the tunnel. A failure of the
 * sidecar's own is a 500, and the handshake still ends (drain must not wait on it).
 */
export function tunnelThroughFetch(
  begin: (request: HandshakeRequest) => Handshake,
  carry: (c: Context, handshake: Handshake) => Promise<Response>,
  seen: { rawTarget?(c: Context): string | undefined; remoteAddress(c: Context): string | undefined },
  onInternalError: (error: unknown) => void,
): (c: Context) => Promise<Response> {
  return async (c) => {
    const request = c.req.raw;
    const handshake = begin({
      method: request.method,
      headers: new Headers(request.headers),
      rawTarget: seen.rawTarget?.(c),
      url: request.url,
      remoteAddress: seen.remoteAddress(c),
      context: c,
    });
    try {
      const turned = await handshake.enter(request);
      if (turned) return turned;
      const refused = await handshake.admit(request.signal);
      if (refused) return errorResponse(refused.status, refused.message, handshake.requestId);
      return await carry(c, handshake);
    } catch (error) {
      onInternalError(error);
      return handshake.refuse(new InternalError());
    }
  };
}
