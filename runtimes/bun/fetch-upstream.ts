/**
 * The Bun adapters' upstream client: Bun's own fetch, which keeps the client's Host and, with
 * `decompress: false`, passes compressed bodies through untouched.
 */
import { FlatHeaders, headersInit } from '../../src/proxy/flat-headers.ts';
import type { UpstreamClient } from '../../src/proxy/upstream.ts';

// Bun's fetch has no per-origin connection limit to set from here (only BUN_CONFIG_MAX_HTTP_REQUESTS,
// process-wide and read at start-up): under MAX_CONCURRENT_REQUESTS the cap on requests in flight
// bounds the connections in use, and Bun reuses an idle pooled one before opening another
// (test/protection/ counts the app's connections on every runtime).
// Known difference (oven-sh/bun#17012): Bun's fetch adds `User-Agent: Bun/x` and `Accept: */*`
// when the client sent none; everything else the client sent reaches the app unchanged.
export const bunFetchUpstream: UpstreamClient = async (request) => {
  const response = await fetch(request.url, {
    method: request.method,
    headers: headersInit(request.headers),
    body: request.body,
    signal: request.signal,
    redirect: 'manual',
    decompress: false,
  });
  // The core's own copy, which it edits in place (the fetch standard makes a Response's headers
  // immutable) and hands back to node:http's server as a plain record, with nothing added.
  return {
    status: response.status,
    statusText: response.statusText,
    headers: FlatHeaders.from(response.headers),
    body: response.body,
  };
};
