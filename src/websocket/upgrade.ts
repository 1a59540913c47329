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
import { ClientAbortedError, OverloadedError, SidecarError, errorBodyBytes } from '../errors.ts';
import type { ErrorReason } from '../errors.ts';
import { prepareForwardHeaders, requestIdFor, requestTarget, upstreamUrl } from '../proxy/forward.ts';
import { finishRecord, startRecord } from '../exchange.ts';
import type { AccessRecord } from '../exchange.ts';
import type { Metrics } from '../metrics.ts';
import { Tunnel } from './tunnel.ts';
import { errorResponse } from '../errors.ts';
import type { Door } from '../door.ts';
import { checkDeclaredLength } from '../limits/body-limit.ts';
import { startSpan } from '../tracing/trace-context.ts';
import type { Sampler } from '../tracing/sampler.ts';

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
  /** The edge limits and access control (door.ts): a handshake is judged as a request is, before the app sees it. */
  door?: Door | undefined;
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
   * The door, as for any request (door.ts): the client decided, the allow list, the rate limit
   * and access control, and MAX_REQUEST_BODY_BYTES on a declared length (a handshake carries no
   * body). Undefined when the handshake may go on (the app's headers then carry the identity);
   * otherwise the answer to send, the handshake's record finished.
   */
  async enter(request: Request): Promise<Response | undefined> {
    const { door, config } = this.#deps;
    // The door first, as for requests (handler.ts): the body limit comes after access control.
    const turned = door && (await this.#door(door, request));
    if (turned) return turned;
    const maxBody = config.MAX_REQUEST_BODY_BYTES;
    if (maxBody > 0 && checkDeclaredLength(request.headers.get('content-length'), maxBody) === 'over') {
      this.#deps.metrics.refusals.inc({ reason: 'body_too_large' });
      return this.refuse(new SidecarError('body_too_large', 413, 'request body too large'), true);
    }
    return undefined;
  }

  async #door(door: Door, request: Request): Promise<Response | undefined> {
    const peer = this.record.remoteAddr;
    const outcome = await door({ request, peer, target: this.record.path, requestId: this.requestId });
    this.record.remoteAddr = outcome.client;
    if (outcome.client !== peer) this.record.peerAddr = peer;
    if (outcome.pass) {
      this.record.user = outcome.identity?.user;
      door.forwardHeaders(this.headers, outcome.identity);
      return undefined;
    }
    this.record.user = outcome.user;
    this.answered(outcome.response.status, outcome.error);
    return outcome.response;
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
      this.answered(error.status, error.reason, errorBodyBytes(error.message));
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

  /** The sidecar answers the handshake itself (errors.ts): the record finished with that answer's body size. */
  refuse(error: SidecarError, close = false): Response {
    this.answered(error.status, error.reason, errorBodyBytes(error.message));
    return errorResponse(error.status, error.message, this.requestId, close);
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
