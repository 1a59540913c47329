/**
 * The sidecar's own answers when access control says no: 401 with its challenges (RFC 9110
 * §11.6.1), 403, and 503 while the issuer's keys were never fetched. Short plain text, never
 * cached, as src/errors.ts's answers are.
 */

/** RFC 9110 §5.6.4 quoted-string; anything outside printable ASCII becomes `?` (a realm is a label, not data). */
export function quoted(text: string): string {
  return `"${text.replace(/[\\"]/g, '\\$&').replace(/[^\x20-\x7e]/g, '?')}"`;
}

function answer(status: number, body: string, requestId: string | undefined, extra: [string, string][] = []): Response {
  const headers = new Headers({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  if (requestId !== undefined) headers.set('x-request-id', requestId);
  for (const [name, value] of extra) headers.append(name, value);
  return new Response(`${body}\n`, { status, headers });
}

export interface Challenges {
  /** Bearer (JWT) is on; `invalidToken` when the request carried a token that failed (RFC 6750 §3.1). */
  bearer?: { invalidToken: boolean } | undefined;
  /** Basic is on: its realm, SRV_NAME (RFC 7617 §2, with charset="UTF-8" per §2.1). */
  basicRealm?: string | undefined;
}

/**
 * 401 with one WWW-Authenticate challenge per method that is on. With the session cookie as the
 * only method there is no HTTP scheme to name, so there is none (as oauth2-proxy answers).
 */
export function unauthenticated(challenges: Challenges, requestId: string | undefined): Response {
  const extra: [string, string][] = [];
  if (challenges.bearer)
    extra.push(['www-authenticate', challenges.bearer.invalidToken ? 'Bearer error="invalid_token"' : 'Bearer']);
  if (challenges.basicRealm !== undefined)
    extra.push(['www-authenticate', `Basic realm=${quoted(challenges.basicRealm)}, charset="UTF-8"`]);
  return answer(401, 'authentication required', requestId, extra);
}

/** 403: known, but not allowed; a bearer token gets RFC 6750 §3.1's insufficient_scope. */
export function forbidden(bearer: boolean, requestId: string | undefined): Response {
  const extra: [string, string][] = bearer ? [['www-authenticate', 'Bearer error="insufficient_scope"']] : [];
  return answer(403, 'forbidden', requestId, extra);
}

/** 503 while the identity provider was never reached; RFC 9110 §10.2.3 Retry-After says when to come back. */
export function unavailable(retryAfterSeconds: number, requestId: string | undefined): Response {
  return answer(503, 'identity provider not reachable yet', requestId, [['retry-after', String(retryAfterSeconds)]]);
}
