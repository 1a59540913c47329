/**
 * The response header rewrite that goes with compression, in place on headers the core owns
 * (hop-by-hop headers already stripped, so nothing here can be removed by a `Connection` list).
 */
import type { Encoding } from './encoding.ts';

/**
 * Headers of a response the sidecar compresses:
 * - `Content-Length` dropped: it counted the uncompressed bytes; the runtime frames the new body
 *   (chunked on HTTP/1.1), as nginx, Envoy and Caddy do.
 * - a strong `ETag` made weak: a strong validator promises these exact bytes (RFC 9110 §8.8.1),
 *   and the compressed bytes differ from the app's. Weak keeps conditional GETs working
 *   (If-None-Match compares weakly, RFC 9110 §13.1.2) while If-Range, which needs a strong
 *   match, falls back to a full response (§13.1.5). nginx (since 1.7.3), Deno and hono do the
 *   same; Caddy instead appends the coding to the tag and strips it from If-None-Match.
 * - `Accept-Ranges` dropped: ranges the app serves count bytes of its identity body, not of this
 *   one (Caddy drops it too).
 * - `Vary: Accept-Encoding` merged with the app's (addVary).
 * - `Content-Encoding` set (replacing an `identity` the app may have sent).
 */
export function encodedHeaders(headers: Headers, encoding: Encoding): void {
  headers.delete('content-length');
  headers.delete('accept-ranges');
  weakenETag(headers);
  addVary(headers, 'Accept-Encoding');
  headers.set('content-encoding', encoding);
}

/** `"abc"` -> `W/"abc"`; a weak tag stays as it is (the `W/` prefix is case-sensitive: RFC 9110 §8.8.3). */
export function weakenETag(headers: Headers): void {
  const etag = headers.get('etag');
  if (etag === null) return;
  const tag = etag.trim();
  if (tag !== '' && !tag.startsWith('W/')) headers.set('etag', `W/${tag}`);
}

/**
 * Adds a field name to `Vary` (RFC 9110 §12.5.5) as one field line that keeps every value the
 * app sent, in its order. Nothing changes when the name is there already (compared
 * case-insensitively) or when the app sent `Vary: *`, which already says the response varies on
 * everything.
 */
export function addVary(headers: Headers, name: string): void {
  const vary = headers.get('vary');
  if (vary === null) {
    headers.set('vary', name);
    return;
  }
  const members = vary
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member !== '');
  const lower = name.toLowerCase();
  if (members.some((member) => member === '*' || member.toLowerCase() === lower)) return;
  members.push(name);
  headers.set('vary', members.join(', '));
}
