import { describe, expect, it } from 'vitest';
import { createAccessCheck, emailDomain } from '../../../src/auth/access.ts';

describe('allow lists', () => {
  it('lets everyone authenticated through when neither list is set', () => {
    expect(createAccessCheck({})).toBeUndefined();
    expect(createAccessCheck({ groups: [], emailDomains: [] })).toBeUndefined();
  });

  it('AUTH_ALLOWED_GROUPS: any of the groups', () => {
    const allowed = createAccessCheck({ groups: ['admins', 'ops'] })!;
    expect(allowed({ user: 'a', groups: ['staff', 'ops'] })).toBe(true);
    expect(allowed({ user: 'a', groups: ['staff'] })).toBe(false);
    expect(allowed({ user: 'a', groups: ['Admins'] })).toBe(false);
    expect(allowed({ user: 'a' })).toBe(false);
  });

  it('AUTH_ALLOWED_EMAIL_DOMAINS: the exact domain after the last @, in any case', () => {
    const allowed = createAccessCheck({ emailDomains: ['Corp.example'] })!;
    expect(allowed({ user: 'a', email: 'a@corp.example' })).toBe(true);
    expect(allowed({ user: 'a', email: 'a@CORP.EXAMPLE' })).toBe(true);
    expect(allowed({ user: 'a', email: '"x@corp.example"@evil.example' })).toBe(false);
    expect(allowed({ user: 'a', email: 'a@evil.example' })).toBe(false);
    expect(allowed({ user: 'a', email: 'a@sub.corp.example' })).toBe(false);
    expect(allowed({ user: 'a', email: 'a@evilcorp.example' })).toBe(false);
    expect(allowed({ user: 'a', email: 'corp.example' })).toBe(false);
    expect(allowed({ user: 'a' })).toBe(false);
  });

  it('both set: both must hold', () => {
    const allowed = createAccessCheck({ groups: ['admins'], emailDomains: ['corp.example'] })!;
    expect(allowed({ user: 'a', email: 'a@corp.example', groups: ['admins'] })).toBe(true);
    expect(allowed({ user: 'a', email: 'a@corp.example', groups: ['staff'] })).toBe(false);
    expect(allowed({ user: 'a', email: 'a@other.example', groups: ['admins'] })).toBe(false);
  });

  it('finds the domain after the last @', () => {
    expect(emailDomain('a@b@Example.COM')).toBe('example.com');
    expect(emailDomain('@example.com')).toBeUndefined();
    expect(emailDomain('a@')).toBeUndefined();
  });
});
