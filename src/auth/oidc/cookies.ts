/**
 * The sidecar's two cookies and their attributes. Both use the `__Host-` prefix (RFC 6265bis
 * §4.1.3.2): the browser accepts them only with `Secure`, `Path=/` and no `Domain`, so a sibling
 * subdomain cannot plant or overwrite them (cookie tossing). `HttpOnly` keeps them from scripts;
 * `SameSite=Lax` sends them on top-level navigations, which the IdP's redirect back to the callback
 * is, and not on cross-site subrequests.
 */
export const SESSION_COOKIE = '__Host-sidecar_session';
export const LOGIN_COOKIE = '__Host-sidecar_login';

/**
 * Browsers keep a cookie whose name, value and attributes fit in 4096 bytes (RFC 6265 §6.1 sets
 * that as the minimum they must support; Chromium and Firefox stop there). oauth2-proxy splits
 * larger sessions into several cookies, which then break upstream header limits
 * (oauth2-proxy/oauth2-proxy#388, #644); the session here always fits in one.
 */
export const MAX_SET_COOKIE_BYTES = 4095;

const ATTRIBUTES = 'Path=/; Secure; HttpOnly; SameSite=Lax';

export function setCookie(name: string, value: string, maxAgeS: number): string {
  return `${name}=${value}; Max-Age=${Math.max(0, Math.floor(maxAgeS))}; ${ATTRIBUTES}`;
}

/** A `__Host-` cookie is only replaced, or removed, by one with the same prefix rules. */
export function clearCookie(name: string): string {
  return `${name}=; Max-Age=0; ${ATTRIBUTES}`;
}

/** The value of the first cookie called `name` in the request's Cookie header(s) (RFC 6265 §5.4). */
export function readCookie(request: Request, name: string): string | undefined {
  const header = request.headers.get('cookie');
  if (header === null || !header.includes(name)) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
