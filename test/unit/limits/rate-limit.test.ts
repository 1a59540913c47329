/**
 * Tier 1: the per-client token bucket (src/limits/rate-limit.ts), its time driven by a clock the
 * test moves by hand: bursts, refill, the headers of a refusal, and the bound on the table.
 */
import { describe, expect, it } from 'vitest';
import {
  RateLimiter,
  defaultMaxClients,
  rateLimitField,
  rateLimitPolicyField,
  refusalHeaders,
} from '../../../src/limits/rate-limit.ts';

function setup(ratePerSecond: number, burst: number, maxClients?: number) {
  const clock = { time: 1_000_000 };
  const limiter = new RateLimiter({ ratePerSecond, burst, maxClients, now: () => clock.time });
  return { clock, limiter };
}

describe('RateLimiter', () => {
  it('allows a burst at once, then refuses, counting the tokens left down to 0', () => {
    const { limiter } = setup(2, 3);
    expect([1, 2, 3].map(() => limiter.take('a'))).toEqual([
      { allowed: true, remaining: 2, resetMs: 500 },
      { allowed: true, remaining: 1, resetMs: 500 },
      { allowed: true, remaining: 0, resetMs: 500 },
    ]);
    expect(limiter.take('a')).toEqual({ allowed: false, remaining: 0, resetMs: 500 });
  });

  it('gives a token back after 1/rate seconds, and not a moment before', () => {
    const { clock, limiter } = setup(2, 3);
    for (let i = 0; i < 3; i++) limiter.take('a');
    clock.time += 499;
    const early = limiter.take('a');
    expect(early.allowed).toBe(false);
    expect(early.resetMs).toBeCloseTo(1, 9);
    clock.time += 1;
    expect(limiter.take('a')).toMatchObject({ allowed: true, remaining: 0 });
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('refills to the burst and no further after a quiet spell', () => {
    const { clock, limiter } = setup(2, 3);
    for (let i = 0; i < 3; i++) limiter.take('a');
    clock.time += 60_000;
    const outcomes = [1, 2, 3, 4].map(() => limiter.take('a').allowed);
    expect(outcomes).toEqual([true, true, true, false]);
  });

  it('takes nothing for a refused request, so a client that keeps trying gets in once a token is back', () => {
    const { clock, limiter } = setup(1, 1);
    limiter.take('a');
    for (let i = 0; i < 9; i++) {
      clock.time += 100;
      expect(limiter.take('a').allowed).toBe(false);
    }
    clock.time += 100;
    expect(limiter.take('a').allowed).toBe(true);
  });

  it('keeps one bucket per client', () => {
    const { limiter } = setup(1, 1);
    expect(limiter.take('192.0.2.1').allowed).toBe(true);
    expect(limiter.take('192.0.2.1').allowed).toBe(false);
    expect(limiter.take('192.0.2.2').allowed).toBe(true);
  });

  it('keeps a rate whose interval is no whole number of milliseconds exact over many tokens', () => {
    const { clock, limiter } = setup(3, 3);
    for (let i = 0; i < 3; i++) expect(limiter.take('a').allowed).toBe(true);
    // 3000 requests paced at exactly the rate, 1/3 s apart: every one allowed, the bucket never refills.
    for (let i = 0; i < 3000; i++) {
      clock.time += 1000 / 3;
      expect(limiter.take('a').allowed).toBe(true);
    }
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('allows rates below one a second: 0.5 is one request every 2 s', () => {
    const { clock, limiter } = setup(0.5, 1);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a')).toEqual({ allowed: false, remaining: 0, resetMs: 2000 });
    clock.time += 1999;
    expect(limiter.take('a').allowed).toBe(false);
    clock.time += 1;
    expect(limiter.take('a').allowed).toBe(true);
  });

  it('refuses options that describe no bucket', () => {
    expect(() => new RateLimiter({ ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
    expect(() => new RateLimiter({ ratePerSecond: 1, burst: 0 })).toThrow(RangeError);
    expect(() => new RateLimiter({ ratePerSecond: 1, burst: 1.5 })).toThrow(RangeError);
    expect(() => new RateLimiter({ ratePerSecond: 1, burst: 1, maxClients: 0 })).toThrow(RangeError);
  });
});

describe('the table of clients', () => {
  it('stays within its bound while a million distinct addresses go through it', () => {
    const bound = 100_000;
    const { clock, limiter } = setup(1, 5, bound);
    let largest = 0;
    for (let i = 0; i < 1_000_000; i++) {
      // addressKey(`10.${i >>> 16}.${(i >>> 8) & 255}.${i & 255}`), the key edge.ts gives the limiter, built directly.
      limiter.take(String.fromCharCode(0x0a00 | (i >>> 16), i & 0xffff));
      if ((i & 1023) === 0) {
        largest = Math.max(largest, limiter.size);
        clock.time += 1; // time moves, but no bucket gets full again: every client stays in debt
      }
    }
    expect(Math.max(largest, limiter.size)).toBe(bound);
  });

  it('drops the least recently seen client first, which then starts again with a full bucket', () => {
    const { limiter } = setup(1, 1, 3);
    for (const client of ['a', 'b', 'c']) limiter.take(client);
    limiter.take('a'); // seen again (refused): now b is the least recently seen
    limiter.take('d'); // over the bound: b goes
    expect(limiter.size).toBe(3);
    expect(limiter.take('a').allowed).toBe(false); // a kept its empty bucket
    expect(limiter.take('b').allowed).toBe(true); // b was forgotten (and c goes to make room)
    expect(limiter.take('d').allowed).toBe(false);
  });

  it('lets clients whose buckets are full again leave as new ones arrive', () => {
    const { clock, limiter } = setup(1, 2);
    limiter.take('a');
    limiter.take('b');
    clock.time += 1000; // both buckets full again
    limiter.take('c');
    expect(limiter.size).toBe(1);
  });

  it('defaults to a bound of 100 000 clients', () => {
    expect(defaultMaxClients).toBe(100_000);
  });
});

describe('RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-11)', () => {
  it('states the policy as burst requests per the seconds the bucket takes to fill, rounded up', () => {
    expect(rateLimitPolicyField(setup(10, 10).limiter.policy)).toBe('"default";q=10;w=1');
    expect(rateLimitPolicyField(setup(2, 3).limiter.policy)).toBe('"default";q=3;w=2');
    expect(rateLimitPolicyField(setup(0.5, 1).limiter.policy)).toBe('"default";q=1;w=2');
    expect(rateLimitPolicyField(setup(100, 50).limiter.policy)).toBe('"default";q=50;w=1');
  });

  it('gives a 429 Retry-After in whole seconds until a token is back, with RateLimit saying the same', () => {
    const { limiter } = setup(0.4, 1); // a token every 2.5 s
    limiter.take('a');
    expect(refusalHeaders(limiter.policy, limiter.take('a'))).toEqual({
      'retry-after': '3',
      'ratelimit-policy': '"default";q=1;w=3',
      ratelimit: '"default";r=0;t=3',
    });
  });

  it('never says Retry-After: 0, even when the token is a millisecond away', () => {
    const { limiter } = setup(1000, 1);
    limiter.take('a');
    const refused = limiter.take('a');
    expect(refused.resetMs).toBe(1);
    expect(refusalHeaders(limiter.policy, refused)['retry-after']).toBe('1');
  });

  it('describes an allowed request too, for when allowed responses carry the fields', () => {
    const { limiter } = setup(2, 3);
    expect(rateLimitField(limiter.take('a'))).toBe('"default";r=2;t=1');
  });
});
