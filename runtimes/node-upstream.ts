/**
 * Node's upstream client: undici's dispatcher API (not its fetch), which keeps the client's
 * `Host`, never decompresses and never follows redirects (../shared/notes/runtimes.md), over a
 * keep-alive pool to TARGET's origin. 
 */
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { Pool } from 'undici';
import { upstreamResponse } from '../src/upstream.ts';
import type { UpstreamClient } from '../src/upstream.ts';

export function createNodeUpstream(origin: string): { client: UpstreamClient; close(): Promise<void> } {
  const pool = new Pool(origin, {
    // The sidecar bounds the wait for headers itself (UPSTREAM_TIMEOUT_MS, one timer for every
    // runtime); a body may legitimately stream for as long as it takes.
    headersTimeout: 0,
    bodyTimeout: 0,
    // Below Node's default server keepAliveTimeout (5 s), so the app is never the one to close
    // an idle pooled connection first in the common case; the retry in the handler covers the rest.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
  });
  const originLength = origin.length;

  const client: UpstreamClient = async (request) => {
    const headers: string[] = [];
    for (const [name, value] of request.headers) {
      // Node's server has already answered `Expect: 100-continue`, and undici refuses the header.
      if (name === 'expect') continue;
      headers.push(name, value);
    }
    const response = await pool.request({
      method: request.method,
      path: request.url.slice(originLength),
      headers,
      body: request.body === null ? null : Readable.fromWeb(request.body as NodeReadableStream),
      signal: request.signal,
    });
    const out = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (Array.isArray(value)) for (const v of value) out.append(name, v);
      else if (value !== undefined) out.append(name, value);
    }
    const body = Readable.toWeb(response.body) as ReadableStream<Uint8Array>;
    return upstreamResponse(response.statusCode, '', out, body);
  };

  return { client, close: () => pool.close() };
}
