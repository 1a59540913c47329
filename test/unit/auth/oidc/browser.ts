/**
 * A scripted browser for the OIDC tests: plain fetch, redirects followed by hand, a cookie jar
 * (host-only cookies with paths and Max-Age, as RFC 6265 §5.3 keeps them), and the IdP's login and
 * consent forms filled in. Requests to the sidecar's origin are served in-process by a small
 * stand-in for the authenticator around a SessionAuth (the real one is ../authenticate.ts); the
 * IdP is the real oidc-provider over loopback.
 */
import type { SessionAuth } from '../../../../src/auth/oidc/session-auth.ts';
import type { RequestInfo } from '../../../../src/auth/oidc/request-info.ts';

interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

export interface Visit {
  url: string;
  status: number;
  location?: string | undefined;
}

export const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

export class Browser {
  readonly jar = new Map<string, Map<string, StoredCookie>>();
  /** Every response on the way, in order. */
  readonly visits: Visit[] = [];
  /** The Set-Cookie lines the sidecar sent, in order. */
  readonly sidecarSetCookies: string[] = [];
  readonly #sidecarOrigin: string;
  readonly #auth: SessionAuth;
  info: RequestInfo;

  constructor(sidecarOrigin: string, auth: SessionAuth, info: RequestInfo = { client: '127.0.0.1', https: false }) {
    this.#sidecarOrigin = sidecarOrigin;
    this.#auth = auth;
    this.info = info;
  }

  /** One request, no redirect followed; cookies sent and stored. */
  async request(
    url: string,
    init: { method?: string; accept?: string; body?: URLSearchParams } = {},
  ): Promise<Response> {
    const target = new URL(url);
    const headers = new Headers({ accept: init.accept ?? HTML });
    const cookie = this.cookieHeader(target);
    if (cookie) headers.set('cookie', cookie);
    const requestInit: RequestInit = { method: init.method ?? 'GET', headers, redirect: 'manual' };
    if (init.body) requestInit.body = init.body;
    const request = new Request(target, requestInit);
    const response = target.origin === this.#sidecarOrigin ? await this.#sidecar(request) : await fetch(request);
    this.#store(target, response.headers.getSetCookie(), target.origin === this.#sidecarOrigin);
    this.visits.push({
      url: target.href,
      status: response.status,
      location: response.headers.get('location') ?? undefined,
    });
    return response;
  }

  /**
   * Follows redirects, and fills the IdP's login form (as `login`) and consent form on the way,
   * until a page that is neither (the app's answer, or a refusal), or until `stopAt` accepts the
   * URL just requested, or `stopBefore` the one about to be (then the last response is returned).
   */
  async navigate(
    url: string,
    {
      login = 'alice',
      stopAt,
      stopBefore,
    }: { login?: string; stopAt?: (url: URL) => boolean; stopBefore?: (url: URL) => boolean } = {},
  ): Promise<Response> {
    let next: { url: string; method?: string; body?: URLSearchParams } = { url };
    let last: Response | undefined;
    for (let step = 0; step < 20; step++) {
      if (last && stopBefore?.(new URL(next.url))) return last;
      const response = await this.request(next.url, next);
      last = response;
      if (stopAt?.(new URL(next.url))) return response;
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        next = { url: new URL(location, next.url).href };
        continue;
      }
      const form = response.headers.get('content-type')?.includes('text/html')
        ? parseForm(await response.clone().text())
        : undefined;
      if (!form || new URL(next.url).origin === this.#sidecarOrigin) return response;
      if (form.fields.has('login') || form.fields.get('prompt') === 'login') {
        form.fields.set('login', login);
        form.fields.set('password', 'any password');
      }
      // The IdP's logout confirmation: its "Yes, sign me out" button sits outside the form.
      if (form.fields.has('xsrf')) form.fields.set('logout', 'yes');
      next = { url: new URL(form.action, next.url).href, method: 'POST', body: new URLSearchParams([...form.fields]) };
    }
    throw new Error(`no end after 20 steps: ${JSON.stringify(this.visits)}`);
  }

  cookie(origin: string, name: string): string | undefined {
    for (const stored of this.jar.get(new URL(origin).host)?.values() ?? [])
      if (stored.name === name) return stored.value;
    return undefined;
  }

  setCookie(origin: string, name: string, value: string): void {
    this.#store(new URL(origin), [`${name}=${value}; Path=/`], false);
  }

  cookieHeader(url: URL): string {
    const cookies = [...(this.jar.get(url.host)?.values() ?? [])].filter((c) => pathMatches(url.pathname, c.path));
    return cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  #store(url: URL, lines: string[], fromSidecar: boolean): void {
    if (fromSidecar) this.sidecarSetCookies.push(...lines);
    const cookies = this.jar.get(url.host) ?? new Map<string, StoredCookie>();
    this.jar.set(url.host, cookies);
    for (const line of lines) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = url.pathname.slice(0, url.pathname.lastIndexOf('/')) || '/';
      let remove = false;
      for (const attribute of attributes) {
        const [key = '', attributeValue = ''] = attribute.split('=');
        if (key.toLowerCase() === 'path') path = attributeValue;
        if (key.toLowerCase() === 'max-age' && Number(attributeValue) <= 0) remove = true;
        if (key.toLowerCase() === 'expires' && Date.parse(attributeValue) <= Date.now()) remove = true;
      }
      if (remove) cookies.delete(`${name} ${path}`);
      else cookies.set(`${name} ${path}`, { name, value, path });
    }
  }

  /** The authenticator's part that concerns the session: routes, session, challenge, else 401. */
  async #sidecar(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (this.#auth.handles(path)) return this.#auth.handle(request, this.info);
    const session = await this.#auth.session(request, this.info);
    if (session === 'unavailable') return new Response('unavailable', { status: 503 });
    if (session !== undefined) {
      const response = Response.json({ path, ...session.identity });
      for (const line of session.setCookie ?? []) response.headers.append('set-cookie', line);
      return response;
    }
    return (await this.#auth.challenge(request, this.info)) ?? new Response('unauthenticated', { status: 401 });
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** The first form of a page: its action and its inputs' names and values (the IdP's forms are simple). */
function parseForm(html: string): { action: string; fields: Map<string, string> } | undefined {
  const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return undefined;
  const fields = new Map<string, string>();
  for (const input of (form[2] ?? '').matchAll(/<input[^>]*>/gi)) {
    const name = /name="([^"]+)"/.exec(input[0])?.[1];
    if (name) fields.set(name, decodeEntities(/value="([^"]*)"/.exec(input[0])?.[1] ?? ''));
  }
  return { action: decodeEntities(form[1] ?? ''), fields };
}

function decodeEntities(text: string): string {
  return text
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#x2F;/g, '/')
    .replace(/&#39;/g, "'");
}
