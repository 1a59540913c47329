/**
 * What the OIDC login needs to know about a request beyond the request itself: where it came from
 * (the runtime's peer address, or the trusted proxy's X-Forwarded-For) and whether the browser
 * reached us over HTTPS (TLS on, or a trusted X-Forwarded-Proto). The handler works both out.
 */
export interface RequestInfo {
  client: string | undefined;
  https: boolean;
}

/** 127.0.0.0/8 and ::1, also as an IPv4-mapped IPv6 address (what a dual-stack socket reports). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const v4 = bare.toLowerCase().startsWith('::ffff:') ? bare.slice(7) : bare;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) return true;
  return /^(0{0,4}:){2,7}0{0,3}1$/.test(bare);
}

/**
 * `__Host-` cookies must be `Secure` (RFC 6265bis §4.1.3.2), and a session cookie sent in clear
 * text can be stolen on the way: it is set only over HTTPS, or to a browser on this machine
 * (development, where browsers treat loopback as a secure context).
 */
export function mayCarryCookies(info: RequestInfo): boolean {
  return info.https || isLoopback(info.client);
}

/** The origin the browser sees, for the redirect_uri and the logout's return address. */
export function browserOrigin(request: Request, info: RequestInfo): string {
  return `${info.https ? 'https' : 'http'}://${new URL(request.url).host}`;
}

/**
 * A browser navigation (a page load) asks for HTML with GET or HEAD; it is sent to the IdP's login,
 * while an API call or a script's request (`Accept: application/json`, or `*\/*` alone as fetch and
 * curl send) gets a 401 it can act on instead of a login page it cannot (oauth2-proxy's users ask
 * for exactly this split).
 */
export function isBrowserNavigation(request: Request): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const accept = request.headers.get('accept');
  if (accept === null) return false;
  for (const range of accept.split(',')) {
    const type = range.split(';', 1)[0]?.trim().toLowerCase();
    if (type === 'text/html') return true;
  }
  return false;
}
