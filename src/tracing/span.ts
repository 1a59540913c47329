/**
 * The exchange's SERVER span, made from its access record when the record is logged: the same
 * trace and span ids as the log line, the incoming parent, and the OpenTelemetry HTTP server
 * semantic conventions (open-telemetry/semantic-conventions docs/http/http-spans.md, "HTTP server
 * span"). A WebSocket tunnel's record is logged when the tunnel closes, so its span covers the
 * tunnel; time the request waited in a queue is inside the record's duration, so inside the span.
 */
import type { Context } from 'hono';
import type { AccessRecord } from '../exchange.ts';
import { methodLabel } from '../metrics.ts';

/** Attribute values are strings or integers (int64 on the wire). */
export type AttributeValue = string | number;

export interface SpanData {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  traceState: string | undefined;
  /** OTLP Span.flags: W3C trace flags in bits 0-7, bit 8 "has is_remote", bit 9 "parent is remote" (trace.proto SpanFlags). */
  flags: number;
  name: string;
  /** Epoch milliseconds, and the duration in milliseconds (fractional). */
  startMs: number;
  durationMs: number;
  /** Flat: key, value, key, value... (one array per span, not one per attribute). */
  attributes: AttributeValue[];
  /** Status ERROR (trace.proto Status.StatusCode 2) when true, else UNSET. */
  error: boolean;
}

/** What only the runtime knows about an exchange: the HTTP version its parser read (Node's does). */
export type HttpVersionOf = (c: Context) => string | undefined;

const hasIsRemote = 0x100;
const isRemote = 0x200;

/**
 * Query keys whose values semconv says to redact by default ([10] url.query: signed URLs'
 * signatures and credentials), kept case-sensitive as it asks.
 */
const sensitiveQueryKeys = new Set([
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'AWSAccessKeyId',
  'Signature',
  'sig',
  'X-Goog-Signature',
]);

/** The span for a record, or undefined when the sampler dropped it (the flag the app got says 00). */
export function spanFromRecord(record: AccessRecord, httpVersion?: HttpVersionOf): SpanData | undefined {
  const flags = parseInt(record.traceFlags ?? '01', 16);
  if ((flags & 1) === 0) return undefined;
  const c = record.context;
  const request = record.request ?? c?.req.raw;
  const headers = request?.headers;
  const attributes: AttributeValue[] = [];

  // http-spans.md "Name": {method}, or HTTP when the method is not a known one; never the path.
  const method = methodLabel(record.method);
  addAttribute(attributes, 'http.request.method', method);
  if (method === '_OTHER') addAttribute(attributes, 'http.request.method_original', record.method);
  const q = record.path.indexOf('?');
  addAttribute(attributes, 'url.path', q < 0 ? record.path : record.path.slice(0, q));
  if (q >= 0) addAttribute(attributes, 'url.query', redactQuery(record.path.slice(q + 1)));
  addAttribute(attributes, 'url.scheme', request ? schemeOf(request.url) : 'http');
  // The sidecar treats the client's Host as authoritative (forward.ts overwrites X-Forwarded-Host), so it names the server.
  const host = splitHost(headers?.get('host') ?? null);
  addAttribute(attributes, 'server.address', host?.address);
  addAttribute(attributes, 'server.port', host?.port);
  // [11] client.address: the client as the sidecar decided it (limits/client-address.ts: the peer,
  // or X-Forwarded-For from TRUSTED_PROXIES), never a header a client could forge.
  addAttribute(attributes, 'client.address', record.remoteAddr);
  addAttribute(attributes, 'network.peer.address', record.peerAddr ?? record.remoteAddr);
  addAttribute(attributes, 'user_agent.original', record.userAgent);
  const version = c && httpVersion ? httpVersion(c) : undefined;
  addAttribute(attributes, 'network.protocol.version', version === '2.0' ? '2' : version);
  // A client that left was sent nothing ("if and only if one was sent").
  if (record.status > 0 && record.error !== 'client_aborted')
    addAttribute(attributes, 'http.response.status_code', record.status);
  addAttribute(attributes, 'http.request.body.size', record.bytesIn);
  addAttribute(attributes, 'http.response.body.size', record.bytesOut);
  // [4] error.type: the sidecar's own reason, else the status code for a 5xx the app sent.
  addAttribute(attributes, 'error.type', record.error ?? (record.status >= 500 ? String(record.status) : undefined));

  const parentSpanId = record.parentSpanId;
  return {
    traceId: record.traceId,
    spanId: record.spanId,
    parentSpanId,
    traceState: parentSpanId === undefined ? undefined : (headers?.get('tracestate') ?? undefined),
    flags: (flags & 0xff) | hasIsRemote | (parentSpanId === undefined ? 0 : isRemote),
    name: method === '_OTHER' ? 'HTTP' : method,
    startMs: record.startedAt,
    durationMs: record.durationMs,
    attributes,
    // http-spans.md "Status": unset for 1xx-4xx on a SERVER span, Error for 5xx.
    error: record.status >= 500,
  };
}

/** An attribute, unless its value is missing or empty (semconv records only what is known). */
function addAttribute(attributes: AttributeValue[], key: string, value: AttributeValue | null | undefined): void {
  if (value !== undefined && value !== null && value !== '') attributes.push(key, value);
}

function schemeOf(url: string): string {
  const colon = url.indexOf(':');
  return colon > 0 ? url.slice(0, colon).toLowerCase() : 'http';
}

const digits = /^\d+$/;

/** `host`, `host:port`, `[v6]` or `[v6]:port` (RFC 9110 §7.2). */
function splitHost(value: string | null): { address: string; port: number | undefined } | undefined {
  if (value === null || value === '') return undefined;
  // The usual `host` or `host:port`, without a regular expression; anything else below.
  const v = value.trim();
  if (v.indexOf('[') === -1 && v.indexOf(']') === -1) {
    const colon = v.indexOf(':');
    if (colon === -1) return { address: v, port: undefined };
    const port = v.slice(colon + 1);
    if (port.length >= 1 && port.length <= 5 && digits.test(port))
      return { address: v.slice(0, colon), port: Number(port) };
  }
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!match) return { address: value, port: undefined };
  return {
    address: (match[1] as string).replace(/^\[|\]$/g, ''),
    port: match[2] === undefined ? undefined : Number(match[2]),
  };
}

function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq > 0 && sensitiveQueryKeys.has(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=REDACTED` : pair;
    })
    .join('&');
}
