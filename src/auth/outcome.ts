/**
 * What authenticate() is told of a request and what it answers: a pass (with the identity the app
 * is told), a refusal (with the response the client gets), or one of the login's own routes.
 */
import type { AuthMethod, Identity } from './identity.ts';
import type { RequestInfo } from './session-auth.ts';

export interface AuthenticateInfo extends RequestInfo {
  /**
   * The request-target the app will receive (the handler's requestTarget()): skip paths are judged
   * on exactly what the app is sent. Defaults to the path and query of request.url.
   */
  target?: string | undefined;
  /** X-Request-Id for the sidecar's own answers. */
  requestId?: string | undefined;
}

/** Let through: the identity (none for a skip path) and any Set-Cookie the session refresh made. */
export interface AuthPass {
  pass: true;
  method: AuthMethod;
  identity?: Identity;
  setCookie?: string[];
}

/**
 * Not let through: `response` is the answer. `method` is the one that decided (undefined: no
 * credentials at all); `user` is set for a 403 only (the log's `user`). `unavailable` is a 503
 * (the IdP never reached): not a verdict on the user.
 */
export interface AuthRefusal {
  pass: false;
  method: AuthMethod | undefined;
  result: 'unauthenticated' | 'forbidden' | 'unavailable';
  response: Response;
  user?: string;
}

/** One of the login's own routes (AUTH_PATH_PREFIX), answered by the sidecar: neither a pass nor a refusal. */
export interface AuthRoute {
  pass: false;
  method: 'session';
  result: 'route';
  response: Response;
}

export type AuthOutcome = AuthPass | AuthRefusal | AuthRoute;
