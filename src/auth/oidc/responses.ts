/**
 * The login's own answers. None may be cached by the browser or a shared cache: they carry
 * Set-Cookie, a one-time `state`, or an answer that changes once the IdP is back (RFC 9111 §5.2.2.5).
 */
const NO_STORE = 'no-store';

export function redirect(location: string, setCookies: readonly string[] = []): Response {
  const headers = new Headers({ location, 'cache-control': NO_STORE });
  for (const cookie of setCookies) headers.append('set-cookie', cookie);
  return new Response(null, { status: 302, headers });
}

/** A one-line plain-text answer saying why. */
export function text(status: number, message: string, setCookies: readonly string[] = []): Response {
  const headers = new Headers({
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': NO_STORE,
    'x-content-type-options': 'nosniff',
  });
  for (const cookie of setCookies) headers.append('set-cookie', cookie);
  return new Response(`${message}\n`, { status, headers });
}

/** The IdP's metadata never arrived (discovery.ts keeps trying): 503, and when to try again. */
export function idpUnavailable(): Response {
  const response = text(503, 'sign-in is unavailable: the identity provider has not answered yet; try again shortly');
  response.headers.set('retry-after', '10');
  return response;
}

/**
 * The session cookie is never set in clear text (it would be a bearer credential on the wire), so
 * a login over plain HTTP from another machine is refused, and says how to fix it.
 */
export function needsHttps(): Response {
  return text(
    400,
    'sign-in needs HTTPS: the session cookie is only set over TLS (or X-Forwarded-Proto: https from a trusted proxy) or to a loopback client',
  );
}
