/**
 * The admin listener's app: probes and metrics, on their own port, never proxied.
 */
import { Hono } from 'hono';
import type { Metrics } from '../metrics.ts';
import type { Readiness } from './readiness.ts';
import type { StatsHistory } from './stats.ts';
import { statusPage, statusPageHeaders } from './status-page.ts';

const plain = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };

export function createAdmin(deps: { metrics: Metrics; readiness: Readiness; stats: StatsHistory }): Hono {
  const app = new Hono();
  // Liveness never depends on the app: a down app must not get the pod restarted.
  app.get('/healthz', () => new Response('ok\n', { headers: plain }));
  app.get('/readyz', () => {
    const { readiness } = deps;
    if (readiness.ready) return new Response('ready\n', { headers: plain });
    const why = readiness.draining ? 'draining' : 'upstream not answering';
    return new Response(`not ready: ${why}\n`, { status: 503, headers: plain });
  });
  app.get(
    '/metrics',
    () =>
      new Response(deps.metrics.render(), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } }),
  );
  app.get('/', () => new Response(statusPage, { headers: statusPageHeaders }));
  app.get('/stats.json', () => Response.json(deps.stats.stats(), { headers: { 'cache-control': 'no-store' } }));
  app.notFound(
    () =>
      new Response('not found: the admin port serves /, /stats.json, /healthz, /readyz and /metrics\n', {
        status: 404,
        headers: plain,
      }),
  );
  return app;
}
