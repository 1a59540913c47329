/**
 * What the app receives: the upstream URL and the forwarded headers.
 */
import type { Config } from '../config.ts';
import { formatTraceparent } from '../tracing/trace-context.ts';
import type { TraceContext } from '../tracing/trace-context.ts';

/**
 * Hop-by-hop headers: meaningful only for one connection, never forwarded (RFC 9110 §7.6.1,
 * RFC 9112 §9.6). `Proxy-Connection` is the pre-standard spelling some clients still send;
 * `Keep-Alive` is RFC 2068's. Every header a `Connection` header names is hop-by-hop too.
 */
export const hopByHopHeaders: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Removes the hop-by-hop headers, including every one `Connection` names, in place. */
export function stripHopByHop(headers: Headers): Headers {
  const connection = headers.get('connection');
  if (connection !== null) {
    for (const name of connection.split(',')) {
      const token = name.trim().toLowerCase();
      if (token) headers.delete(token);
    }
  }
  for (const name of hopByHopHeaders) headers.delete(name);
  return headers;
}

/**
 * The upstream URL: TARGET's origin and prefix, then the request's path and query, joined as
 * strings. Never `new URL(path, TARGET)`: a path such as `//evil.example/x` would resolve to
 * another host. `pathAndQuery` always starts with `/` here, whatever the request-target's form.
 */
export function upstreamUrl(target: Config['TARGET'], pathAndQuery: string): string {
  return target.href + pathAndQuery;
}

/**
 * The path and query of a request URL, as the runtime received them. An absolute-form
 * request-target (`GET http://other/x HTTP/1.1`) arrives as a full URL on some runtimes: only its
 * path and query are kept, so the request can never choose the upstream host.
 */
export function pathAndQueryOf(requestUrl: string): string {
  const schemeEnd = requestUrl.indexOf('://');
  const pathStart = schemeEnd === -1 ? 0 : requestUrl.indexOf('/', schemeEnd + 3);
  if (pathStart === -1) {
    const query = requestUrl.indexOf('?', schemeEnd + 3);
    return query === -1 ? '/' : `/${requestUrl.slice(query)}`;
  }
  const hash = requestUrl.indexOf('#', pathStart);
  return hash === -1 ? requestUrl.slice(pathStart) : requestUrl.slice(pathStart, hash);
}

/** A `.` or `..` path segment, literal or percent-encoded (RFC 3986 §5.2.4). */
const dotSegment = /\/(?:\.|%2e){1,2}(?:[/?#]|$)/i;

/**
 * The request-target to forward. The runtime's raw one when it has it, so legal characters the
 * WHATWG URL parser would re-encode (a `'` in the query, say) reach the app byte for byte; the
 * runtime's parsed URL when the raw target has dot segments, so `/../` can never climb out of
 * TARGET's path prefix, or when it is not in origin-form.
 */
export function requestTarget(raw: string | undefined, requestUrl: string): string {
  if (raw !== undefined && raw.startsWith('/')) {
    const path = raw.split('?', 1)[0] as string;
    if (!dotSegment.test(path) && !path.includes('\\')) return raw;
  }
  const target = pathAndQueryOf(requestUrl);
  return dotSegment.test(target.split('?', 1)[0] as string) ? removeDotSegments(target) : target;
}

/**
 * Resolves `.` and `..` segments (some runtimes hand them over as received). The path is
 * appended to a fixed origin as a string, never resolved against one, so `//host/..` stays a path.
 */
function removeDotSegments(target: string): string {
  const url = new URL(`http://sidecar.invalid${target.replace(/%2e/gi, '.')}`);
  return url.pathname + url.search;
}

/** `X-Request-Id`: 1 to 200 visible ASCII characters are kept; anything else is replaced. */
const validRequestId = /^[\x21-\x7e]{1,200}$/;

export function requestIdFor(incoming: string | null): string {
  return incoming !== null && validRequestId.test(incoming) ? incoming : crypto.randomUUID();
}

export interface ForwardedFor {
  /** The client's address as the runtime saw it (IPv6 without brackets), when known. */
  remoteAddress: string | undefined;
  /** `http` or `https`: how the client reached the sidecar. */
  proto: string;
}

/**
 * Adds the X-Forwarded-* headers (de-facto standard, as nginx and Envoy send them; RFC 7239's
 * `Forwarded` is not added because the app was written against these). Runs after
 * stripHopByHop, so a client's `Connection: x-forwarded-for` cannot remove them.
 * X-Forwarded-For appends to the incoming list; Proto and Host are the sidecar's own view and
 * replace whatever the client claimed.
 */
export function addForwardedHeaders(headers: Headers, via: ForwardedFor): void {
  if (via.remoteAddress) {
    const prior = headers.get('x-forwarded-for');
    headers.set('x-forwarded-for', prior ? `${prior}, ${via.remoteAddress}` : via.remoteAddress);
  }
  headers.set('x-forwarded-proto', via.proto);
  const host = headers.get('host');
  if (host !== null) headers.set('x-forwarded-host', host);
  else headers.delete('x-forwarded-host');
}

/**
 * The headers the app receives, built in place from a copy of the client's: hop-by-hop ones go
 * first, so a client naming ours in Connection cannot remove them; then X-Forwarded-*,
 * X-Request-Id and the sidecar's traceparent. Requests and WebSocket handshakes (upgrade.ts)
 * both go through here, so a handshake never misses a header a request gets.
 */
export function prepareForwardHeaders(
  headers: Headers,
  via: ForwardedFor & { requestId: string; trace: TraceContext },
): void {
  stripHopByHop(headers);
  addForwardedHeaders(headers, via);
  headers.set('x-request-id', via.requestId);
  headers.set('traceparent', formatTraceparent(via.trace));
  // W3C Trace Context §3.3.1: tracestate belongs to the incoming traceparent; a new trace drops it.
  if (via.trace.parentSpanId === undefined) headers.delete('tracestate');
}
