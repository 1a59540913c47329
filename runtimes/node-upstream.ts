/**
 * Node's upstream client: undici's dispatcher API (not its fetch), which keeps the client's
 * `Host`, never decompresses and never follows redirects (../shared/notes/runtimes.md), over a
 * keep-alive pool to TARGET's origin.
 *
 * The response body is a web ReadableStream fed straight from undici's dispatch handler, with
 * undici paused while the stream's queue is full: no Node stream in between (Readable.toWeb on
 * undici's body was a measurable share of each request's CPU time).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { upstreamResponse } from '../src/upstream.ts';
import type { UpstreamClient } from '../src/upstream.ts';

/** Bytes queued in a response body stream before undici stops reading from the app. */
const bodyHighWaterMark = 64 * 1024;

export function createNodeUpstream(origin: string): { client: UpstreamClient; close(): Promise<void> } {
  const pool = new Pool(origin, {
    // The sidecar bounds the wait for headers itself (UPSTREAM_TIMEOUT_MS, one timer for every
    // runtime); a body may legitimately stream for as long as it takes.
    headersTimeout: 0,
    bodyTimeout: 0,
    // Below Node's default server keepAliveTimeout (5 s), so the app is rarely the one to close
    // an idle pooled connection first; the handler's retry covers the race when it does.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
  });
  const originLength = origin.length;

  const client: UpstreamClient = (request) =>
    new Promise<Response>((resolve, reject) => {
      const headers: string[] = [];
      for (const [name, value] of request.headers) {
        // Node's server has already answered `Expect: 100-continue`, and undici refuses the header.
        if (name === 'expect') continue;
        headers.push(name, value);
      }
      const { signal } = request;
      let dispatch: Dispatcher.DispatchController | undefined;
      let body: ReadableStreamDefaultController<Uint8Array> | undefined;
      let settled = false;
      const onAbort = () => dispatch?.abort(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);

      pool.dispatch(
        {
          method: request.method,
          path: request.url.slice(originLength),
          headers,
          body: request.body as unknown as Dispatcher.DispatchOptions["body"],
        },
        {
          onRequestStart(controller) {
            dispatch = controller;
            if (signal.aborted) controller.abort(signal.reason as Error);
          },
          onResponseStart(controller, statusCode, rawHeaders, statusMessage) {
            // 1xx interim responses are the connection's business, not the client's.
            if (statusCode < 200) return;
            settled = true;
            const stream = new ReadableStream<Uint8Array>(
              {
                start: (c) => void (body = c),
                pull: () => {
                  if (controller.paused) controller.resume();
                },
                cancel: (reason) => {
                  done();
                  controller.abort(reason instanceof Error ? reason : new Error('response body cancelled'));
                },
              },
              { highWaterMark: bodyHighWaterMark, size: (chunk) => chunk.byteLength },
            );
            resolve(upstreamResponse(statusCode, statusMessage ?? '', toHeaders(rawHeaders), stream));
          },
          onResponseData(controller, chunk) {
            if (!body) return;
            body.enqueue(chunk);
            if ((body.desiredSize ?? 1) <= 0) controller.pause();
          },
          onResponseEnd() {
            done();
            body?.close();
          },
          onResponseError(_controller, error) {
            done();
            if (settled) body?.error(error);
            else reject(error);
          },
        },
      );
    });

  return { client, close: () => pool.close() };
}

function toHeaders(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const name in raw) {
    const value = raw[name];
    if (typeof value === 'string') headers.append(name, value);
    else if (value) for (const v of value) headers.append(name, v);
  }
  return headers;
}
