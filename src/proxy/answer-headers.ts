/**
 * What the sidecar adds to every answer, the app's and its own: Strict-Transport-Security
 * (HSTS_MAX_AGE, RFC 6797 §6.1, unless the app set its own policy, which wins), and during the
 * drain `Connection: close`.
 *
 * `Connection: close` during the drain (RFC 9112 §9.6): a keep-alive client sends its next request
 * elsewhere and the process exits as soon as nothing is in flight, not at DRAIN_TIMEOUT_MS. Without
 * it a client under steady load keeps its connection busy, each answer inviting the next: Node's
 * server.close() closes only the connections idle at that instant, and Bun and Deno close a busy
 * one after its answer without saying so, which a client that has already sent its next request
 * sees as a reset. Node and Bun close the connection after such an answer; Deno 2.9 sends the
 * header and leaves the closing to the client (and to its server's shutdown()). HTTP/2 has no
 * Connection header (RFC 9113 §8.2.2): there the runtime's server sends GOAWAY when it stops
 * listening (Node's Http2Server#close), and Node warns about the header, so it is not added to an
 * HTTP/2 answer where the runtime says which version the request was; Bun and Deno drop it from
 * HTTP/2 answers silently. A 101 hands the connection to a tunnel, which the drain waits for on its own.
 *
 * A step of the proxy's handler, not a Hono middleware: with a middleware Hono composes a chain
 * for every request (~1 % of the default path's CPU while nothing was draining). An answer relayed
 * from the app gets its headers before its Response is built (`relayed`, called by
 * proxy/relay.ts): reading a built Response's `headers` makes @hono/node-server turn the plain
 * record it was given into a `Headers`, and then label a body without `Content-Type` as
 * `text/plain`. The sidecar's own answers (`answer`) always carry their type.
 */
import type { Context } from 'hono';

export interface AnswerHeaders {
  /**
   * Adds what applies to a relayed answer's headers, before its Response is built; true when
   * anything applied (then `mark` the Response, so that `answer` leaves it alone).
   */
  relayed(c: Context, status: number, headers: Headers): boolean;
  /** Adds what applies to an answer not marked as done by `relayed`; returns the same answer. */
  answer(c: Context, answer: Response): Response;
  /** Marks a relayed answer whose headers `relayed` has already completed. */
  mark(answer: Response): void;
}

export function answerHeaders(options: {
  hstsMaxAge: number | undefined;
  draining: (() => boolean) | undefined;
  httpVersion: ((c: Context) => string | undefined) | undefined;
}): AnswerHeaders | undefined {
  const { draining, httpVersion } = options;
  const hsts = options.hstsMaxAge === undefined ? undefined : `max-age=${options.hstsMaxAge}`;
  if (hsts === undefined && draining === undefined) return undefined;
  const done = new WeakSet<Response>();
  /** Whether anything applies now, and then adds it. */
  const add = (c: Context, status: number, headers: () => Headers): boolean => {
    const closing = draining?.() === true;
    if (hsts === undefined && !closing) return false;
    if (hsts !== undefined && !headers().has('strict-transport-security'))
      headers().set('strict-transport-security', hsts);
    if (closing && status !== 101 && !httpVersion?.(c)?.startsWith('2')) headers().set('connection', 'close');
    return true;
  };
  return {
    relayed: (c, status, headers) => add(c, status, () => headers),
    answer: (c, answer) => {
      // Nothing applies (no HSTS, not draining): no lookup either, the default path's case.
      if ((hsts !== undefined || draining?.()) && !done.has(answer)) add(c, answer.status, () => answer.headers);
      return answer;
    },
    mark: (answer) => void done.add(answer),
  };
}
