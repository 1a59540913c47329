/**
 * WebSocket tunnels (docs/behaviour.md, Upgrade and WebSocket): the part every runtime shares.
 * Recognising a handshake, the headers the app receives (the same code path as any request:
 * forward.ts), the headers the client's 101 carries, the tunnel's access record and metrics, and
 * the registry that drain() waits on (the 101's headers: handshake-headers.ts; an open tunnel and
 * the Bun/Deno entry: tunnel.ts). Moving bytes or messages is the runtime's business
 * (runtimes/node/tunnel.ts raw, src/websocket/message-relay.ts for message relays).
 *
 * A tunnel's life, as the core sees it:
 *   begin(request)  -> a Handshake: upstream URL and headers; counts as an active request
 *   answered(...)   -> the app did not switch protocols (refused, down, silent): an ordinary record
 *   opened(close)   -> 101: the handshake enters the histogram as a 101 with its own duration, it
 *                      leaves http_server_active_requests, sidecar_tunnels_* count it from here
 *   closed(...)     -> one access record for the whole tunnel: status 101, `upgrade: websocket`
 */
import type { Context } from 'hono';
import type { Config } from '../config.ts';
import type { Admission, Release } from '../overload/admission.ts';
import { ClientAbortedError, OverloadedError } from '../errors.ts';
import type { SidecarError } from '../errors.ts';
import type { ErrorReason } from '../errors.ts';
import { prepareForwardHeaders, requestIdFor, requestTarget, upstreamUrl } from '../proxy/forward.ts';
import { finishRecord, startRecord } from '../exchange.ts';
import type { AccessRecord } from '../exchange.ts';
import type { Metrics } from '../metrics.ts';
import { Tunnel } from './tunnel.ts';
import { errorResponse } from '../errors.ts';
import { startSpan } from '../tracing/trace-context.ts';
import type { Sampler } from '../tracing/sampler.ts';

/** Whether a comma-separated header value lists `token` (case-insensitive, RFC 9110 §5.6.1). */
function listsToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  for (const item of value.split(',')) {
    // An Upgrade item may carry a version (`name/version`, RFC 9110 §7.8); a WebSocket one has none.
    if (item.trim().toLowerCase() === token) return true;
  }
  return false;
}

/**
 * RFC 6455 §4.1: a WebSocket handshake is a GET whose Connection names `upgrade` and whose Upgrade
 * lists `websocket`. Anything else carrying Upgrade (h2c, a custom token, another method, an
 * Upgrade that Connection does not name) is an ordinary request whose Upgrade is hop-by-hop.
 */
export function isWebSocketHandshake(method: string | undefined, headers: Pick<Headers, 'get'>): boolean {
  return (
    method === 'GET' &&
    listsToken(headers.get('upgrade'), 'websocket') &&
    listsToken(headers.get('connection'), 'upgrade')
  );
}

/** What the runtime saw of the handshake request. */
export interface HandshakeRequest {
  method: string;
  /** The client's headers: a copy the core may change. */
  headers: Headers;
  /** The request-target exactly as received, where the runtime exposes it. */
  rawTarget: string | undefined;
  /** The runtime's (parsed) request URL. */
  url: string;
  remoteAddress: string | undefined;
  /** The fetch handler's context where there is one (Bun, Deno): the span reads Host and scheme from it. */
  context?: Context;
}

export interface TunnelDeps {
  config: Config;
  metrics: Metrics;
  log(record: AccessRecord): void;
  proto?: 'http' | 'https';
  onUpstreamAnswered?(): void;
  /**
   * MAX_CONCURRENT_REQUESTS: a handshake in flight holds a slot, as a request does (docs/behaviour.md,
   * "Protecting the app"); the open tunnel does not, so the slot is given back at the app's answer.
   */
  admission?: Admission | undefined;
  /** OTEL_TRACES_SAMPLER's decision, as for requests: the sampled flag the app receives, and whether the tunnel's record becomes a span. */
  sample?: Sampler;
}

/** Where a handshake reports to the registry (tunnels.ts) that drain() waits on. */
export interface Registry {
  opened(tunnel: Tunnel): void;
  /** A handshake that led nowhere (undefined) or a tunnel that closed. */
  ended(tunnel: Tunnel | undefined): void;
}

export class Handshake {
  /** Absolute URL at TARGET (http: or https:; a WebSocket client uses ws:/wss: for the same place). */
  readonly url: string;
  /** What the app receives: the request's forwarded headers plus `Connection: Upgrade`, `Upgrade: websocket`. */
  readonly headers: Headers;
  readonly requestId: string;
  /** The subprotocols the client offered, in its order (a relay offers the app the same). */
  readonly protocols: string[];
  readonly record: AccessRecord;
  readonly #deps: TunnelDeps;
  readonly #registry: Registry;
  readonly #startedAtPerf = performance.now();
  #done = false;
  #release: Release | undefined;

  constructor(deps: TunnelDeps, request: HandshakeRequest, registry: Registry) {
    const { config, metrics } = deps;
    this.#deps = deps;
    this.#registry = registry;
    const headers = request.headers;
    this.requestId = requestIdFor(headers.get('x-request-id'));
    const trace = startSpan(headers.get('traceparent'), deps.sample);
    const path = requestTarget(request.rawTarget, request.url);
    // The same record as a request's (exchange.ts), so every consumer of records (the log line,
    // and a span exporter) treats a tunnel like a request that lasted as long as it did.
    this.record = startRecord(config, {
      method: request.method,
      path,
      requestId: this.requestId,
      trace,
      remoteAddr: request.remoteAddress,
      userAgent: headers.get('user-agent'),
      context: request.context,
      // Node's raw tunnel has no context: the span reads the request from here (the headers as
      // forwarded keep the client's Host, tracestate and, first in X-Forwarded-For, its client).
      request: request.context
        ? undefined
        : { headers, url: `${deps.proto ?? 'http'}://${headers.get('host') ?? ''}${path}` },
    });
    this.protocols = (headers.get('sec-websocket-protocol') ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    prepareForwardHeaders(headers, {
      remoteAddress: request.remoteAddress,
      proto: deps.proto ?? 'http',
      requestId: this.requestId,
      trace,
    });
    headers.delete('content-length');
    // Stripped as hop-by-hop with the rest; the app must still be asked to switch (RFC 6455 §4.1).
    headers.set('connection', 'Upgrade');
    headers.set('upgrade', 'websocket');
    this.headers = headers;
    this.url = upstreamUrl(config.TARGET, path);
    metrics.requestStarted();
  }

  /**
   * Waits for a slot under MAX_CONCURRENT_REQUESTS before the app is asked (at once, and
   * undefined, without a limit). When no slot came, the handshake has been answered (503
   * `overloaded`, or 499 when `signal` says the client left the queue) and the error it resolves
   * with is what the caller sends the client.
   */
  async admit(signal: AbortSignal): Promise<SidecarError | undefined> {
    const admission = this.#deps.admission;
    if (admission === undefined) return undefined;
    try {
      this.#release = await admission.admit(this.record, signal);
      return undefined;
    } catch (error) {
      if (!(error instanceof OverloadedError || error instanceof ClientAbortedError)) throw error;
      this.answered(error.status, error.reason);
      return error;
    }
  }

  #giveBackSlot(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  /** Milliseconds since the handshake began. */
  get elapsedMs(): number {
    return performance.now() - this.#startedAtPerf;
  }

  /**
   * No tunnel: the app answered something other than 101 (its answer relayed, `bytes` of body),
   * or the sidecar answered itself (502, 504, 499 ...). Logged and counted as any request.
   */
  answered(status: number, error?: ErrorReason, bytesOut = 0): void {
    if (this.#done) return;
    this.#done = true;
    this.#giveBackSlot();
    this.record.bytesOut = bytesOut;
    if (error === undefined) this.#deps.onUpstreamAnswered?.();
    finishRecord(this.record, { status, error, durationMs: this.elapsedMs }, this.#deps);
    this.#registry.ended(undefined);
  }

  /**
   * The app answered 101 and the client has (or is being sent) it. `close` ends the tunnel at
   * the drain deadline: it must lead to the tunnel's closed() soon after.
   */
  opened(close: () => void): Tunnel {
    if (this.#done) throw new Error('handshake already finished');
    this.#done = true;
    this.#giveBackSlot();
    const { metrics } = this.#deps;
    metrics.requestFinished(this.record.method, 101, this.elapsedMs / 1000);
    metrics.tunnelOpened();
    this.#deps.onUpstreamAnswered?.();
    this.record.status = 101;
    this.record.upgrade = 'websocket';
    const tunnel = new Tunnel(this.record, close, () => {
      metrics.tunnelClosed();
      this.record.durationMs = this.elapsedMs;
      this.#deps.log(this.record);
      this.#registry.ended(tunnel);
    });
    this.#registry.opened(tunnel);
    this.#registry.ended(undefined);
    return tunnel;
  }
}

/**
 * The handler's `tunnel` on runtimes whose server hands a handshake to the fetch handler (Bun,
 * Deno): the handshake begins here, `carry` answers it and runs the tunnel. A failure of the
 * sidecar's own is a 500, and the handshake still ends (drain must not wait on it).
 */
export function tunnelThroughFetch(
  begin: (request: HandshakeRequest) => Handshake,
  carry: (c: Context, handshake: Handshake) => Promise<Response>,
  seen: { rawTarget?(c: Context): string | undefined; remoteAddress(c: Context): string | undefined },
  onInternalError: (error: unknown) => void,
): (c: Context) => Promise<Response> {
  return async (c) => {
    const request = c.req.raw;
    const handshake = begin({
      method: request.method,
      headers: new Headers(request.headers),
      rawTarget: seen.rawTarget?.(c),
      url: request.url,
      remoteAddress: seen.remoteAddress(c),
      context: c,
    });
    try {
      const refused = await handshake.admit(request.signal);
      if (refused) return errorResponse(refused.status, refused.message, handshake.requestId);
      return await carry(c, handshake);
    } catch (error) {
      onInternalError(error);
      handshake.answered(500, 'internal');
      return errorResponse(500, 'internal proxy error', handshake.requestId);
    }
  };
}
