import { describe, expect, it } from 'vitest';
import {
  headerValue,
  setIdentityHeaders,
  stripCookies,
  stripIdentityHeaders,
} from '../../../src/auth/identity-headers.ts';

const OWN = ['__Host-sidecar_session', '__Host-sidecar_login'];

describe('identity headers', () => {
  it('removes every identity header a client sent, in any case', () => {
    const headers = new Headers({
      'X-Forwarded-User': 'admin',
      'x-forwarded-email': 'admin@corp.example',
      'X-FORWARDED-GROUPS': 'admins',
      'X-Forwarded-Access-Token': 'stolen',
      'X-Forwarded-Preferred-Username': 'root',
      'X-Forwarded-For': '203.0.113.9',
      'X-Forwarded-Proto': 'https',
      accept: 'text/html',
    });
    stripIdentityHeaders(headers);
    expect([...headers.keys()]).toEqual(['accept', 'x-forwarded-for', 'x-forwarded-proto']);
  });

  it('removes their spellings with underscores, which CGI apps read as the same variable', () => {
    const headers = new Headers([
      ['X_Forwarded_User', 'admin'],
      ['x-forwarded_email', 'admin@corp.example'],
      ['X_FORWARDED-GROUPS', 'admins'],
      ['x_forwarded_access_token', 'stolen'],
      ['x_forwarded_for', 'kept: not an identity header'],
    ]);
    stripIdentityHeaders(headers);
    expect([...headers.keys()]).toEqual(['x_forwarded_for']);
  });

  it('leaves headers alone when there is nothing to remove', () => {
    const headers = new Headers({ host: 'app', cookie: 'a=1', 'x-request-id': 'r1' });
    stripIdentityHeaders(headers);
    expect([...headers]).toEqual([
      ['cookie', 'a=1'],
      ['host', 'app'],
      ['x-request-id', 'r1'],
    ]);
  });

  it('sets user, email and comma-separated groups; the access token only when asked', () => {
    const identity = { user: 'alice', email: 'alice@corp.example', groups: ['admins', 'staff'], accessToken: 'tok' };
    const headers = new Headers();
    setIdentityHeaders(headers, identity, { passAccessToken: false });
    expect(Object.fromEntries(headers)).toEqual({
      'x-forwarded-user': 'alice',
      'x-forwarded-email': 'alice@corp.example',
      'x-forwarded-groups': 'admins,staff',
    });
    setIdentityHeaders(headers, identity, { passAccessToken: true });
    expect(headers.get('x-forwarded-access-token')).toBe('tok');
  });

  it('sends a non-ASCII user name as its UTF-8 bytes, and leaves out a value with a line break', () => {
    expect(headerValue('zoë')).toBe('zo\u00c3\u00ab');
    expect(headerValue('ok\tvalue')).toBe('ok\tvalue');
    expect(headerValue('a\r\nb')).toBeUndefined();
    const headers = new Headers();
    setIdentityHeaders(headers, { user: 'łukasz' }, { passAccessToken: false });
    expect(new TextDecoder().decode(Uint8Array.from(headers.get('x-forwarded-user')!, (c) => c.charCodeAt(0)))).toBe(
      'łukasz',
    );
  });
});

describe("the sidecar's own cookies", () => {
  const strip = (cookie: string) => {
    const headers = new Headers({ cookie });
    stripCookies(headers, OWN);
    return headers.get('cookie');
  };

  it('removes them wherever they stand, leaving the others byte for byte', () => {
    expect(strip('__Host-sidecar_session=abc; app=1; theme="dark blue"')).toBe('app=1; theme="dark blue"');
    expect(strip('app=1; __Host-sidecar_session=abc; b=2')).toBe('app=1; b=2');
    expect(strip('app=1;b=2; __Host-sidecar_login=xyz')).toBe('app=1;b=2');
    expect(strip('a=1;  __Host-sidecar_login=x;  b=%20two')).toBe('a=1;  b=%20two');
  });

  it('finds them in Cookie fields joined by a comma (HTTP/2 sends one field per cookie)', () => {
    // Node's Headers joins cookie fields with `; `; a Headers that joins them as any other field does uses `, `.
    expect(strip('app=1, __Host-sidecar_session=abc, b=2')).toBe('app=1, b=2');
    expect(strip('__Host-sidecar_session=abc, app=1')).toBe('app=1');
    const headers = new Headers([
      ['cookie', 'app=1'],
      ['cookie', '__Host-sidecar_session=abc'],
    ]);
    stripCookies(headers, OWN);
    expect(headers.get('cookie')).toBe('app=1');
  });

  it('drops the header when nothing else is left', () => {
    expect(strip('__Host-sidecar_session=abc; __Host-sidecar_login=x')).toBeNull();
  });

  it('keeps cookies whose names only look like ours', () => {
    expect(strip('my__Host-sidecar_session=1; __Host-sidecar_sessionx=2; x=__Host-sidecar_session')).toBe(
      'my__Host-sidecar_session=1; __Host-sidecar_sessionx=2; x=__Host-sidecar_session',
    );
  });

  it('does not touch a Cookie header without them', () => {
    const headers = new Headers({ cookie: 'a=1;b=2' });
    stripCookies(headers, OWN);
    expect(headers.get('cookie')).toBe('a=1;b=2');
  });
});
