/**
 * Node's upstream client: undici's dispatcher API (not its fetch), which keeps the client's
 * `Host`, never decompresses and never follows redirects (../shared/notes/runtimes.md), over a
 * keep-alive pool to TARGET's origin.
 *
 * A response whose whole body arrives with its headers (most responses of a web app) is handed
 * over as bytes: no stream is built and @hono/node-server writes headers and body in one go.
 * Any other body becomes a web ReadableStream fed straight from undici's dispatch handler, with
 * undici paused while the stream's queue is full (backpressure to the app), and no Node stream in
 * between (Readable.toWeb on undici's body was a measurable share of each request's CPU time).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { Config } from '../../src/config.ts';
import type { UpstreamClient, UpstreamResponse } from '../../src/proxy/upstream.ts';
import { streamedBytesCollector } from './collect.ts';

/** Bytes queued in a response body stream before undici stops reading from the app. */
const bodyHighWaterMark = 64 * 1024;
/** Bodies up to this size that are complete by the end of the turn are handed over whole. */
const wholeBodyLimit = 64 * 1024;

/** `maxConnections`: MAX_CONCURRENT_REQUESTS when set (0: no limit), so the pool never opens more connections than the app may serve. */
export function createNodeUpstream(
  target: Config['TARGET'],
  maxConnections = 0,
): { client: UpstreamClient; close(): Promise<void> } {
  const { origin } = target;
  // Streamed bodies' buffers are freed by a young-generation GC every 4 MiB (runtimes/node/collect.ts).
  const streamed = streamedBytesCollector(4 * 1024 * 1024);
  const pool = new Pool(origin, {
    // The sidecar bounds the wait for headers itself (UPSTREAM_TIMEOUT_MS, one timer for every
    // runtime); a body may legitimately stream for as long as it takes.
    headersTimeout: 0,
    bodyTimeout: 0,
    // Below Node's default server keepAliveTimeout (5 s), so the app is rarely the one to close
    // an idle pooled connection first; the handler's retry covers the race when it does.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
    // undici's default (null) opens a connection per concurrent request, without bound.
    connections: maxConnections > 0 ? maxConnections : null,
  });
  const originLength = origin.length;
  // TLS names TARGET's host, never the client's Host header (undici derives SNI and the name it
  // verifies from Host unless told otherwise). No SNI for an IP address (RFC 6066 §3).
  const servername = target.secure && isIP(target.hostname) === 0 ? target.hostname : undefined;

  const client: UpstreamClient = (request) =>
    new Promise<UpstreamResponse>((resolve, reject) => {
      const headers: string[] = [];
      for (const [name, value] of request.headers) {
        // Node's server has already answered `Expect: 100-continue`, and undici refuses the header.
        if (name === 'expect') continue;
        headers.push(name, value);
      }
      const { signal } = request;
      let dispatch: Dispatcher.DispatchController | undefined;
      const onAbort = () => dispatch?.abort(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);

      // Between the headers and the decision whole-or-stream: the response and its bytes so far.
      let head: { status: number; statusText: string; headers: Headers } | undefined;
      let early: Buffer[] = [];
      let earlyBytes = 0;
      let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
      let settled = false;

      /** From here on the body streams: what arrived so far is queued first. */
      const startStreaming = (controller: Dispatcher.DispatchController) => {
        if (settled || !head) return;
        settled = true;
        const body = new ReadableStream<Uint8Array>(
          {
            start: (c) => {
              stream = c;
              for (const chunk of early) c.enqueue(chunk);
              early = [];
            },
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
        resolve({ ...head, body });
      };

      pool.dispatch(
        {
          method: request.method,
          path: request.url.slice(originLength),
          headers,
          body: request.body as unknown as Dispatcher.DispatchOptions['body'],
          // Accepted by undici's Request (lib/core/request.js), missing from its DispatchOptions type.
          ...({ servername } as object),
        },
        {
          onRequestStart(controller) {
            dispatch = controller;
            if (signal.aborted) controller.abort(signal.reason as Error);
          },
          onResponseStart(controller, statusCode, rawHeaders, statusMessage) {
            // 1xx interim responses are the connection's business, not the client's.
            if (statusCode < 200) return;
            head = { status: statusCode, statusText: statusMessage ?? '', headers: toHeaders(rawHeaders) };
            // The rest of the body, if it is already here, arrives in this same turn.
            setImmediate(startStreaming, controller);
          },
          onResponseData(controller, chunk) {
            if (stream) {
              streamed(chunk.byteLength);
              stream.enqueue(chunk);
              if ((stream.desiredSize ?? 1) <= 0) controller.pause();
              return;
            }
            early.push(chunk);
            earlyBytes += chunk.byteLength;
            if (earlyBytes > wholeBodyLimit) startStreaming(controller);
          },
          onResponseEnd() {
            done();
            if (stream) stream.close();
            else if (head && !settled) {
              settled = true;
              const body =
                earlyBytes === 0 ? null : early.length === 1 ? (early[0] as Buffer) : Buffer.concat(early, earlyBytes);
              resolve({ ...head, body });
            }
          },
          onResponseError(_controller, error) {
            done();
            if (stream) stream.error(error);
            else if (!settled) {
              settled = true;
              reject(error);
            }
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
