/**
 * Holds docs/behaviour.md#dashboards-and-status-page, on each runtime over real sockets: GET / on
 * the admin port is one self-contained page, /stats.json gives the live figures from the same
 * registry as /metrics, with the runtime, version, uptime and the masked configuration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stats } from '../../src/admin/stats.ts';
import { send } from '../support/http-client.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import { startSidecar } from '../support/sidecar.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { startUpstream } from '../support/upstream.ts';
import type { Upstream } from '../support/upstream.ts';

const secret = 's3cr3t-otlp-t0ken';

export async function fetchStats(sidecar: Sidecar): Promise<Stats> {
  const response = await fetch(`${sidecar.adminUrl}/stats.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  return (await response.json()) as Stats;
}

export function addStatusPageTests(runtime: Runtime): void {
  describe(`the status page on ${runtime}`, () => {
    let upstream: Upstream;
    let sidecar: Sidecar;
    beforeAll(async () => {
      upstream = await startUpstream();
      sidecar = await startSidecar(runtime, {
        TARGET: upstream.url,
        // Whether or not this runtime's build reads it, its value must never reach the page.
        OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${secret}`,
      });
    });
    afterAll(async () => {
      await sidecar?.stop();
      await upstream?.close();
    });

    it('serves GET / as one self-contained HTML page: no external asset, a CSP that forbids any', async () => {
      const response = await fetch(`${sidecar.adminUrl}/`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(response.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(response.headers.get('content-security-policy')).toMatch(/connect-src 'self'/);
      const html = await response.text();
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).toContain('<script>');
      // No src=/href= to anything but the admin port's own paths, and no URL of another origin.
      expect(html).not.toMatch(/\b(src|href)="(?!metrics")/);
      expect(html.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\//);
      expect(html).toContain("fetch('stats.json'");
    });

    it('gives the figures in /stats.json from the same registry as /metrics', async () => {
      for (let i = 0; i < 6; i++) expect((await send(sidecar.url, `/s?id=status-${i}`)).status).toBe(200);
      expect((await send(sidecar.url, '/_/reset?id=status-reset')).status).toBe(502);
      expect((await send(sidecar.url, '/s?id=status-post', { method: 'POST', body: 'x' })).status).toBe(200);
      const stats = await fetchStats(sidecar);
      const metrics = parsePrometheusText(await (await fetch(`${sidecar.adminUrl}/metrics`)).text());
      const counted = metrics
        .get('http_server_request_duration_seconds')
        ?.samples.filter((s) => s.name.endsWith('_count'))
        .reduce((sum, s) => sum + s.value, 0);
      expect(stats.totals.requests).toBe(8);
      expect(stats.totals.requests).toBe(counted);
      expect(stats.totals.byStatusClass).toEqual({ '2xx': 7, '5xx': 1 });
      expect(stats.totals.upstreamErrors).toEqual({
        upstream_reset: sampleValue(metrics, 'sidecar_upstream_errors_total', { reason: 'upstream_reset' }),
      });
      expect(stats.activeRequests).toBe(0);
      // Everything so far lies in the current window (the sidecar is younger than a minute).
      expect(stats.current.windowSeconds).toBeCloseTo(stats.uptimeSeconds, 0);
      expect(stats.current.errorRatio).toBeCloseTo(1 / 8, 6);
      expect(stats.current.requestsPerSecond).toBeCloseTo(8 / stats.current.windowSeconds, 1);
      expect(stats.current.p50Seconds).toBeGreaterThan(0);
      expect(stats.current.p99Seconds).toBeGreaterThanOrEqual(stats.current.p50Seconds as number);
    });

    it('names the runtime and version, counts uptime, and says whether it is ready', async () => {
      const stats = await fetchStats(sidecar);
      const [name, runtimeVersion] = stats.runtime.split(' ');
      // The bundle is Node running the image's artifact: it names itself node; bun-native and deno-native name Bun and Deno.
      expect(name).toBe(runtime.replace(/-(bundle|native)$/, ''));
      expect(sidecar.listening).toContain(`[${stats.runtime}]`);
      expect(runtimeVersion).toMatch(/^\d+\.\d+\.\d+/);
      expect(stats.version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(stats.uptimeSeconds).toBeGreaterThan(0);
      expect(Date.parse(stats.startedAt)).toBeLessThanOrEqual(Date.now());
      expect(stats.ready).toBe(true);
      expect(Array.isArray(stats.history)).toBe(true);
    });

    it('shows the configuration with secrets masked: no OTEL_EXPORTER_OTLP_HEADERS value anywhere', async () => {
      const stats = await fetchStats(sidecar);
      expect(stats.config).toMatchObject({ TARGET: upstream.url, PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1' });
      const everything = JSON.stringify(stats) + (await (await fetch(`${sidecar.adminUrl}/`)).text());
      expect(everything).not.toContain(secret);
      if ('OTEL_EXPORTER_OTLP_HEADERS' in stats.config)
        expect(stats.config.OTEL_EXPORTER_OTLP_HEADERS).toBe('authorization=***');
    });
  });
}
