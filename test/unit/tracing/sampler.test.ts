import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parentBased, samplerFor, traceIdRatio } from '../../../src/tracing/sampler.ts';
import { startSpan } from '../../../src/tracing/trace-context.ts';

const ids = Array.from({ length: 20_000 }, () => randomBytes(16).toString('hex'));
const parent = (flags: string) => `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-${flags}`;

describe('samplers (OTel SDK spec, trace/sdk.md)', () => {
  it('traceidratio samples a share of random trace ids within binomial bounds', () => {
    for (const ratio of [0.1, 0.5, 0.9]) {
      const sampled = ids.filter((id) => traceIdRatio(ratio)(id, undefined)).length;
      const sd = Math.sqrt(ids.length * ratio * (1 - ratio));
      // Six standard deviations: a correct sampler fails this about once in 500 million runs.
      expect(Math.abs(sampled - ids.length * ratio), `ratio ${ratio}`).toBeLessThan(6 * sd);
    }
  });

  it('traceidratio is deterministic, and a higher ratio samples every trace a lower one does', () => {
    const low = traceIdRatio(0.2);
    const high = traceIdRatio(0.6);
    for (const id of ids.slice(0, 2000)) {
      expect(low(id, undefined)).toBe(low(id, undefined));
      if (low(id, undefined)) expect(high(id, undefined)).toBe(true);
    }
  });

  it('traceidratio decides on the rightmost 56 bits: R >= (1 - ratio) * 2^56', () => {
    const half = traceIdRatio(0.5);
    expect(half('ffffffffffffffffff80000000000000', undefined)).toBe(true);
    expect(half('ffffffffffffffffff7fffffffffffff', undefined)).toBe(false);
    expect(half('000000000000000000ffffffffffffff', undefined)).toBe(true);
  });

  it('traceidratio ignores the parent, parentbased follows it', () => {
    const off = traceIdRatio(0);
    expect(off(ids[0]!, true)).toBe(false);
    expect(parentBased(off)(ids[0]!, true)).toBe(true);
    expect(parentBased(traceIdRatio(1))(ids[0]!, false)).toBe(false);
  });

  it('OTEL_TRACES_SAMPLER_ARG defaults to 1 for the ratio samplers', () => {
    expect(
      samplerFor({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: undefined })(ids[0]!, undefined),
    ).toBe(true);
    expect(
      samplerFor({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 0 })(ids[0]!, undefined),
    ).toBe(false);
  });
});

describe('the traceparent the app receives carries the decision', () => {
  const sampler = (name: Parameters<typeof samplerFor>[0]['OTEL_TRACES_SAMPLER']) =>
    samplerFor({ OTEL_TRACES_SAMPLER: name, OTEL_TRACES_SAMPLER_ARG: undefined });

  it('by default a new trace is sampled and a parent keeps its own flag', () => {
    expect(startSpan(null).flags).toBe('01');
    expect(startSpan(parent('00')).flags).toBe('00');
    expect(startSpan(parent('01')).flags).toBe('01');
  });

  it('always_off clears the sampled flag, always_on sets it, whatever the parent said', () => {
    expect(startSpan(null, sampler('always_off')).flags).toBe('00');
    expect(startSpan(parent('01'), sampler('always_off')).flags).toBe('00');
    expect(startSpan(parent('00'), sampler('always_on')).flags).toBe('01');
  });

  it("keeps the parent's other flag bits (W3C Level 2 random flag) while changing the sampled one", () => {
    expect(startSpan(parent('03'), sampler('always_off')).flags).toBe('02');
    expect(startSpan(parent('02'), sampler('always_on')).flags).toBe('03');
  });

  it('parentbased_always_off samples only what the caller sampled', () => {
    expect(startSpan(null, sampler('parentbased_always_off')).flags).toBe('00');
    expect(startSpan(parent('01'), sampler('parentbased_always_off')).flags).toBe('01');
  });
});
