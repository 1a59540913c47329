/**
 * What the app learns of the user, and what it must never learn from the client: the identity
 * headers oauth2-proxy's reverse-proxy mode sends (X-Forwarded-User, -Email, -Groups,
 * -Preferred-Username, -Access-Token) are removed from every request before the sidecar sets its
 * own, so a client can never claim to be someone. So are their spellings with `_`: CGI (RFC 3875
 * §4.1.18) turns `-` into `_` in HTTP_* variables, so PHP, WSGI and Rack apps read
 * `X_Forwarded_User` as the very same HTTP_X_FORWARDED_USER; nginx drops such headers by default
 * (underscores_in_headers off) for this reason.
 */
import type { Identity } from './identity.ts';

/** Lower case, as Headers iterates them. */
export const IDENTITY_HEADERS: readonly string[] = [
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-access-token',
  'x-forwarded-preferred-username',
];
const identityNames: ReadonlySet<string> = new Set(IDENTITY_HEADERS);

/** Removes every client-sent identity header, in any case and with `_` for `-`. */
export function stripIdentityHeaders(headers: Headers): void {
  let doomed: string[] | undefined;
  for (const name of headers.keys()) {
    // Cheap test first: every name to remove starts with x-forwarded (or x_forwarded).
    if (name.length < 16 || name.charCodeAt(0) !== 0x78 /* x */ || !name.startsWith('forwarded', 2)) continue;
    if (identityNames.has(name.replaceAll('_', '-'))) (doomed ??= []).push(name);
  }
  if (doomed) for (const name of doomed) headers.delete(name);
}

/**
 * A header value for a claim: ASCII as is; other text as its UTF-8 bytes, one byte a character
 * (a fetch Headers value is a ByteString), so the app receives the UTF-8 a Go or nginx proxy would
 * send. Control characters would split or end the header: such a value is left out.
 */
export function headerValue(text: string): string | undefined {
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(text)) return undefined;
  if (/^[\u0000-\u007f]*$/.test(text)) return text;
  let bytes = '';
  for (const byte of new TextEncoder().encode(text)) bytes += String.fromCharCode(byte);
  return bytes;
}

/**
 * Sets the identity headers on the request to the app (after stripIdentityHeaders). The access
 * token only with AUTH_PASS_ACCESS_TOKEN: the app otherwise never holds a credential it could
 * replay elsewhere.
 */
export function setIdentityHeaders(headers: Headers, identity: Identity, options: { passAccessToken: boolean }): void {
  const set = (name: string, text: string | undefined) => {
    const value = text === undefined ? undefined : headerValue(text);
    if (value !== undefined && value !== '') headers.set(name, value);
  };
  set('x-forwarded-user', identity.user);
  set('x-forwarded-email', identity.email);
  if (identity.groups !== undefined && identity.groups.length > 0) set('x-forwarded-groups', identity.groups.join(','));
  if (options.passAccessToken) set('x-forwarded-access-token', identity.accessToken);
}

/**
 * Removes the sidecar's own cookies (the session and the login's state) from the Cookie header,
 * leaving every other pair byte for byte, in order. A header without them is not touched.
 */
export function stripCookies(headers: Headers, names: readonly string[]): void {
  if (names.length === 0) return;
  const cookie = headers.get('cookie');
  if (cookie === null || !names.some((name) => cookie.includes(name))) return;
  const ours = (pair: string) => {
    const eq = pair.indexOf('=');
    return names.includes((eq === -1 ? pair : pair.slice(0, eq)).trim());
  };
  const kept: string[] = [];
  for (const pair of cookie.split(';')) {
    // Two Cookie fields (HTTP/2 may send one per cookie: RFC 9113 §8.2.3) can reach us joined by
    // `, ` as Headers joins any field; a comma is no cookie-octet (RFC 6265 §4.1.1), so it
    // separates pairs here too.
    if (pair.includes(',') && names.some((name) => pair.includes(name))) {
      const rest = pair.split(',').filter((part) => !ours(part));
      if (rest.length > 0) kept.push(rest.join(','));
    } else if (!ours(pair)) kept.push(pair);
  }
  if (kept.length === 0) {
    headers.delete('cookie');
    return;
  }
  // The first pair kept may have been a later one: without the space that followed a `;`.
  kept[0] = (kept[0] as string).replace(/^ +/, '');
  const rest = kept.join(';');
  if (rest.trim() === '') headers.delete('cookie');
  else headers.set('cookie', rest);
}
