/**
 * Node's upstream client: undici's dispatcher API (not its fetch), which keeps the client's
 * `Host`, never decompresses and never follows redirects (Node's fetch drops the Host it is given, nodejs/undici#2369, and decompresses, nodejs/undici#2514), over a
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
import { Pool } from './undici-parts.ts';
import type { Dispatcher } from 'undici';
import type { Config } from '../../src/config.ts';
import { FlatHeaders } from '../../src/proxy/flat-headers.ts';
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../../src/proxy/upstream.ts';
import { streamedBytesCollector } from './collect.ts';

/** Bytes queued in a response body stream before undici stops reading from the app. */
const bodyHighWaterMark = 64 * 1024;
/** Bodies up to this size that are complete by the end of the turn are handed over whole. */
const wholeBodyLimit = 64 * 1024;

/**
 * `maxConnections`: MAX_CONCURRENT_REQUESTS when set (0: no limit), so the pool never opens more
 * connections than the app may serve. Each request: its undici options (dispatchOptions), then
 * one ResponseHandler step per undici callback. A failure goes out as undici's own error, named
 * by the core (src/errors.ts classifyUpstreamFailure), which also retries a request that met a
 * stale pooled connection (src/proxy/upstream-call.ts).
 */
export function createNodeUpstream(
  target: Config['TARGET'],
  maxConnections = 0,
): { client: UpstreamClient; close(): Promise<void> } {
  // Streamed bodies' buffers are freed by a young-generation GC every 4 MiB (runtimes/node/collect.ts).
  const streamed = streamedBytesCollector(4 * 1024 * 1024);
  const pool = createPool(target.origin, maxConnections);
  const optionsOf = dispatchOptions(target);
  const client: UpstreamClient = (request) =>
    new Promise<UpstreamResponse>((resolve, reject) => {
      pool.dispatch(optionsOf(request), new ResponseHandler(request.signal, streamed, resolve, reject));
    });
  return { client, close: () => pool.close() };
}

/** A keep-alive pool to TARGET's origin. */
function createPool(origin: string, maxConnections: number): Pool {
  return new Pool(origin, {
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
    // HTTP/1.1 to the app, as on Bun and Deno (docs/behaviour.md): undici 8 offers h2 by ALPN to an
    // https TARGET unless told not to (lib/core/connect.js), and an app that takes it would be
    // spoken to in a protocol the sidecar promises not to use (an h2 upstream is a later milestone).
    allowH2: false,
  });
}

/** The request as undici dispatches it: its path under TARGET's origin, its headers as a flat list. */
function dispatchOptions(target: Config['TARGET']): (request: UpstreamRequest) => Dispatcher.DispatchOptions {
  const originLength = target.origin.length;
  // TLS names TARGET's host, never the client's Host header (undici derives SNI and the name it
  // verifies from Host unless told otherwise). No SNI for an IP address (RFC 6066 §3).
  const servername = target.secure && isIP(target.hostname) === 0 ? target.hostname : undefined;
  return (request) => {
    const headers: string[] = [];
    const fields = request.headers instanceof FlatHeaders ? request.headers.fields() : flatten(request.headers);
    for (let i = 0; i < fields.length; i += 2) {
      // Node's server has already answered `Expect: 100-continue`, and undici refuses the header.
      if (fields[i] === 'expect') continue;
      headers.push(fields[i] as string, fields[i + 1] as string);
    }
    return {
      method: request.method,
      path: request.url.slice(originLength),
      headers,
      body: request.body as unknown as Dispatcher.DispatchOptions['body'],
      // Accepted by undici's Request (lib/core/request.js), missing from its DispatchOptions type.
      ...({ servername } as object),
    };
  };
}

type Head = { status: number; statusText: string; headers: FlatHeaders };

/**
 * One response, as undici's dispatch callbacks deliver it, each a step: the request started (an
 * abort followed from now on), the head kept, the body bytes gathered, then the end or the error.
 * The promise settles once: with the whole body if it is here by the end of the turn the head
 * came in (and within wholeBodyLimit), else with a stream that the rest feeds.
 */
class ResponseHandler implements Dispatcher.DispatchHandler {
  readonly #signal: AbortSignal;
  readonly #streamed: (bytes: number) => void;
  readonly #resolve: (response: UpstreamResponse) => void;
  readonly #reject: (error: Error) => void;
  #dispatch: Dispatcher.DispatchController | undefined;
  // Between the headers and the decision whole-or-stream: the response and its bytes so far.
  #head: Head | undefined;
  #early: Buffer[] = [];
  #earlyBytes = 0;
  #stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  #settled = false;
  readonly #onAbort = () => this.#dispatch?.abort(this.#signal.reason as Error);

  constructor(
    signal: AbortSignal,
    streamed: (bytes: number) => void,
    resolve: (response: UpstreamResponse) => void,
    reject: (error: Error) => void,
  ) {
    this.#signal = signal;
    this.#streamed = streamed;
    this.#resolve = resolve;
    this.#reject = reject;
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** An upload's chunks, once written to the app, count towards the next GC as a download's do. */
  onBodySent(chunk: Buffer): void {
    this.#streamed(chunk.length);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#dispatch = controller;
    if (this.#signal.aborted) controller.abort(this.#signal.reason as Error);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    rawHeaders: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    // 1xx interim responses are the connection's business, not the client's.
    if (statusCode < 200) return;
    this.#head = {
      status: statusCode,
      statusText: statusMessage ?? '',
      headers: FlatHeaders.fromRecord(rawHeaders),
    };
    // The rest of the body, if it is already here, arrives in this same turn.
    setImmediate(this.#startStreaming, controller);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const stream = this.#stream;
    if (stream) {
      this.#streamed(chunk.byteLength);
      stream.enqueue(chunk);
      if ((stream.desiredSize ?? 1) <= 0) controller.pause();
      return;
    }
    this.#early.push(chunk);
    this.#earlyBytes += chunk.byteLength;
    if (this.#earlyBytes > wholeBodyLimit) this.#startStreaming(controller);
  }

  onResponseEnd(): void {
    this.#done();
    if (this.#stream) this.#stream.close();
    else if (this.#head && !this.#settled) {
      this.#settled = true;
      this.#resolve({ ...this.#head, body: this.#wholeBody() });
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#done();
    if (this.#stream) this.#stream.error(error);
    else if (!this.#settled) {
      this.#settled = true;
      this.#reject(error);
    }
  }

  /** From here on the body streams: what arrived so far is queued first. */
  readonly #startStreaming = (controller: Dispatcher.DispatchController): void => {
    if (this.#settled || !this.#head) return;
    this.#settled = true;
    this.#resolve({ ...this.#head, body: this.#bodyStream(controller) });
  };

  /** A web stream fed straight from the callbacks above, undici paused while its queue is full. */
  #bodyStream(controller: Dispatcher.DispatchController): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.#stream = c;
          for (const chunk of this.#early) c.enqueue(chunk);
          this.#early = [];
        },
        pull: () => {
          if (controller.paused) controller.resume();
        },
        cancel: (reason) => {
          this.#done();
          controller.abort(reason instanceof Error ? reason : new Error('response body cancelled'));
        },
      },
      { highWaterMark: bodyHighWaterMark, size: (chunk) => chunk.byteLength },
    );
  }

  #wholeBody(): Buffer | null {
    const early = this.#early;
    return this.#earlyBytes === 0
      ? null
      : early.length === 1
        ? (early[0] as Buffer)
        : Buffer.concat(early, this.#earlyBytes);
  }

  #done(): void {
    this.#signal.removeEventListener('abort', this.#onAbort);
  }
}

function flatten(headers: Headers): string[] {
  const fields: string[] = [];
  for (const [name, value] of headers) fields.push(name, value);
  return fields;
}
