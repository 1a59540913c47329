/**
 * The requests Node refuses before the handler sees them, answered as before and now logged and
 * counted by the core with the status really sent (docs/behaviour.md, Logging; Envoy logs these
 * with its DPE response flag). Two places refuse:
 *
 * - Node's HTTP parser, on the server's `clientError` event
 *   (https://nodejs.org/api/http.html#event-clienterror): a malformed request line or header, an
 *   ambiguous length, a malformed chunk, headers over 16 KiB, headers too slow. With a listener
 *   there Node no longer answers itself, so this one answers exactly as Node's default does
 *   (lib/_http_server.js socketOnError: 431 for a header overflow, 408 for a headers timeout, 400
 *   for the rest; nothing once a response has started).
 * - @hono/node-server, building the Request: no Host, a bad Host, a backslash in the path
 *   (RequestError, handed to the listener's `errorHandler`).
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { RequestError } from '@hono/node-server';
import type { Refusal, RefusalLog } from '../../src/proxy/refusal.ts';

const badRequest = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
const answers: Record<number, string> = {
  400: badRequest,
  408: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
  431: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
};

/** What the parser's error means for the client (Node's own mapping). */
function refusalFor(code: string | undefined): Pick<Refusal, 'status' | 'reason'> {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, reason: 'bad_request' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, reason: 'request_timeout' };
  return { status: 400, reason: 'bad_request' };
}

/** The request line at the start of what the parser was reading, if it is there and looks like one. */
export function requestLine(raw: Buffer | undefined): { method?: string; path?: string } {
  const match =
    raw && /^([A-Z][A-Z-]{0,19}) (\S{1,8192}) HTTP\/\d\.\d\r?\n/.exec(raw.subarray(0, 8300).toString('latin1'));
  return match ? { method: match[1], path: match[2] } : {};
}

export interface ClientErrors {
  /** For the handler: the refusal written on this request's connection while the handler had it. */
  refusal(incoming: IncomingMessage): Refusal | undefined;
  /** @hono/node-server's errorHandler: a request it could not turn into a Request gets 400, logged. */
  requestError(error: unknown): Response;
  /** Listens on the proxy server: answers, and logs through `log` what no exchange will. */
  attach(server: EventEmitter, log: RefusalLog): void;
}

export function createClientErrors(): ClientErrors {
  const inFlight = new WeakMap<Socket, ServerResponse>();
  const refused = new WeakMap<Socket, Refusal>();
  let log: RefusalLog = () => {};
  // @hono/node-server calls errorHandler synchronously inside its request listener, which runs
  // right after ours: this is the request that listener is working on.
  let current: IncomingMessage | undefined;
  return {
    refusal: (incoming) => refused.get(incoming.socket),
    requestError(error) {
      if (!(error instanceof RequestError)) return new Response('internal proxy error\n', { status: 500 });
      const body = 'bad request\n';
      log({
        status: 400,
        reason: 'bad_request',
        method: current?.method,
        path: current?.url,
        remoteAddress: current?.socket.remoteAddress,
        bytesOut: current?.method === 'HEAD' ? 0 : Buffer.byteLength(body),
      });
      return new Response(body, {
        status: 400,
        headers: { 'content-type': 'text/plain; charset=utf-8', connection: 'close' },
      });
    },
    attach(server, refusalLog) {
      log = refusalLog;
      server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
        current = req;
        inFlight.set(req.socket, res);
      });
      server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
        const res = inFlight.get(socket);
        const active = res !== undefined && !res.writableEnded;
        // A reset by the client, or a response already under way: nothing more can be said to it.
        if (!socket.writable || (active && res.headersSent)) {
          socket.destroy();
          return;
        }
        const refusal: Refusal = {
          ...refusalFor(error.code),
          ...requestLine(error.rawPacket),
          remoteAddress: socket.remoteAddress,
        };
        // As Node's default does: the answer, then the connection closed (RFC 9112 §9.6: after a
        // malformed request the connection cannot be trusted).
        socket.write(answers[refusal.status] ?? badRequest);
        socket.destroy();
        // A request the handler has (its body was refused) ends as this refusal, in its own record.
        if (active) refused.set(socket, refusal);
        else log(refusal);
      });
    },
  };
}
