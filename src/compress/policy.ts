/**
 * Whether a response may be compressed at all, whatever the client accepts. WebSocket handshakes
 * never reach this: the handler hands them to the tunnel (src/upgrade.ts) before anything else,
 * and their 101 would be refused below in any case.
 */
import type { UpstreamResponse } from '../proxy/upstream.ts';

export interface CompressPolicy {
  /** COMPRESS_TYPES: media types, lower case, without parameters. */
  types: ReadonlySet<string>;
  /** COMPRESS_MIN_BYTES. */
  minBytes: number;
}

/** Why a response is sent as the app sent it; undefined when it may be compressed. */
export type SkipReason =
  | 'head'
  | 'bodiless-status'
  | 'no-body'
  | 'partial'
  | 'encoded'
  | 'no-transform'
  | 'digest'
  | 'event-stream'
  | 'type'
  | 'too-small';

/**
 * Statuses that never carry content (RFC 9110 §15.2, §15.3.5, §15.3.6, §15.4.5): 1xx, 204,
 * 205, 304. 206 is refused with Content-Range below.
 */
function bodiless(status: number): boolean {
  return status < 200 || status === 204 || status === 205 || status === 304;
}

/**
 * Digests of the bytes as the app sent them (RFC 9530 Content-Digest and Repr-Digest, RFC 3230
 * Digest) would no longer match the compressed bytes: the app vouched for its own encoding.
 */
const digestHeaders = ['content-digest', 'repr-digest', 'digest'];

export function skipReason(
  method: string,
  response: Pick<UpstreamResponse, 'status' | 'headers' | 'body'>,
  policy: CompressPolicy,
): SkipReason | undefined {
  const { status, headers, body } = response;
  // RFC 9110 §9.3.2: a HEAD answer has no content to compress; its headers stay the app's.
  if (method === 'HEAD') return 'head';
  if (bodiless(status)) return 'bodiless-status';
  if (body === null || (body instanceof Uint8Array && body.byteLength === 0)) return 'no-body';
  // Byte ranges count bytes of the identity body: compressing a part would mix two encodings
  // in the client's reassembled file (RFC 9110 §14.4).
  if (status === 206 || headers.has('content-range')) return 'partial';
  const encoding = headers.get('content-encoding');
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') return 'encoded';
  // RFC 9110 §7.7, RFC 9111 §5.2.2.6: the app asked that no one transform its content.
  if (hasNoTransform(headers.get('cache-control'))) return 'no-transform';
  if (digestHeaders.some((name) => headers.has(name))) return 'digest';
  const type = mediaTypeOf(headers.get('content-type'));
  // Never, even if listed: a buffering compressor breaks server-sent events (caddy#6293).
  if (type === 'text/event-stream') return 'event-stream';
  if (type === undefined || !policy.types.has(type)) return 'type';
  const length = body instanceof Uint8Array ? body.byteLength : contentLength(headers.get('content-length'));
  if (length !== undefined && length < policy.minBytes) return 'too-small';
  return undefined;
}

/** `text/html; charset=utf-8` -> `text/html` (RFC 9110 §8.3.1: type and subtype are case-insensitive). */
export function mediaTypeOf(contentType: string | null): string | undefined {
  if (contentType === null) return undefined;
  const semicolon = contentType.indexOf(';');
  const type = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return type === '' ? undefined : type;
}

/**
 * Whether a Cache-Control value holds the `no-transform` directive (RFC 9111 §5.2: names are
 * case-insensitive; an argument in quotes may contain commas, so quoted strings are skipped).
 */
export function hasNoTransform(cacheControl: string | null): boolean {
  if (cacheControl === null) return false;
  const unquoted = cacheControl.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return unquoted.split(',').some((directive) => directive.split('=', 1)[0]?.trim().toLowerCase() === 'no-transform');
}

/**
 * The declared length, or undefined when unknown. Headers joins repeated fields with ", ";
 * RFC 9110 §8.6 allows a list of one value repeated. Anything else counts as unknown.
 */
function contentLength(value: string | null): number | undefined {
  if (value === null) return undefined;
  let length: number | undefined;
  for (const part of value.split(',')) {
    const text = part.trim();
    if (!/^\d+$/.test(text) || (length !== undefined && Number(text) !== length)) return undefined;
    length = Number(text);
  }
  return length;
}
