/**
 * Holds docs/behaviour.md#dashboards-and-status-page: every panel's and every rule's query runs
 * against a real Prometheus scraping real sidecars (Node, the pod's runtime) under traffic that
 * includes 502s (pod legacy-app-0) and, on a second pod with TLS and MAX_CONCURRENT_REQUESTS=1, a
 * WebSocket tunnel, an overload 503 and a 413 over MAX_REQUEST_BODY_BYTES (legacy-app-1). Each must parse and return data. The rules
 * are loaded into that Prometheus too: every one evaluates without error, and the alerts this
 * traffic should trip (5xx ratio, upstream errors) are pending, the others not. The
 * prometheus-adapter rule behind the HPA's requests-per-second metric runs here too, as the
 * adapter would run it (adapter.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../support/http-client.ts';
import { startSidecar } from '../support/sidecar.ts';
import type { Sidecar } from '../support/sidecar.ts';
import { startUpstream } from '../support/upstream.ts';
import type { Upstream } from '../support/upstream.ts';
import { spawn } from 'node:child_process';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { makePki, SecretVolume } from '../support/certificates.ts';
import type { TestPki } from '../support/certificates.ts';
import { connectWs } from '../support/ws-client.ts';
import type { WsClient } from '../support/ws-client.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dashboardExprs, readDashboard, ruleExprs, rulesFile, substitute } from './monitoring.ts';
import { adapterMetricName, adapterQuery, readAdapterRules, seriesMetricName } from './adapter.ts';
import { renderKustomization } from '../deploy/kustomize.ts';
import { repoRoot } from '../deploy/project.ts';
import { autoscalersOf } from '../deploy/scaling.ts';
import { startPrometheus } from './prometheus.ts';
import { INSTALL_TIMEOUT_MS, requireTools, systemTools } from '../support/system-tool.ts';
import type { Prometheus, QueryResult } from './prometheus.ts';

/** What Grafana puts for `$namespace`/`$pod` with "All" selected: the variables' allValue. */
const allValue = readDashboard().templating.list.find((v) => v.name === 'pod')?.allValue ?? '';
const labels = { namespace: 'shop', pod: 'legacy-app-0', app_kubernetes_io_name: 'legacy-app' };
/** The second pod: TLS on (the certificate metrics), MAX_CONCURRENT_REQUESTS=1 with no queue (an overload), a tunnel, a body refused. */
const labels1 = { ...labels, pod: 'legacy-app-1' };
/** Each round, per method and outcome; three rounds, each after Prometheus saw the one before, so every counter increases between scrapes. */
const round = { get200: 8, post200: 2, other200: 1, get502: 3 };
const rounds = 3;
const perRound = Object.values(round).reduce((a, b) => a + b, 0);

let upstream: Upstream;
let sidecar: Sidecar;
let secure: Sidecar;
let prometheus: Prometheus;
let pki: TestPki;
let work: string;
let tunnel: WsClient;

/** A GET over TLS to the second pod; resolves at the response's headers. */
const httpsGet = (path: string) =>
  new Promise<IncomingMessage>((resolve, reject) =>
    https.get({ host: 'localhost', port: secure.port, path, ca: pki.ca }, resolve).on('error', reject),
  );

/** An alert's expression with its comparisons made `bool`: 0 or 1 wherever its inputs exist, so "returns data" means the inputs are there. */
const asBool = (expr: string) => expr.replace(/\s(>|<|==|!=|>=|<=)\s/g, ' $1 bool ');

const total = () => prometheus.query('sum(http_server_request_duration_seconds_count{pod="legacy-app-0"})');
const valueOf = (result: QueryResult) => Number(result.data?.result[0]?.value[1] ?? Number.NaN);

// Prometheus, promtool and openssl (the second pod's certificates): installed when missing, as root.
beforeAll(() => requireTools([systemTools.prometheus, systemTools.promtool, systemTools.openssl]), INSTALL_TIMEOUT_MS);

beforeAll(async () => {
  upstream = await startUpstream();
  pki = await makePki();
  work = mkdtempSync(join(tmpdir(), 'sidecar-monitoring-'));
  const volume = new SecretVolume(work, 'tls', pki.first);
  [sidecar, secure] = await Promise.all([
    // COMPRESS, so the compression-ratio panel has data: the GETs below ask for gzip, and the
    // app's small echo answers qualify with COMPRESS_MIN_BYTES=0.
    startSidecar('node', { TARGET: upstream.url, SRV_NAME: 'legacy-app', COMPRESS: 'gzip', COMPRESS_MIN_BYTES: '0' }),
    startSidecar('node', {
      TARGET: upstream.url,
      SRV_NAME: 'legacy-app',
      TLS_CERT_FILE: volume.certFile,
      TLS_KEY_FILE: volume.keyFile,
      MAX_CONCURRENT_REQUESTS: '1',
      MAX_QUEUED_REQUESTS: '0',
      MAX_REQUEST_BODY_BYTES: '10',
    }),
  ]);
  prometheus = await startPrometheus({
    targets: [sidecar.adminUrl.replace('http://', '')],
    labels,
    ruleFiles: [rulesFile],
    more: [{ targets: [secure.adminUrl.replace('http://', '')], labels: labels1 }],
  });
  for (let r = 1; r <= rounds; r++) {
    const sends: Promise<{ status: number }>[] = [];
    for (let i = 0; i < round.get200; i++)
      sends.push(send(sidecar.url, `/page?id=r${r}-get-${i}`, { headers: [['Accept-Encoding', 'gzip']] }));
    for (let i = 0; i < round.post200; i++)
      sends.push(send(sidecar.url, `/form?id=r${r}-post-${i}`, { method: 'POST', body: 'x=1' }));
    for (let i = 0; i < round.other200; i++)
      sends.push(send(sidecar.url, `/dav?id=r${r}-propfind-${i}`, { method: 'PROPFIND' }));
    for (let i = 0; i < round.get502; i++) sends.push(send(sidecar.url, `/_/reset?id=r${r}-reset-${i}`));
    const statuses = (await Promise.all(sends)).map((response) => response.status);
    expect(statuses.filter((s) => s === 502)).toHaveLength(round.get502);
    await prometheus.until(
      'sum(http_server_request_duration_seconds_count{pod="legacy-app-0"})',
      (result) => valueOf(result) === r * perRound,
      `a scrape showing round ${r}`,
    );
  }
  // The second pod, seen by Prometheus before anything happens there (so its counters rise between
  // scrapes): a wss tunnel left open, and a request turned away while another holds the one slot.
  await prometheus.until(
    'sidecar_tunnels_total{pod="legacy-app-1"}',
    (result) => valueOf(result) === 0,
    'a scrape of the second pod',
  );
  tunnel = await connectWs(`wss://localhost:${secure.port}/ws/echo?id=monitoring-tunnel`, { ca: pki.ca });
  const held = await httpsGet('/_/slow?id=monitoring-hold');
  const refused = await httpsGet('/_/echo?id=monitoring-refused');
  refused.resume();
  expect(refused.statusCode).toBe(503);
  upstream.release('monitoring-hold');
  held.resume();
  // A refusal at the door (sidecar_refusals_total{reason="body_too_large"}): a body over the limit.
  const tooLarge = await new Promise<IncomingMessage>((resolve, reject) =>
    https
      .request(
        { host: 'localhost', port: secure.port, path: '/_/echo?id=monitoring-too-large', method: 'POST', ca: pki.ca },
        resolve,
      )
      .on('error', reject)
      .end('more than ten bytes'),
  );
  tooLarge.resume();
  expect(tooLarge.statusCode).toBe(413);
  await prometheus.until(
    'sum(sidecar_overload_rejections_total{pod="legacy-app-1"}) + sum(sidecar_tunnels_active{pod="legacy-app-1"}) + sum(sidecar_refusals_total{pod="legacy-app-1"})',
    (result) => valueOf(result) === 3,
    'a scrape showing the tunnel, the overload and the refusal',
  );
  // The recording rules ran after the last round.
  await prometheus.until(
    'namespace_pod:sidecar_requests:rate5m',
    (result) => (result.data?.result.length ?? 0) > 0,
    'the recording rules to be evaluated',
  );
  await prometheus.until(
    'namespace_app:sidecar_request_errors:ratio_rate5m',
    (result) => (result.data?.result.length ?? 0) > 0,
    'the SLO rules to be evaluated',
  );
}, 90_000);

afterAll(async () => {
  tunnel?.ws.terminate();
  await prometheus?.stop();
  await Promise.all([sidecar?.stop(), secure?.stop()]);
  pki?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
  await upstream?.close();
});

describe('a real Prometheus scraping a real sidecar under traffic', () => {
  it('sees the requests the sidecar was sent, with namespace and pod labels', async () => {
    expect(valueOf(await total())).toBe(rounds * perRound);
    const byCode = await prometheus.query(
      'sum by (http_response_status_code) (http_server_request_duration_seconds_count{namespace="shop", pod="legacy-app-0"})',
    );
    const counts = Object.fromEntries(
      (byCode.data?.result ?? []).map((s) => [s.metric.http_response_status_code, Number(s.value[1])]),
    );
    expect(counts).toEqual({
      '200': rounds * (round.get200 + round.post200 + round.other200),
      '502': rounds * round.get502,
    });
  });

  it("fills the dashboard's namespace and pod variables (label_values) from what it scraped", async () => {
    for (const variable of readDashboard().templating.list.filter((v) => v.type === 'query')) {
      const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
      const [, selector = '', label = ''] = /^label_values\((.+), (\w+)\)$/.exec(query) ?? [];
      const match = substitute(selector, { rateInterval: '1m', all: allValue });
      const { data } = await prometheus.get<{ data: string[] }>(
        `/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': match })}`,
      );
      expect(data, variable.name).toEqual(variable.name === 'pod' ? [labels.pod, labels1.pod] : [labels.namespace]);
    }
  });

  it('finds nothing to complain about in /metrics under this traffic (promtool check metrics)', async () => {
    const exposition = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    expect(exposition).toContain('http_server_request_duration_seconds_bucket');
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    const code = new Promise<number | null>((resolve, reject) => {
      child.once('exit', resolve);
      child.once('error', reject);
    });
    child.stdin.end(exposition);
    expect({ code: await code, output }).toEqual({ code: 0, output: '' });
  });

  it('runs every dashboard panel query: each parses and returns data', async () => {
    const problems: string[] = [];
    for (const e of dashboardExprs()) {
      const expr = substitute(e.expr, { rateInterval: '1m', all: allValue });
      const result = await prometheus.query(expr);
      if (result.status !== 'success') problems.push(`${e.what}: ${result.error}\n  ${expr}`);
      else if ((result.data?.result.length ?? 0) === 0) problems.push(`${e.what}: no data\n  ${expr}`);
      else if (result.data?.result.every((s) => Number.isNaN(Number(s.value[1]))))
        problems.push(`${e.what}: only NaN\n  ${expr}`);
    }
    expect(problems).toEqual([]);
  });

  it('runs every rule expression: each parses and returns data (alerts with their comparisons as bool)', async () => {
    const problems: string[] = [];
    for (const e of ruleExprs()) {
      const expr = asBool(e.expr);
      const result = await prometheus.query(expr);
      if (result.status !== 'success') problems.push(`${e.what}: ${result.error}\n  ${expr}`);
      else if ((result.data?.result.length ?? 0) === 0) problems.push(`${e.what}: no data\n  ${expr}`);
    }
    expect(problems).toEqual([]);
  });

  it('evaluates every loaded rule without error', async () => {
    const { data } = await prometheus.get<{
      data: { groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] };
    }>('/api/v1/rules');
    const rules = data.groups.flatMap((g) => g.rules);
    expect(rules).toHaveLength(ruleExprs().length);
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual(
      [],
    );
  });

  it('computes the figures the traffic implies: 3 in 14 requests a 5xx, all of them upstream errors', async () => {
    const ratio = await prometheus.query('namespace_app:sidecar_request_errors:ratio_rate5m');
    expect(ratio.data?.result[0]?.metric).toMatchObject({ namespace: 'shop', app_kubernetes_io_name: 'legacy-app' });
    // Counted from the first scrape that saw each series, so the exact share depends on which round it was; 3 of 14 per round.
    expect(valueOf(ratio)).toBeCloseTo(round.get502 / perRound, 1);
    const upstreamErrors = await prometheus.query(
      'namespace_pod:sidecar_upstream_errors:rate5m / namespace_pod:sidecar_requests:rate5m',
    );
    expect(valueOf(upstreamErrors)).toBeCloseTo(round.get502 / perRound, 1);
  });

  it('trips exactly the alerts this traffic should: the 5xx burn rates, upstream errors and the overload, not latency, readiness or the certificate', async () => {
    const tripped = await prometheus.until(
      'count by (alertname) (ALERTS)',
      (result) => (result.data?.result.length ?? 0) >= 4,
      'the alerts to go pending',
    );
    const names = (tripped.data?.result ?? []).map((s) => s.metric.alertname).sort();
    expect(names).toEqual([
      'SidecarErrorBudgetFastBurn',
      'SidecarErrorBudgetSlowBurn',
      'SidecarOverloaded',
      'SidecarUpstreamErrors',
    ]);
  });
});

describe('the prometheus-adapter rule behind the HPA (deploy/k8s/monitoring/prometheus-adapter-values.yaml)', () => {
  const rules = readAdapterRules();
  const [rule] = rules;
  const [autoscaler] = autoscalersOf(renderKustomization(join(repoRoot, 'deploy/k8s/overlays/monitoring')));
  const podsMetric = autoscaler?.spec?.metrics?.find((metric) => metric.type === 'Pods')?.pods?.metric.name;
  const series = seriesMetricName(rule!);

  it("gives the monitoring overlay's HPA a Pods metric, served by the one rule", () => {
    expect(rules).toHaveLength(1);
    expect(podsMetric).toBe('http_server_requests_per_second');
    expect(series && adapterMetricName(rule!, series)).toBe(podsMetric);
  });

  it("reads a series the sidecar's /metrics exposes: the request-duration histogram's count", async () => {
    const exposition = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    expect(series).toBe('http_server_request_duration_seconds_count');
    expect(exposition).toMatch(/^# TYPE http_server_request_duration_seconds histogram$/m);
    expect(exposition).toMatch(new RegExp(`^${series}\\{`, 'm'));
  });

  it('discovers that series per namespace and pod (its seriesQuery, as the adapter lists series)', async () => {
    const { data } = await prometheus.get<{ data: Record<string, string>[] }>(
      `/api/v1/series?${new URLSearchParams({ 'match[]': rule!.seriesQuery })}`,
    );
    expect(new Set(data.map((labels) => labels.__name__))).toEqual(new Set([series]));
    expect(new Set(data.map((labels) => `${labels.namespace}/${labels.pod}`))).toEqual(
      new Set([`${labels.namespace}/${labels.pod}`, `${labels1.namespace}/${labels1.pod}`]),
    );
    expect(data.map((labels) => adapterMetricName(rule!, labels.__name__ ?? ''))).not.toContain(undefined);
  });

  it('answers the query the adapter sends for the HPA: one rate per pod, above 0 where requests came in', async () => {
    const query = adapterQuery(rule!, series!, labels.namespace, [labels.pod, labels1.pod]);
    expect(query).toBe(
      'sum by (pod) (rate(http_server_request_duration_seconds_count{namespace="shop",pod=~"legacy-app-0|legacy-app-1"}[2m]))',
    );
    const result = await prometheus.query(query);
    expect(result.status, result.error).toBe('success');
    const perPod = result.data?.result ?? [];
    expect(perPod.map((s) => Object.keys(s.metric))).toEqual([['pod'], ['pod']]);
    expect(new Set(perPod.map((s) => s.metric.pod))).toEqual(new Set([labels.pod, labels1.pod]));
    // legacy-app-0 took three rounds of requests, each scraped before the next.
    expect(Number(perPod.find((s) => s.metric.pod === labels.pod)?.value[1])).toBeGreaterThan(0);

    // One pod asked for: an equality matcher, as the adapter builds it.
    const one = await prometheus.query(adapterQuery(rule!, series!, labels.namespace, [labels.pod]));
    expect(one.data?.result.map((s) => s.metric)).toEqual([{ pod: labels.pod }]);
    expect(Number(one.data?.result[0]?.value[1])).toBeGreaterThan(0);
  });
});
