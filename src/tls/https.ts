/**
 * What HTTPS adds around the proxy: the plain-HTTP listener's app that sends every request to
 * https (HTTP_REDIRECT_PORT). Strict-Transport-Security on HTTPS responses (HSTS_MAX_AGE) is
 * src/proxy/answer-headers.ts's.
 */
import { Hono } from 'hono';
import { pathAndQueryOf } from '../proxy/forward.ts';

/** A host name or an IP literal, as RFC 3986 §3.2.2 allows them in Host; nothing that could end the URL's authority early. */
const hostName = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)$/;

/** The request's host name with its port dropped, or undefined when Host is missing or malformed. */
export function hostWithoutPort(host: string | null): string | undefined {
  if (host === null) return undefined;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
  return name !== '' && hostName.test(name) ? name : undefined;
}

/**
 * Every request gets 308 to `https://` + its host name + its path and query. The port is dropped:
 * the HTTPS side is the standard port in front of the pod (the Service's 443), whatever the
 * sidecar listens on. 308 rather than 301 keeps the method and body (RFC 9110 §15.4.9).
 */
export function createRedirect(): Hono {
  const app = new Hono();
  app.all('*', (c) => {
    const host = hostWithoutPort(c.req.header('host') ?? null);
    if (host === undefined)
      return new Response('missing or malformed Host header\n', {
        status: 400,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
    return new Response(null, { status: 308, headers: { location: `https://${host}${pathAndQueryOf(c.req.url)}` } });
  });
  return app;
}

/** Printed before the listening line, so a caller that waits for that line can read this one. */
export function redirectMessage(host: string, port: number): string {
  return `sidecar: redirecting plain HTTP on ${host}:${port} to https`;
}
