/**
 * An upstream client on `node:http`, for Deno: Deno's own fetch adds Accept, Accept-Language,
 * User-Agent and Accept-Encoding and decompresses every gzip/br body even when the client asked
 * for it (seen with Deno 2.9), which a transparent proxy cannot allow. Deno's node:http keeps
 * the client's Host, sends only the headers it is given and never decodes the body.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Config } from '../../src/config.ts';
import { FlatHeaders } from '../../src/proxy/flat-headers.ts';
import type { UpstreamClient, UpstreamResponse } from '../../src/proxy/upstream.ts';
import { streamedBytesCollector } from '../node/collect.ts';

/** `maxConnections`: MAX_CONCURRENT_REQUESTS when set (0: no limit of the sidecar's own), so the agent never opens more sockets than the app may serve. */
export function createNodeHttpUpstream(
  target: Config['TARGET'],
  maxConnections = 0,
): { client: UpstreamClient; close(): void } {
  const { origin, secure, hostname: host, port } = target;
  const agent = new (secure ? HttpsAgent : HttpAgent)({
    keepAlive: true,
    maxSockets: maxConnections > 0 ? maxConnections : 256,
    // Idle pooled sockets close before the app's own keep-alive timeout would (Node's default is 5 s).
    timeout: 4_000,
  });
  const send = secure ? httpsRequest : httpRequest;
  // TLS names TARGET's host, never the client's Host header (Node's agent would take the name to
  // verify from Host otherwise). No SNI for an IP address (RFC 6066 §3).
  const servername = secure && isIP(host) === 0 ? host : undefined;
  const base = { host, port, agent, servername };
  // Streamed bodies' buffers, both ways, are freed by a young-generation GC every 4 MiB (runtimes/node/collect.ts).
  const streamed = streamedBytesCollector(4 * 1024 * 1024);
  const count = (chunk: Buffer) => streamed(chunk.length);

  const client: UpstreamClient = (request) =>
    new Promise<UpstreamResponse>((resolve, reject) => {
      const headers = outgoingHeaders(request.headers);
      let response: IncomingMessage | undefined;
      const outgoing = send(
        { ...base, method: request.method, path: request.url.slice(origin.length), headers },
        (res: IncomingMessage) => {
          response = res;
          const out = FlatHeaders.fromRaw(res.rawHeaders);
          res.on('data', count);
          const body = Readable.toWeb(res) as ReadableStream<Uint8Array>;
          resolve({ status: res.statusCode ?? 502, statusText: res.statusMessage ?? '', headers: out, body });
        },
      );
      outgoing.setNoDelay(true);
      // A request with a body is never retried behind the core's back. On a pooled connection the
      // app has just closed, Deno's node:http retries by itself on a new socket, without the
      // streamed body, and the request hangs until the app gives up (denoland/deno#32006, #32215:
      // fixed only for bodies written whole; seen with Deno 2.9.6), or sends a POST twice
      // (denoland/deno#36786). `_retrying` is the flag its maybeRetryRequest() checks
      // (ext/node/polyfills/_http_client.js); Node has no such retry and ignores it. Without the
      // retry the reset reaches the core: 502 upstream_reset, as on Node (docs/behaviour.md,
      // Proxying, allows it for a request with a body). A Deno release that renames the flag hangs
      // the conformance test "a POST with a streamed body, on a pooled connection the app closes as
      // it arrives".
      if (request.body !== null) (outgoing as { _retrying?: boolean })._retrying = true;
      const abort = () =>
        outgoing.destroy(request.signal.reason instanceof Error ? request.signal.reason : new Error('aborted'));
      if (request.signal.aborted) abort();
      request.signal.addEventListener('abort', abort, { once: true });
      outgoing.once('close', () => request.signal.removeEventListener('abort', abort));
      outgoing.once('error', reject);
      if (request.body === null) outgoing.end();
      else
        Readable.fromWeb(request.body as NodeReadableStream)
          // A body cut by MAX_REQUEST_BODY_BYTES after the app answered: Deno's node:http does not
          // end the response when the request is destroyed, so the client's answer would hang.
          .once('error', (e) => {
            outgoing.destroy(e);
            response?.destroy(e);
          })
          .on('data', count)
          .pipe(outgoing);
    });

  return { client, close: () => agent.destroy() };
}

/** The request's fields for node:http's client, a repeated one joined with ", " as web Headers join it. */
function outgoingHeaders(headers: Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  if (!(headers instanceof FlatHeaders)) {
    for (const [name, value] of headers) out[name] = value;
    return out;
  }
  const fields = headers.fields();
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const prior = out[name];
    out[name] = prior === undefined ? (fields[i + 1] as string) : `${String(prior)}, ${fields[i + 1]}`;
  }
  return out;
}
