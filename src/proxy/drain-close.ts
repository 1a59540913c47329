/**
 * During the drain every answer carries `Connection: close` (RFC 9112 §9.6), so a keep-alive
 * client sends its next request elsewhere and the process exits as soon as nothing is in flight,
 * not at DRAIN_TIMEOUT_MS. Without it a client under steady load keeps its connection busy, each
 * answer inviting the next: Node's server.close() closes only the connections idle at that instant,
 * and Bun and Deno close a busy one after its answer without saying so, which a client that has
 * already sent its next request sees as a reset.
 *
 * Node and Bun close the connection after such an answer; Deno 2.9 sends the header and leaves the
 * closing to the client (and to its server's shutdown()). HTTP/2 has no Connection header (RFC 9113
 * §8.2.2): there the runtime's server sends GOAWAY when it stops listening (Node's
 * Http2Server#close), and Node warns about the header, so it is not added to an HTTP/2 answer where
 * the runtime says which version the request was; Bun and Deno drop it from HTTP/2 answers silently.
 *
 * A step of the proxy's handler, not a Hono middleware: with a middleware Hono composes a chain
 * for every request, which cost ~1% of the default path's CPU while nothing was draining.
 */
import type { Context } from 'hono';

/** Marks an answer `Connection: close` while the sidecar drains; returns the same answer. */
export type DrainClose = (c: Context, answer: Response) => Response;

export function closeWhileDraining(
  draining: () => boolean,
  httpVersion?: (c: Context) => string | undefined,
): DrainClose {
  return (c, answer) => {
    // A 101 hands the connection to a tunnel, which the drain waits for on its own.
    if (!draining() || answer.status === 101 || httpVersion?.(c)?.startsWith('2')) return answer;
    answer.headers.set('connection', 'close');
    return answer;
  };
}
