/**
 * Tier 1: the edge step (src/limits/edge.ts): client address -> allow list -> rate limit as the
 * handler will call it, built from parsed configuration, with the rate limiter's clock injected.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { limitsConfigShape } from '../../../src/limits/config.ts';
import { createEdgeStep } from '../../../src/limits/edge.ts';

const schema = z.object(limitsConfigShape);

function step(env: Record<string, string>, maxClients?: number) {
  const clock = { time: 0 };
  const edge = createEdgeStep(schema.parse(env), { now: () => clock.time, maxClients });
  if (!edge) throw new Error('expected an edge step');
  return { clock, edge };
}

describe('createEdgeStep', () => {
  it('is undefined when every limit is off, so the handler skips it', () => {
    expect(createEdgeStep(schema.parse({}))).toBeUndefined();
    // The body limit is not one of its steps.
    expect(createEdgeStep(schema.parse({ MAX_REQUEST_BODY_BYTES: '1024' }))).toBeUndefined();
  });

  it('with TRUSTED_PROXIES alone, names the client and refuses nobody', () => {
    const { edge } = step({ TRUSTED_PROXIES: '10.0.0.0/8' });
    expect(edge('10.0.0.4', '198.51.100.1, 203.0.113.7')).toEqual({ client: '203.0.113.7' });
    expect(edge('203.0.113.7', '10.0.0.1')).toEqual({ client: '203.0.113.7' });
  });
});

describe('the allow list', () => {
  it('lets clients inside ALLOW_CIDRS through and answers the rest 403 forbidden', () => {
    const { edge } = step({ ALLOW_CIDRS: '192.0.2.0/24, 2001:db8::/32' });
    expect(edge('192.0.2.9', null)).toEqual({ client: '192.0.2.9' });
    expect(edge('::ffff:192.0.2.9', null)).toEqual({ client: '::ffff:192.0.2.9' });
    expect(edge('2001:db8::9', null)).toEqual({ client: '2001:db8::9' });
    expect(edge('198.51.100.1', null)).toEqual({
      client: '198.51.100.1',
      refusal: { status: 403, error: 'forbidden', headers: {} },
    });
  });

  it('judges the client behind a trusted balancer, not the balancer', () => {
    const { edge } = step({ ALLOW_CIDRS: '192.0.2.0/24', TRUSTED_PROXIES: '10.0.0.0/8' });
    expect(edge('10.0.0.4', '192.0.2.9').refusal).toBeUndefined();
    expect(edge('10.0.0.4', '203.0.113.7').refusal?.status).toBe(403);
    expect(edge('10.0.0.4', null).refusal?.status).toBe(403); // the balancer itself is not allowed
  });

  it('cannot be passed with a forged X-Forwarded-For, from an untrusted peer or to the left of the real client', () => {
    const { edge } = step({ ALLOW_CIDRS: '192.0.2.0/24', TRUSTED_PROXIES: '10.0.0.0/8' });
    expect(edge('203.0.113.7', '192.0.2.9').refusal?.error).toBe('forbidden');
    expect(edge('10.0.0.4', '192.0.2.9, 203.0.113.7').refusal?.error).toBe('forbidden');
  });

  it('fails closed for a client the runtime could not name', () => {
    const { edge } = step({ ALLOW_CIDRS: '0.0.0.0/0, ::/0' });
    expect(edge(undefined, '192.0.2.9').refusal?.status).toBe(403);
  });
});

describe('the rate limit', () => {
  it('allows the burst, then answers 429 rate_limited with Retry-After and the RateLimit fields', () => {
    const { edge } = step({ RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: '2' });
    expect(edge('192.0.2.1', null)).toEqual({ client: '192.0.2.1' });
    expect(edge('192.0.2.1', null)).toEqual({ client: '192.0.2.1' });
    expect(edge('192.0.2.1', null)).toEqual({
      client: '192.0.2.1',
      refusal: {
        status: 429,
        error: 'rate_limited',
        headers: { 'retry-after': '1', 'ratelimit-policy': '"default";q=2;w=2', ratelimit: '"default";r=0;t=1' },
      },
    });
  });

  it('lets the client in again once its clock has given a token back', () => {
    const { clock, edge } = step({ RATE_LIMIT_RPS: '2' });
    edge('192.0.2.1', null);
    edge('192.0.2.1', null);
    expect(edge('192.0.2.1', null).refusal?.status).toBe(429);
    clock.time += 500;
    expect(edge('192.0.2.1', null).refusal).toBeUndefined();
  });

  it('keeps a bucket per client behind the balancer, not one for the balancer', () => {
    const { edge } = step({ RATE_LIMIT_RPS: '1', TRUSTED_PROXIES: '10.0.0.0/8' });
    expect(edge('10.0.0.4', '203.0.113.7').refusal).toBeUndefined();
    expect(edge('10.0.0.4', '203.0.113.7').refusal?.status).toBe(429);
    expect(edge('10.0.0.4', '203.0.113.8').refusal).toBeUndefined();
  });

  it('counts one client however its address is written', () => {
    const { edge } = step({ RATE_LIMIT_RPS: '1', TRUSTED_PROXIES: '10.0.0.0/8' });
    expect(edge('192.0.2.1', null).refusal).toBeUndefined();
    expect(edge('::ffff:192.0.2.1', null).refusal?.status).toBe(429);
    expect(edge('10.0.0.4', '[2001:db8::1]:443').refusal).toBeUndefined();
    expect(edge('10.0.0.4', '2001:DB8:0::1').refusal?.status).toBe(429);
  });

  it('is not spent by clients the allow list refused: the allow list comes first', () => {
    const { edge } = step({ RATE_LIMIT_RPS: '1', ALLOW_CIDRS: '192.0.2.0/24' });
    for (let i = 0; i < 5; i++) expect(edge('198.51.100.1', null).refusal?.status).toBe(403);
    expect(edge.trackedClients()).toBe(0);
    expect(edge('192.0.2.1', null).refusal).toBeUndefined();
    expect(edge.trackedClients()).toBe(1);
  });

  it('states its policy and bounds its table', () => {
    const { edge } = step({ RATE_LIMIT_RPS: '5', RATE_LIMIT_BURST: '10' }, 2);
    expect(edge.policy).toEqual({ quota: 10, windowSeconds: 2 });
    for (const peer of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) edge(peer, null);
    expect(edge.trackedClients()).toBe(2);
  });
});
