/**
 * An open WebSocket tunnel as the core sees it (upgrade.ts makes one at the app's 101): bytes
 * counted both ways, one close from either side, and the drain deadline's close. Also the entry
 * for runtimes whose server hands a handshake to the fetch handler (Bun, Deno).
 */
import type { Context } from 'hono';
import { errorResponse } from '../errors.ts';
import type { ErrorReason } from '../errors.ts';
import type { Handshake, Tunnels } from './upgrade.ts';

export class Tunnel {
  readonly #handshake: Handshake;
  readonly #close: () => void;
  readonly #end: () => void;
  #closed = false;

  constructor(handshake: Handshake, close: () => void, end: () => void) {
    this.#handshake = handshake;
    this.#close = close;
    this.#end = end;
  }

  /** Bytes from the client to the app (frame bytes on a raw tunnel, message payload on a relay). */
  bytesIn(count: number): void {
    this.#handshake.record.bytesIn += count;
  }

  bytesOut(count: number): void {
    this.#handshake.record.bytesOut += count;
  }

  /** Both directions are over: the tunnel's one access record. Idempotent. */
  closed(error?: ErrorReason): void {
    if (this.#closed) return;
    this.#closed = true;
    if (error !== undefined) this.#handshake.record.error = error;
    this.#end();
  }

  /** Asks the runtime to close the tunnel now (drain deadline). */
  close(): void {
    if (!this.#closed) this.#close();
  }
}

/**
 * The handler's `tunnel` on runtimes whose server hands a handshake to the fetch handler (Bun,
 * Deno): the handshake begins here, `carry` answers it and runs the tunnel. A failure of the
 * sidecar's own is a 500, and the handshake still ends (drain must not wait on it).
 */
export function tunnelThroughFetch(
  tunnels: Tunnels,
  carry: (c: Context, handshake: Handshake) => Promise<Response>,
  seen: { rawTarget?(c: Context): string | undefined; remoteAddress(c: Context): string | undefined },
  onInternalError: (error: unknown) => void,
): (c: Context) => Promise<Response> {
  return async (c) => {
    const request = c.req.raw;
    const handshake = tunnels.begin({
      method: request.method,
      headers: new Headers(request.headers),
      rawTarget: seen.rawTarget?.(c),
      url: request.url,
      remoteAddress: seen.remoteAddress(c),
      context: c,
    });
    try {
      const refused = await handshake.admit(request.signal);
      if (refused) return errorResponse(refused.status, refused.message, handshake.requestId);
      return await carry(c, handshake);
    } catch (error) {
      onInternalError(error);
      handshake.answered(500, 'internal');
      return errorResponse(500, 'internal proxy error', handshake.requestId);
    }
  };
}
