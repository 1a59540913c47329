/**
 * What the proxy (src/handler.ts) is handed (the runtime's capabilities and what sidecar.ts shares
 * with the tunnels), what it builds once from them, and what it knows of one exchange.
 */
import type { Context } from 'hono';
import type { AccessRecord } from '../exchange.ts';
import type { Metrics } from '../metrics.ts';
import type { Admission, Release } from '../overload/admission.ts';
import type { Config } from '../config.ts';
import type { Identity } from '../auth/identity.ts';
import type { Compressor, ResponseCompression } from '../compress/compress.ts';
import type { Sampler } from '../tracing/sampler.ts';
import type { TraceContext } from '../tracing/trace-context.ts';
import type { createSend } from './upstream-call.ts';
import type { Door } from '../door.ts';
import type { AnswerHeaders } from './answer-headers.ts';
import type { Refusal } from './refusal.ts';
import type { UpstreamClient } from './upstream.ts';

export interface ProxyDeps {
  upstream: UpstreamClient;
  /** The client's address as the runtime saw it (Hono's getConnInfo for that runtime). */
  remoteAddress(c: Context): string | undefined;
  /** The request-target exactly as received, where the runtime exposes it (Node does). */
  rawTarget?(c: Context): string | undefined;
  /** The request's header fields as the parser read them (name, value, ...), where the runtime exposes them (Node does). */
  rawHeaders?(c: Context): readonly string[];
  /** The runtime's server writes a Response whose headers record holds a repeated field as an array (node:http via @hono/node-server). */
  headerArrays?: boolean;
  /** Receives one record per finished request. */
  log(record: AccessRecord): void;
  metrics: Metrics;
  /**
   * The authority of an HTTP/2 request (`:authority`), where the runtime hands it over without a
   * Host header (Node's adapter and Deno do); the app speaks HTTP/1.1 and needs Host.
   */
  authority?(c: Context): string | undefined;
  /** `http`, or `https` once the listener terminates TLS. */
  proto?: 'http' | 'https';
  /** Called with what the sidecar itself failed on (a bug, not an upstream failure). */
  onInternalError?(error: unknown): void;
  /** Told whenever the app answered, so readiness need not probe while traffic flows. */
  onUpstreamAnswered?(): void;
  /** Takes a WebSocket handshake (upgrade.ts) on runtimes whose server hands it to the fetch handler. */
  tunnel?(c: Context): Promise<Response>;
  /** MAX_CONCURRENT_REQUESTS' limiter, when it is shared with WebSocket handshakes; made here otherwise. */
  admission?: Admission | undefined;
  /** The edge limits and access control (door.ts), shared with WebSocket handshakes; none when all are off. */
  door?: Door | undefined;
  /** COMPRESS's compressor (node:zlib with a flush per chunk on every runtime); without it, nothing is compressed. */
  compressor?: Compressor | undefined;
  /** Whether the runtime's parser refused (and answered) the rest of this request (Node: `clientError`). */
  refusal?(c: Context): Refusal | undefined;
  /** Whether the drain has begun: answers then carry `Connection: close` (proxy/answer-headers.ts). */
  draining?(): boolean;
  /** The request's HTTP version where the runtime says (Node): an HTTP/2 answer gets no Connection header. */
  httpVersion?(c: Context): string | undefined;
}

/** One exchange as the handler sees it: its record, and the slot it holds until it finishes. */
export interface Exchange {
  record: AccessRecord;
  trace: TraceContext;
  context: Context;
  startedAtPerf: number;
  done: boolean;
  /** The slot under MAX_CONCURRENT_REQUESTS this exchange holds, if any (given back by releaseSlot). */
  release: Release | undefined;
  /** The connection's peer (the record's remoteAddr becomes the client once the door has decided). */
  peer: string | undefined;
  /** Who access control let through, and the Set-Cookie a refreshed session adds to the answer. */
  identity?: Identity | undefined;
  setCookie?: string[] | undefined;
  /** The body passed MAX_REQUEST_BODY_BYTES while streaming: the answer is 413. */
  bodyTooLarge?: boolean;
}

/** What every request's steps share: the config, the runtime's capabilities, and what was built once from them. */
export interface Proxy {
  config: Config;
  deps: ProxyDeps;
  proto: 'http' | 'https';
  admission: Admission | undefined;
  sample: Sampler;
  send: ReturnType<typeof createSend>;
  /** COMPRESS: the response step, with the runtime's compressor; undefined when off. */
  compress: ResponseCompression | undefined;
  /** The edge limits and access control (door.ts); undefined when all are off. */
  door: Door | undefined;
  /** MAX_REQUEST_BODY_BYTES; 0: no limit. */
  maxBody: number;
  /** HSTS and the drain's Connection: close on every answer (answer-headers.ts); undefined when neither can apply. */
  answers: AnswerHeaders | undefined;
}
