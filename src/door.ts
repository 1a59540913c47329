/**
 * The door: who the client is and whether they may come in, before anything reaches the app, in
 * the order docs/behaviour.md (Edge limits) promises:
 *   client address (limits/client-address.ts: the peer, or X-Forwarded-For from TRUSTED_PROXIES)
 *   -> allow list (ALLOW_CIDRS: 403) -> rate limit (RATE_LIMIT_RPS: 429)   (limits/edge.ts)
 *   -> access control (auth/authenticate.ts: 401, 403, the login's redirect and routes)
 * Requests and WebSocket handshakes go through the same door. Built once from the
 * configuration; undefined when every limit and access control are off, so the request path
 * pays nothing for them.
 */
import type { Config } from './config.ts';
import { errorResponse } from './errors.ts';
import type { ErrorReason } from './errors.ts';
import type { Metrics, RefusalReason } from './metrics.ts';
import type { Authenticator } from './auth/authenticate.ts';
import type { AuthMethod, Identity } from './auth/identity.ts';
import { createEdgeStep } from './limits/edge.ts';
import type { EdgeRefusal, EdgeStep } from './limits/edge.ts';

/** What the door is shown of a request (or a WebSocket handshake). */
export interface Visitor {
  request: Request;
  /** The connection's peer address, as the runtime saw it. */
  peer: string | undefined;
  /** The request-target as the app will receive it: skip paths are judged on exactly that. */
  target: string;
  requestId: string;
}

export interface Admitted {
  pass: true;
  /** The client's address: the log's remote_addr, the limits' key, spans' client.address. */
  client: string | undefined;
  /** Who the user is (access control on), for the app's X-Forwarded-User and the log's `user`. */
  identity?: Identity | undefined;
  /** Set-Cookie headers the client must get with the app's answer (a refreshed session). */
  setCookie?: string[] | undefined;
}

export interface Turned {
  pass: false;
  client: string | undefined;
  /** The sidecar's answer: a refusal, or one of the login's own routes. */
  response: Response;
  /** The log's `error` (undefined for the login's routes, which are answers, not refusals). */
  error: ErrorReason | undefined;
  user?: string | undefined;
}

export interface Door {
  (visitor: Visitor): Promise<Admitted | Turned> | Admitted | Turned;
  /** The headers the app receives for an admitted request: spoofed identity headers and the sidecar's cookies removed, the identity's set. */
  forwardHeaders(headers: Headers, identity: Identity | undefined): void;
}

export interface DoorDeps {
  metrics: Metrics;
  /** Access control (auth/authenticate.ts), when a method is configured. */
  auth?: Authenticator | undefined;
  /** The listener terminates TLS: the session cookie may be set. */
  tls: boolean;
}

const messages: Record<EdgeRefusal['error'], string> = {
  forbidden: 'forbidden: the client address is not allowed',
  rate_limited: 'too many requests: slow down',
};

export function createDoor(config: Config, deps: DoorDeps): Door | undefined {
  const edge = createEdgeStep(config);
  const { auth, metrics } = deps;
  if (edge === undefined && auth === undefined) return undefined;
  const trusted = config.TRUSTED_PROXIES;
  const door = (visitor: Visitor): Promise<Admitted | Turned> | Admitted | Turned => {
    const { client, refusal } = edge ? edgeOf(edge, visitor) : { client: visitor.peer, refusal: undefined };
    if (refusal !== undefined) return turnAway(metrics, client, visitor.requestId, refusal);
    if (auth === undefined) return { pass: true, client };
    // X-Forwarded-Proto is believed only from a trusted proxy (oauth2-proxy#3506's lesson).
    const forwardedProto = visitor.peer !== undefined && trusted.has(visitor.peer);
    const https = deps.tls || (forwardedProto && visitor.request.headers.get('x-forwarded-proto')?.trim() === 'https');
    return authenticate(auth, metrics, visitor, client, https);
  };
  return Object.assign(door, {
    forwardHeaders: (headers: Headers, identity: Identity | undefined) => auth?.forwardHeaders(headers, identity),
  });
}

function edgeOf(edge: EdgeStep, visitor: Visitor) {
  return edge(visitor.peer, visitor.request.headers.get('x-forwarded-for'));
}

function turnAway(metrics: Metrics, client: string | undefined, requestId: string, refusal: EdgeRefusal): Turned {
  metrics.refusals.inc({ reason: refusal.error });
  const response = errorResponse(refusal.status, messages[refusal.error], requestId);
  for (const [name, value] of Object.entries(refusal.headers)) response.headers.set(name, value);
  return { pass: false, client, response, error: refusal.error };
}

async function authenticate(
  auth: Authenticator,
  metrics: Metrics,
  visitor: Visitor,
  client: string | undefined,
  https: boolean,
): Promise<Admitted | Turned> {
  const outcome = await auth.authenticate(visitor.request, {
    client,
    https,
    target: visitor.target,
    requestId: visitor.requestId,
  });
  if (outcome.pass) {
    metrics.auth.inc({ method: outcome.method, result: 'ok' });
    return { pass: true, client, identity: outcome.identity, setCookie: outcome.setCookie };
  }
  if (outcome.result === 'route') return { pass: false, client, response: outcome.response, error: undefined };
  if (outcome.result === 'unavailable') {
    return { pass: false, client, response: outcome.response, error: 'auth_unavailable' };
  }
  // No credentials at all: counted as `none`, so the dashboard tells anonymous traffic from bad tokens.
  const method: AuthMethod | 'none' = outcome.method ?? 'none';
  metrics.auth.inc({ method, result: outcome.result });
  const reason: RefusalReason = outcome.result;
  metrics.refusals.inc({ reason: reason === 'forbidden' ? 'forbidden' : 'unauthenticated' });
  return { pass: false, client, response: outcome.response, error: outcome.result, user: outcome.user };
}
