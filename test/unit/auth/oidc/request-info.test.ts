/** Which clients may receive the session cookie, and which requests are browser navigations. */
import { describe, expect, it } from 'vitest';
import { isBrowserNavigation, isLoopback, mayCarryCookies } from '../../../../src/auth/oidc/request-info.ts';

describe('isLoopback', () => {
  it.each(['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '[::1]', '::ffff:127.0.0.1', '::FFFF:127.1.2.3'])(
    'counts %s as loopback',
    (address) => expect(isLoopback(address)).toBe(true),
  );
  it.each(['10.0.0.1', '128.0.0.1', '1127.0.0.1', '127.0.0.1.evil.example', '::2', '::ffff:10.0.0.1', 'localhost', ''])(
    'does not count %s as loopback',
    (address) => expect(isLoopback(address)).toBe(false),
  );
  it('does not count an unknown client as loopback', () => {
    expect(isLoopback(undefined)).toBe(false);
    expect(mayCarryCookies({ client: undefined, https: false })).toBe(false);
    expect(mayCarryCookies({ client: undefined, https: true })).toBe(true);
  });
});

describe('isBrowserNavigation', () => {
  const request = (method: string, accept?: string) =>
    new Request('http://app.example/', { method, headers: accept === undefined ? {} : { accept } });

  it('is a GET or HEAD whose Accept names text/html, as browsers send for a page', () => {
    expect(isBrowserNavigation(request('GET', 'text/html,application/xhtml+xml,*/*;q=0.8'))).toBe(true);
    expect(isBrowserNavigation(request('HEAD', 'TEXT/HTML; q=0.5'))).toBe(true);
  });

  it('is not an API call, a script, a request without Accept, nor another method', () => {
    expect(isBrowserNavigation(request('GET', '*/*'))).toBe(false);
    expect(isBrowserNavigation(request('GET', 'application/json'))).toBe(false);
    expect(isBrowserNavigation(request('GET', 'text/*'))).toBe(false);
    expect(isBrowserNavigation(request('GET', 'text/htmlx'))).toBe(false);
    expect(isBrowserNavigation(request('GET'))).toBe(false);
    expect(isBrowserNavigation(request('POST', 'text/html'))).toBe(false);
  });
});
