/**
 * docs/behaviour.md#access-control's browser login, in a real browser on each runtime: Debian's
 * headless Chromium, driven by playwright-core (as status-page.test.ts), opens the demo app
 * (src/legacy.ts) through the sidecar, is sent to a real OpenID provider (oidc-provider on
 * loopback, ../support/oidc-provider.ts), fills its login form, comes back through the callback to
 * the app's page greeting the user by name, and logs out (locally and at the IdP).
 *
 * Plain http on 127.0.0.1: Chromium counts loopback as potentially trustworthy (W3C Secure
 * Contexts §3.2), so it stores the `Secure`, `__Host-` session cookie there; the test asserts it
 * did rather than assuming it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOidcProvider } from '../support/oidc-provider.ts';
import type { TestIdp } from '../support/oidc-provider.ts';
import { closedPort, repoRoot, runtimes, startSidecar } from '../support/sidecar.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';
import { withTimeout } from '../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'sidecar-browser-login-'));
let chromiumPath: string;
let browser: Browser;
let idp: TestIdp;
let app: { url: string; child: ChildProcess };
const ports = new Map<Runtime, number>();
const origin = (runtime: Runtime) => `http://127.0.0.1:${ports.get(runtime)}`;

/** The demo app alone (`node src/legacy.ts`), on a free port. */
async function startLegacyApp(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['src/legacy.ts'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, PORT: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const port = await withTimeout(
    new Promise<string>((resolve, reject) => {
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (text: string) => {
        stderr += text;
        const match = /listening on http:\/\/localhost:(\d+)/.exec(stderr);
        if (match) resolve(match[1] as string);
      });
      child.once('exit', (code) => reject(new Error(`the demo app exited (${code}): ${stderr}`)));
    }),
    'the demo app to listen',
  );
  return { url: `http://127.0.0.1:${port}`, child };
}

beforeAll(async () => {
  chromiumPath = await requireTool(systemTools.chromium);
}, INSTALL_TIMEOUT_MS);

beforeAll(async () => {
  for (const runtime of runtimes) ports.set(runtime, await closedPort());
  [app, idp] = await Promise.all([
    startLegacyApp(),
    startOidcProvider({
      redirectUris: runtimes.map((runtime) => `${origin(runtime)}/.sidecar/auth/callback`),
      postLogoutRedirectUris: runtimes.map((runtime) => `${origin(runtime)}/`),
    }),
  ]);
  writeFileSync(join(dir, 'client-secret'), `${idp.clientSecret}\n`);
  writeFileSync(join(dir, 'cookie-secret'), 'a-cookie-secret-of-the-browser-login-test\n');
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await idp?.close();
  app?.child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

/** Submits the IdP's forms (login, then consent) until the browser is back on the sidecar. */
async function signIn(page: Page, sidecarOrigin: string, login: string): Promise<void> {
  for (let step = 0; step < 4 && new URL(page.url()).origin !== sidecarOrigin; step++) {
    const loginField = page.locator('input[name=login]');
    if ((await loginField.count()) > 0) {
      await loginField.fill(login);
      await page.locator('input[name=password]').fill('any password');
    }
    await Promise.all([page.waitForLoadState('load'), page.locator('button[type=submit]').first().click()]);
    await page.waitForURL((url) => url.origin === sidecarOrigin || url.origin === idp.issuer.origin);
  }
}

describe.each(runtimes)('browser login through the sidecar on %s, in headless Chromium', (runtime) => {
  let sidecar: Sidecar;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    sidecar = await startSidecar(runtime, {
      TARGET: app.url,
      PORT: String(ports.get(runtime)),
      SRV_NAME: 'legacy',
      LOG_FORMAT: 'json',
      AUTH_OIDC_ISSUER: idp.issuer.href.replace(/\/$/, ''),
      AUTH_OIDC_CLIENT_ID: idp.clientId,
      AUTH_OIDC_CLIENT_SECRET_FILE: join(dir, 'client-secret'),
      AUTH_COOKIE_SECRET_FILE: join(dir, 'cookie-secret'),
    });
    context = await browser.newContext();
    page = await context.newPage();
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await sidecar?.stop();
  });

  it('is sent to the IdP, logs in with its form, and comes back to the page it asked for, greeted by name', async () => {
    const response = await page.goto(`${sidecar.url}/`);
    expect(new URL(page.url()).origin, 'the redirect to the IdP').toBe(idp.issuer.origin);
    expect(response?.status()).toBe(200);
    await signIn(page, sidecar.url, 'alice');
    expect(page.url()).toBe(`${sidecar.url}/`);
    expect(await page.locator('body').textContent()).toBe('Hello alice!');

    const cookies = await context.cookies(sidecar.url);
    const session = cookies.find((c) => c.name === '__Host-sidecar_session');
    expect(session, 'the session cookie, stored by Chromium over http://127.0.0.1').toMatchObject({
      secure: true,
      httpOnly: true,
      sameSite: 'Lax',
      path: '/',
    });
    const line = await sidecar.waitForLog((e) => e.path === '/' && e.status === 200, "the app page's log line");
    expect(line.user).toBe('alice');
    expect(JSON.stringify(sidecar.logs())).not.toContain(session?.value);
  }, 60_000);

  it("opens a WebSocket to the app with the session cookie alone (the demo app's /ws echo)", async () => {
    const echoed = await page.evaluate(
      (url) =>
        new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(url);
          ws.onopen = () => ws.send('hello through the door');
          ws.onmessage = (event) => (resolve(String(event.data)), ws.close());
          ws.onerror = () => reject(new Error('the WebSocket failed'));
        }),
      `${sidecar.url.replace(/^http/, 'ws')}/ws`,
    );
    expect(echoed).toBe('hello through the door');
    const line = await sidecar.waitForLog((e) => e.path === '/ws' && e.upgrade === 'websocket', "the tunnel's line");
    expect(line.user).toBe('alice');
  }, 60_000);

  it("the status page shows access control's outcomes: the login's session passes and the anonymous first visit", async () => {
    const status = await context.newPage();
    await status.goto(`${sidecar.adminUrl}/`);
    await status.waitForSelector('body[data-loaded=true]');
    expect(await status.locator('#auth-card').isVisible()).toBe(true);
    const outcomes = await status.$$eval('#auth-outcomes tr', (trs) =>
      (trs as HTMLTableRowElement[]).map((tr) => tr.cells[0]?.textContent ?? ''),
    );
    expect(outcomes).toEqual(expect.arrayContaining(['session ok', 'session unauthenticated']));
    await status.close();
  }, 60_000);

  it('logs out: the session cookie is cleared, the IdP session ends, and the next visit asks for the login again', async () => {
    await page.goto(`${sidecar.url}/.sidecar/auth/logout`);
    expect(new URL(page.url()).origin, "the IdP's end_session_endpoint").toBe(idp.issuer.origin);
    expect((await context.cookies(sidecar.url)).map((c) => c.name)).not.toContain('__Host-sidecar_session');
    // The IdP's confirmation ("Yes, sign me out"), then its redirect to the post-logout URI, `/`,
    // which without a session goes to the IdP's login form again.
    await Promise.all([page.waitForLoadState('load'), page.locator('button[name=logout][value=yes]').click()]);
    await page.waitForURL((url) => url.origin === idp.issuer.origin && !url.pathname.startsWith('/session/end'));
    expect(await page.locator('input[name=login]').count(), "the IdP's login form").toBe(1);
    expect(await page.locator('body').textContent()).not.toContain('Hello alice!');
  }, 60_000);
});
