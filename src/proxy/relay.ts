/**
 * The app's response on its way to the client: hop-by-hop headers stripped, `X-Request-Id`
 * set, the body passed through unchanged while its bytes are counted, and the end of the
 * exchange (complete, broken off, or abandoned by the client) reported once.
 */
import { UpstreamBrokenError } from '../errors.ts';
import type { ErrorReason } from '../errors.ts';
import { headersInit } from './flat-headers.ts';
import { stripHopByHop } from './forward.ts';
import type { UpstreamResponse } from './upstream.ts';

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1); `new Response` refuses one. */
const nullBodyStatuses = new Set([101, 103, 204, 205, 304]);

/** What the handler learns from the relay: bytes as they go out, and how the exchange ended. */
export interface RelayWatch {
  bytes(count: number): void;
  /** The body ended (no error), broke (`upstream_broken`) or the client left (499, `client_aborted`). */
  end(status: number, error?: ErrorReason): void;
}

export async function relayResponse(
  upstreamResponse: UpstreamResponse,
  requestId: string,
  watch: RelayWatch,
  options: {
    /** What the sidecar adds to every answer (proxy/answer-headers.ts), before the Response is built. */
    complete?: ((status: number, headers: Headers) => void) | undefined;
    /** The runtime's server writes repeated fields given as arrays (FlatHeaders.init). */
    headerArrays?: boolean | undefined;
  } = {},
): Promise<Response> {
  // In place: the client handed these headers over (upstream.ts). Set-Cookie stays several.
  const headers = stripHopByHop(upstreamResponse.headers);
  headers.set('x-request-id', requestId);
  options.complete?.(upstreamResponse.status, headers);
  // What each Response below is built with; read once the headers are final.
  const init = () => ({ status, statusText, headers: headersInit(headers, options.headerArrays) });

  const { status, statusText = '' } = upstreamResponse;
  const source = upstreamResponse.body;
  if (source === null || nullBodyStatuses.has(status)) {
    if (source instanceof ReadableStream) void source.cancel().catch(() => {});
    watch.end(status);
    return new Response(null, init());
  }
  if (source instanceof Uint8Array) return whole(source);

  // A body already complete in memory (a small response read along with its headers) is sent
  // whole: the runtime writes headers and body at once, and no stream is kept per response.
  // One that is not complete within a few microtasks streams, from the chunks read so far.
  const reader = source.getReader();
  const ahead: Uint8Array[] = [];
  let pending: ReturnType<typeof reader.read> | undefined = reader.read();
  try {
    for (let i = 0; i < 2; i++) {
      const chunk = await settledWithin(pending);
      if (chunk === undefined) break;
      pending = undefined;
      if (chunk.done) return whole(ahead.length === 1 ? (ahead[0] as Uint8Array) : concat(ahead));
      ahead.push(chunk.value);
      pending = reader.read();
    }
  } catch (error) {
    throw new UpstreamBrokenError(error);
  }

  function whole(bytes: Uint8Array): Response {
    watch.bytes(bytes.byteLength);
    watch.end(status);
    return new Response(bytes.byteLength === 0 ? null : (bytes as Uint8Array<ArrayBuffer>), init());
  }

  const body = streamBody(reader, ahead, pending, status, watch);
  return new Response(body, init());
}

/**
 * The rest of a streamed body: the chunks read ahead first, then the app's reader, one chunk per
 * pull (backpressure: nothing is read until the client's side asks). A break after the headers
 * errors the stream, so the runtime cuts the client's connection.
 */
function streamBody(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ahead: Uint8Array[],
  pending: ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']> | undefined,
  status: number,
  watch: RelayWatch,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const early = ahead.shift();
        if (early !== undefined) {
          watch.bytes(early.byteLength);
          controller.enqueue(early);
          return;
        }
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await (pending ?? reader.read());
          pending = undefined;
        } catch (error) {
          // The app broke the body after its headers: error the stream so the runtime cuts
          // the client's connection instead of ending the body as if it were complete.
          watch.end(status, 'upstream_broken');
          controller.error(error);
          return;
        }
        if (chunk.done) {
          controller.close();
          watch.end(status);
          return;
        }
        watch.bytes(chunk.value.byteLength);
        controller.enqueue(chunk.value);
      },
      cancel(reason) {
        watch.end(499, 'client_aborted');
        return reader.cancel(reason);
      },
    },
    // One chunk read ahead; backpressure still holds, as the client's own stream is bounded.
    { highWaterMark: 1 },
  );
}

/**
 * The promise's outcome if it settles within a few microtask turns (data already in memory),
 * else undefined: the caller goes on without waiting for the network.
 */
async function settledWithin<T>(promise: Promise<T>, turns = 6): Promise<T | undefined> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < turns && !settled; i++) await undefined;
  return settled ? promise : undefined;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
