/**
 * One sidecar login against one real IdP: the test IdP (test/support/oidc-provider.ts) on
 * 127.0.0.1, a SessionAuth pointed at it with a clock the test moves, a fetch that records what the
 * sidecar asked the IdP, and the scripted browser.
 */
import { startOidcProvider } from '../../../support/oidc-provider.ts';
import type { TestIdp, TestIdpOptions } from '../../../support/oidc-provider.ts';
import { createSessionAuth } from '../../../../src/auth/oidc/session-auth.ts';
import type { SessionAuth, SessionAuthOptions } from '../../../../src/auth/oidc/session-auth.ts';
import { createSealer } from '../../../../src/auth/oidc/sealed.ts';
import { openSessionCookie } from '../../../../src/auth/oidc/session-cookie.ts';
import type { Session } from '../../../../src/auth/oidc/session.ts';
import { SESSION_COOKIE } from '../../../../src/auth/oidc/cookies.ts';
import { eventually } from '../../../support/wait.ts';
import { Browser } from './browser.ts';

export const ORIGIN = 'http://127.0.0.1:8000';
export const HTTPS_ORIGIN = 'https://app.example';
export const PREFIX = '/.sidecar/auth/';
export const TTL_S = 8 * 3600;
export const cookieSecret = new TextEncoder().encode('a cookie secret of at least 32 bytes, for tests only');

export interface SentToIdp {
  method: string;
  url: URL;
  authorization: string | null;
  body: string;
}

export interface Rig {
  idp: TestIdp;
  auth: SessionAuth;
  clock: { now: number };
  said: string[];
  sent: SentToIdp[];
  browser(info?: { client: string | undefined; https: boolean }, origin?: string): Browser;
  /** The session a browser's cookie holds, decrypted with the test's copy of the secret. */
  sessionOf(browser: Browser, origin?: string): Promise<Session | undefined>;
  close(): Promise<void>;
}

export async function startRig(
  idpOptions: Partial<TestIdpOptions> = {},
  authOptions: Partial<SessionAuthOptions> = {},
): Promise<Rig> {
  const idp = await startOidcProvider({
    redirectUris: [`${ORIGIN}${PREFIX}callback`, `${HTTPS_ORIGIN}${PREFIX}callback`],
    postLogoutRedirectUris: [`${ORIGIN}/`, `${HTTPS_ORIGIN}/`],
    ...idpOptions,
  });
  const clock = { now: Date.now() };
  const said: string[] = [];
  const sent: SentToIdp[] = [];
  const auth = createSessionAuth({
    issuer: idp.issuer,
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    cookieSecret,
    scopes: 'openid email profile',
    ttlSeconds: TTL_S,
    pathPrefix: PREFIX,
    srvName: 'app',
    now: () => clock.now,
    say: (message) => said.push(message),
    ...authOptions,
    fetch: recordingFetch(sent, authOptions.fetch ?? fetch),
  });
  const rig: Rig = {
    idp,
    auth,
    clock,
    said,
    sent,
    browser: (info, origin = ORIGIN) => new Browser(origin, auth, info),
    async sessionOf(browser, origin = ORIGIN) {
      const value = browser.cookie(origin, SESSION_COOKIE);
      if (value === undefined) return undefined;
      return openSessionCookie(await createSealer(cookieSecret, 'session', 'app'), value, clock.now);
    },
    async close() {
      auth.close();
      await idp.close();
    },
  };
  await waitForDiscovery(rig);
  return rig;
}

/** Discovery starts with the SessionAuth; a challenge answers 503 until it is done. */
export async function waitForDiscovery(rig: Rig): Promise<void> {
  const navigation = () => new Request(`${ORIGIN}/`, { headers: { accept: 'text/html' } });
  await eventually(
    () => rig.auth.challenge(navigation(), { client: '127.0.0.1', https: false }),
    (response) => response?.status === 302,
    'OIDC discovery',
  );
}

/** Records each request the sidecar makes, then hands it to `next`. */
function recordingFetch(sent: SentToIdp[], next: typeof fetch): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    sent.push({
      method: request.method,
      url: new URL(request.url),
      authorization: request.headers.get('authorization'),
      body: await request.clone().text(),
    });
    return next(request);
  };
}

export function tokenRequests(rig: Rig): SentToIdp[] {
  return rig.sent.filter((request) => request.url.pathname === '/token');
}
