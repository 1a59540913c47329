/**
 * The status page's numbers (src/admin/stats.ts) and what it shows of the configuration
 * (src/admin/config-view.ts), in-process: the same registry /metrics renders, quantiles as
 * Prometheus' histogram_quantile computes them, a bounded history, secrets never shown.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import { masked, maskedConfig } from '../../../src/admin/config-view.ts';
import { Metrics, durationBuckets } from '../../../src/metrics.ts';
import { StatsHistory, quantile } from '../../../src/admin/stats.ts';
import { version } from '../../../src/version.ts';
import { parsePrometheusText, sampleValue } from '../../support/prometheus.ts';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function finish(metrics: Metrics, method: string, status: number, seconds: number) {
  metrics.requestStarted();
  metrics.requestFinished(method, status, seconds);
}

function history(metrics: Metrics, time: ReturnType<typeof clock>, keep = 120, authReady?: () => boolean) {
  return new StatsHistory({
    metrics,
    version: '9.9.9',
    runtime: 'test 1',
    ready: () => true,
    config: {},
    now: time.now,
    keep,
    authReady,
  });
}

describe('the status page figures', () => {
  it('counts exactly what /metrics renders, by status class and upstream error reason', () => {
    const metrics = new Metrics();
    for (let i = 0; i < 7; i++) finish(metrics, 'GET', 200, 0.003);
    finish(metrics, 'POST', 404, 0.02);
    finish(metrics, 'GET', 502, 0.001);
    finish(metrics, 'GET', 504, 30);
    metrics.upstreamError('upstream_refused');
    metrics.upstreamError('upstream_timeout');
    metrics.requestStarted();
    const stats = history(metrics, clock()).stats();
    const rendered = parsePrometheusText(metrics.render());
    const counted = rendered
      .get('http_server_request_duration_seconds')
      ?.samples.filter((s) => s.name.endsWith('_count'))
      .reduce((sum, s) => sum + s.value, 0);
    expect(stats.totals.requests).toBe(counted);
    expect(stats.totals.byStatusClass).toEqual({ '2xx': 7, '4xx': 1, '5xx': 2 });
    expect(stats.totals.upstreamErrors).toEqual({ upstream_refused: 1, upstream_timeout: 1 });
    expect(stats.activeRequests).toBe(sampleValue(rendered, 'http_server_active_requests'));
    expect(stats.activeRequests).toBe(1);
    // The snapshot's buckets are the rendered ones, summed over every series.
    const les = [...durationBuckets.map(String), '+Inf'];
    const renderedBuckets = les.map((le) =>
      (rendered.get('http_server_request_duration_seconds')?.samples ?? [])
        .filter((s) => s.name.endsWith('_bucket') && s.labels.le === le)
        .reduce((sum, s) => sum + s.value, 0),
    );
    expect(metrics.snapshot().durationBuckets).toEqual(renderedBuckets);
  });

  it('counts the refusals at the door by reason, as sidecar_refusals_total renders them', () => {
    const metrics = new Metrics();
    metrics.refusals.inc({ reason: 'forbidden' });
    metrics.refusals.inc({ reason: 'rate_limited' });
    metrics.refusals.inc({ reason: 'rate_limited' });
    metrics.refusals.inc({ reason: 'body_too_large' });
    const { refusals } = history(metrics, clock()).stats().totals;
    expect(refusals).toEqual({ forbidden: 1, rate_limited: 2, body_too_large: 1, unauthenticated: 0 });
    const rendered = parsePrometheusText(metrics.render());
    for (const [reason, n] of Object.entries(refusals))
      expect(sampleValue(rendered, 'sidecar_refusals_total', { reason }), reason).toBe(n);
  });

  it('gives the rate, error ratio and quantiles of the last minute, not of all time', () => {
    const metrics = new Metrics();
    const time = clock();
    const stats = history(metrics, time);
    // An old burst of slow errors, then a minute later 120 fast successes over 60 s.
    for (let i = 0; i < 50; i++) finish(metrics, 'GET', 503, 4);
    for (let s = 0; s < 24; s++) {
      time.advance(5000);
      stats.sample();
    }
    for (let i = 0; i < 12; i++) {
      for (let j = 0; j < 10; j++) finish(metrics, 'GET', 200, 0.004);
      time.advance(5000);
      stats.sample();
    }
    const { current } = stats.stats();
    expect(current.windowSeconds).toBe(60);
    expect(current.requestsPerSecond).toBe(2);
    expect(current.errorRatio).toBe(0);
    // All within (2.5 ms, 5 ms]: the median interpolates to the middle of that bucket.
    expect(current.p50Seconds).toBeCloseTo(0.00375, 9);
    expect(current.p99Seconds).toBeCloseTo(0.0025 + 0.0025 * 0.99, 9);
  });

  it('estimates quantiles as histogram_quantile does, capped at the last bucket', () => {
    const buckets = (counts: Record<number, number>) => {
      let cumulative = 0;
      const list = durationBuckets.map((le) => (cumulative += counts[le] ?? 0));
      return [...list, cumulative + (counts[Infinity] ?? 0)];
    };
    const none = buckets({});
    expect(quantile(0.5, none, none)).toBeNull();
    // 10 in (0, 1 ms], 10 in (50, 100 ms]: p50 is the top of the first, p75 the middle of the second.
    const two = buckets({ 0.001: 10, 0.1: 10 });
    expect(quantile(0.5, none, two)).toBeCloseTo(0.001, 12);
    expect(quantile(0.75, none, two)).toBeCloseTo(0.075, 12);
    // Over 10 s: Prometheus answers the highest finite bound.
    expect(quantile(0.99, none, buckets({ [Infinity]: 5 }))).toBe(10);
  });

  it('keeps a bounded history: one point per interval, oldest dropped first', () => {
    const metrics = new Metrics();
    const time = clock();
    const stats = history(metrics, time, 4);
    for (let i = 1; i <= 10; i++) {
      for (let j = 0; j < i; j++) finish(metrics, 'GET', 200, 0.01);
      time.advance(5000);
      stats.sample();
    }
    const points = stats.stats().history;
    expect(points.map((p) => p.requestsPerSecond)).toEqual([7 / 5, 8 / 5, 9 / 5, 10 / 5]);
    expect(points.map((p) => p.time)).toEqual([1_035_000, 1_040_000, 1_045_000, 1_050_000]);
  });

  it('reports readiness and uptime from the clock it is given', () => {
    const time = clock();
    let ready = false;
    const stats = new StatsHistory({
      metrics: new Metrics(),
      version: '1',
      runtime: 'r',
      ready: () => ready,
      config: {},
      now: time.now,
    });
    time.advance(90_500);
    expect(stats.stats()).toMatchObject({
      ready: false,
      uptimeSeconds: 90.5,
      startedAt: new Date(1_000_000).toISOString(),
    });
    ready = true;
    expect(stats.stats().ready).toBe(true);
  });

  it('is documented field by field in docs/observability.md', () => {
    const readme = readFileSync(new URL('../../../docs/observability.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Status page'), readme.indexOf('## Dashboards and alerts'));
    const documented = [...section.matchAll(/^\| (`[^|]+`) \|/gm)].flatMap((m) =>
      [...(m[1] as string).matchAll(/`(\w+)`/g)].map((n) => n[1]),
    );
    // With access control on, so its `auth` field is there too.
    const stats = history(new Metrics(), clock(), 120, () => true).stats();
    expect(documented.sort()).toEqual(Object.keys(stats).sort());
  });

  it("gives access control's readiness and its non-zero outcomes only when access control is on", () => {
    const metrics = new Metrics();
    metrics.auth.inc({ method: 'jwt', result: 'ok' });
    metrics.auth.inc({ method: 'jwt', result: 'ok' });
    metrics.auth.inc({ method: 'none', result: 'unauthenticated' });
    let ready = false;
    const on = history(metrics, clock(), 120, () => ready);
    expect(on.stats().auth).toEqual({ ready: false, outcomes: { 'jwt ok': 2, 'none unauthenticated': 1 } });
    ready = true;
    expect(on.stats().auth?.ready).toBe(true);
    expect(history(metrics, clock()).stats().auth).toBeUndefined();
  });

  it("shows the package's version", () => {
    expect(version).toBe(
      (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string })
        .version,
    );
  });
});

describe('the configuration the status page shows', () => {
  it('shows every variable the sidecar read, TARGET as its URL', () => {
    const view = maskedConfig(loadConfig({ TARGET: 'http://app:8080/base', LOG_FORMAT: 'text' }));
    expect(view).toMatchObject({
      TARGET: 'http://app:8080/base',
      LOG_FORMAT: 'text',
      PORT: '8000',
      ADMIN_PORT: '9901',
    });
  });

  it('never shows OTEL_EXPORTER_OTLP_HEADERS values, as a string or parsed, only the header names', () => {
    const secret = 'Bearer s3cr3t-t0ken';
    for (const value of [`authorization=${secret},x-tenant=acme`, { authorization: secret, 'x-tenant': 'acme' }]) {
      const view = maskedConfig({ OTEL_EXPORTER_OTLP_HEADERS: value });
      expect(view.OTEL_EXPORTER_OTLP_HEADERS).toBe(`authorization=${masked},x-tenant=${masked}`);
      expect(JSON.stringify(view)).not.toContain('s3cr3t');
      expect(JSON.stringify(view)).not.toContain('acme');
    }
  });

  it('masks whatever is named like a secret, and credentials in any URL', () => {
    const view = maskedConfig({
      SOME_PASSWORD: 'hunter2',
      API_TOKEN: 'abc',
      CLIENT_SECRET: 'x',
      EMPTY_TOKEN: '',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:pw@collector:4318',
      TLS_KEY_FILE: '/etc/tls/tls.key',
    });
    expect(view).toEqual({
      SOME_PASSWORD: masked,
      API_TOKEN: masked,
      CLIENT_SECRET: masked,
      EMPTY_TOKEN: '',
      OTEL_EXPORTER_OTLP_ENDPOINT: `https://${masked}@collector:4318`,
      // A path to a key is not the key: shown, so the operator can check it.
      TLS_KEY_FILE: '/etc/tls/tls.key',
    });
  });
});
