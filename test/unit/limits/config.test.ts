/**
 * Tier 1: the edge limits' variables (src/limits/config.ts), parsed by their shape inside a
 * z.object the way config.ts will spread it, with limitsTogether as its cross-variable check.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { limitsConfigShape, limitsTogether, rateLimitBurst } from '../../../src/limits/config.ts';

const schema = z.object(limitsConfigShape).superRefine(limitsTogether);

/** The first problem as loadConfig reports it: the variable, and its one-line message. */
function problem(env: Record<string, string>): { name: string; message: string } {
  const result = schema.safeParse(env);
  if (result.success) throw new Error(`accepted ${JSON.stringify(env)}`);
  const issue = result.error.issues[0]!;
  return { name: String(issue.path[0]), message: issue.message };
}

describe('edge limits configuration', () => {
  it('turns every limit off by default', () => {
    const c = schema.parse({});
    expect(c).toMatchObject({ MAX_REQUEST_BODY_BYTES: 0, RATE_LIMIT_RPS: 0 });
    expect(c.RATE_LIMIT_BURST).toBeUndefined();
    expect(c.ALLOW_CIDRS.size).toBe(0);
    expect(c.TRUSTED_PROXIES.size).toBe(0);
  });

  it('reads each variable', () => {
    const c = schema.parse({
      MAX_REQUEST_BODY_BYTES: '1048576',
      RATE_LIMIT_RPS: '0.5',
      RATE_LIMIT_BURST: '20',
      ALLOW_CIDRS: '10.0.0.0/8, 2001:db8::/32',
      TRUSTED_PROXIES: '10.1.0.0/16',
    });
    expect(c).toMatchObject({ MAX_REQUEST_BODY_BYTES: 1048576, RATE_LIMIT_RPS: 0.5, RATE_LIMIT_BURST: 20 });
    expect(c.ALLOW_CIDRS.has('10.9.9.9')).toBe(true);
    expect(c.ALLOW_CIDRS.has('2001:db8::1')).toBe(true);
    expect(c.ALLOW_CIDRS.has('192.0.2.1')).toBe(false);
    expect(c.TRUSTED_PROXIES.entries).toEqual(['10.1.0.0/16']);
  });

  it.each([
    [{ RATE_LIMIT_RPS: '10' }, 10],
    [{ RATE_LIMIT_RPS: '2.5' }, 3],
    [{ RATE_LIMIT_RPS: '0.5' }, 1],
    [{ RATE_LIMIT_RPS: '10', RATE_LIMIT_BURST: '4' }, 4],
  ])('gives %j a burst of %i (the rate rounded up, unless set)', (env, burst) => {
    expect(rateLimitBurst(schema.parse(env))).toBe(burst);
  });

  const refused: [Record<string, string>, string, RegExp][] = [
    [{ MAX_REQUEST_BODY_BYTES: '-1' }, 'MAX_REQUEST_BODY_BYTES', /0 \(no limit\) or more/],
    [{ MAX_REQUEST_BODY_BYTES: '1.5' }, 'MAX_REQUEST_BODY_BYTES', /whole number/],
    [{ MAX_REQUEST_BODY_BYTES: '10m' }, 'MAX_REQUEST_BODY_BYTES', /number of bytes/],
    [{ RATE_LIMIT_RPS: '-1' }, 'RATE_LIMIT_RPS', /0 \(no limit\) or more/],
    [{ RATE_LIMIT_RPS: 'fast' }, 'RATE_LIMIT_RPS', /requests per second/],
    [{ RATE_LIMIT_RPS: '0.0001' }, 'RATE_LIMIT_RPS', /at least 0\.001/],
    [{ RATE_LIMIT_RPS: '2000000' }, 'RATE_LIMIT_RPS', /at most/],
    [{ RATE_LIMIT_RPS: '5', RATE_LIMIT_BURST: '0' }, 'RATE_LIMIT_BURST', /1 or more/],
    [{ RATE_LIMIT_RPS: '5', RATE_LIMIT_BURST: '2.5' }, 'RATE_LIMIT_BURST', /whole number/],
    [{ RATE_LIMIT_BURST: '5' }, 'RATE_LIMIT_BURST', /needs RATE_LIMIT_RPS/],
    [{ ALLOW_CIDRS: '10.0.0.0/8, 10.0.0.300' }, 'ALLOW_CIDRS', /"10\.0\.0\.300" is not an IPv4 or IPv6 address/],
    [{ ALLOW_CIDRS: '10.0.0.1/8' }, 'ALLOW_CIDRS', /"10\.0\.0\.1\/8" has host bits set/],
    [{ TRUSTED_PROXIES: 'lb.internal' }, 'TRUSTED_PROXIES', /"lb\.internal" is not an IPv4 or IPv6 address/],
    [{ TRUSTED_PROXIES: '10.0.0.0/8, 0.0.0.0/0' }, 'TRUSTED_PROXIES', /must not contain a \/0 range/],
    [{ TRUSTED_PROXIES: '::/0' }, 'TRUSTED_PROXIES', /must not contain a \/0 range/],
  ];
  it.each(refused)('refuses %j with one line naming %s', (env, name, reason) => {
    const { name: named, message } = problem(env);
    expect(named).toBe(name);
    expect(message).toMatch(reason);
    expect(message).not.toContain('\n');
  });

  it('names the variable in a CIDR list error, since the entry alone would not say which list', () => {
    expect(problem({ ALLOW_CIDRS: 'x' }).message).toMatch(/^ALLOW_CIDRS must be a list of IPv4\/IPv6/);
  });
});
