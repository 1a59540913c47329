/**
 * The Grafana dashboard, held to the rules of grafana/dashboard-linter (lint/rules.go) that apply
 * to it, re-implemented here because the linter is a Go binary with no package on npm or Debian:
 * template-datasource, template-on-time-change-reload, template-label-promql, panel-datasource,
 * panel-title-description, panel-units, panel-no-targets, target-promql (every expression parsed
 * by promtool), target-rate-interval, target-counter-agg. The linter's target-job/target-instance
 * become namespace/pod: Kubernetes service discovery labels the series that way, and
 * docs/behaviour.md#dashboards-and-status-page promises those two variables. Whether each query
 * returns data is prometheus.test.ts's job.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';
import {
  allPanels,
  counterSeries,
  dashboardFile,
  dashboardExprs,
  familyOf,
  metricsIn,
  readDashboard,
  ruleExprs,
  run,
  sidecarMetrics,
  substitute,
} from './monitoring.ts';

const dashboard = readDashboard();
const panels = allPanels(dashboard);
const targets = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));
const dir = mkdtempSync(join(tmpdir(), 'sidecar-dashboard-'));
// target-promql runs promtool: installed here when missing (as root), else one line naming it.
beforeAll(() => requireTool(systemTools.promtool), INSTALL_TIMEOUT_MS);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Units Grafana knows (packages/grafana-data/src/valueFormats/categories.ts): the ones a dashboard like this needs. */
const knownUnits = new Set([
  'reqps',
  'ops',
  'cps',
  'percentunit',
  'percent',
  's',
  'ms',
  'dtdurations',
  'bytes',
  'decbytes',
  'short',
  'none',
]);

describe('the Grafana dashboard (deploy/k8s/monitoring/dashboard.json)', () => {
  it('is a classic dashboard of the current schema with a stable uid', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(42);
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).not.toBe('');
    const ids = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]).map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('fits in the annotation kubectl apply stores it in (262144 bytes), with room to spare', () => {
    // `kubectl apply` copies the whole ConfigMap into metadata.annotations
    // (kubectl.kubernetes.io/last-applied-configuration), which the API server caps at 256 KiB.
    expect(statSync(dashboardFile).size).toBeLessThan(128 * 1024);
  });

  it('template-datasource: has a Prometheus `datasource` variable', () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
  });

  it('has namespace and pod variables from label_values, reloaded on time range change, with an All option', () => {
    for (const name of ['namespace', 'pod']) {
      const variable = dashboard.templating.list.find((v) => v.name === name);
      expect(variable, name).toBeDefined();
      expect(variable?.type).toBe('query');
      expect(variable?.datasource?.uid).toBe('${datasource}');
      // template-on-time-change-reload: 2 = "On time range change".
      expect(variable?.refresh).toBe(2);
      expect(variable?.includeAll).toBe(true);
      const query = typeof variable?.query === 'string' ? variable.query : variable?.query?.query;
      // template-label-promql
      expect(query).toMatch(new RegExp(`^label_values\\((.+), ${name}\\)$`));
    }
  });

  it('panel-title-description and panel-units: every panel has a title, a description and a known unit', () => {
    for (const panel of panels) {
      expect(panel.title, `panel ${panel.id}`).toBeTruthy();
      expect(panel.description, `panel "${panel.title}"`).toBeTruthy();
      expect(knownUnits, `unit of "${panel.title}"`).toContain(panel.fieldConfig?.defaults?.unit);
    }
  });

  it('panel-datasource and panel-no-targets: every panel and target queries ${datasource}, and every panel has queries', () => {
    for (const panel of panels) {
      expect(panel.datasource?.uid, `panel "${panel.title}"`).toBe('${datasource}');
      expect(panel.targets?.length, `panel "${panel.title}"`).toBeGreaterThan(0);
      for (const target of panel.targets ?? [])
        expect(target.datasource?.uid, `"${panel.title}" ${target.refId}`).toBe('${datasource}');
    }
  });

  it('target-rate-interval: every rate() and increase() uses [$__rate_interval]', () => {
    for (const { panel, target } of targets) {
      const ranges = [...target.expr.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]);
      expect(
        ranges.every((range) => range === '$__rate_interval'),
        `"${panel.title}": ${target.expr}`,
      ).toBe(true);
      const calls = target.expr.match(/\b(rate|increase|irate)\(/g) ?? [];
      expect(calls.length, `"${panel.title}" ranges`).toBe(ranges.length);
      expect(target.expr).not.toMatch(/\birate\(/);
    }
  });

  it('target-counter-agg: counters appear only inside rate() or increase()', () => {
    for (const { panel, target } of targets) {
      for (const match of target.expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{[^}]*\}(\[[^\]]*\])?/g)) {
        const [whole, name = '', range] = match;
        if (!counterSeries.test(name)) continue;
        const before = target.expr.slice(0, match.index);
        expect(range, `"${panel.title}": ${whole} needs a range`).toBe('[$__rate_interval]');
        expect(before, `"${panel.title}": ${whole}`).toMatch(/\b(rate|increase)\($/);
      }
    }
  });

  it('target-namespace/pod: every selector filters on the namespace and pod variables', () => {
    for (const { panel, target } of targets) {
      const selectors = [
        ...target.expr
          .replace(/"(?:[^"\\]|\\.)*"/g, (s) => s.replace(/[{}]/g, ''))
          .matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*\{([^}]*)\}/g),
      ];
      expect(selectors.length, `"${panel.title}"`).toBeGreaterThan(0);
      for (const [, matchers = ''] of selectors) {
        expect(matchers, `"${panel.title}": ${target.expr}`).toContain('namespace=~"$namespace"');
        expect(matchers, `"${panel.title}": ${target.expr}`).toContain('pod=~"$pod"');
      }
    }
  });

  it('target-promql: every expression parses (promtool, as a recording rule)', async () => {
    const exprs = dashboardExprs();
    const file = join(dir, 'dashboard-exprs.yaml');
    const rules = exprs.map((e, i) => ({
      record: `dashboard:expr_${i}`,
      expr: substitute(e.expr, { rateInterval: '1m', all: '.+' }),
    }));
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const { stdout } = await run('promtool', ['check', 'rules', file]);
    expect(stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('shows every metric the sidecar exposes, and reads no other', () => {
    const used = new Set(
      dashboardExprs()
        .flatMap((e) => metricsIn(e.expr))
        .map(familyOf),
    );
    // sidecar_ready is the variables' source and the "Pods ready" panel's.
    expect([...used].sort()).toEqual([...sidecarMetrics].sort());
  });

  it('the rules use every metric an alert is promised for, and no unknown one', () => {
    const used = new Set(
      ruleExprs()
        .flatMap((e) => metricsIn(e.expr))
        .map(familyOf),
    );
    const raw = [...used].filter((name) => !name.includes(':'));
    for (const name of raw) expect(sidecarMetrics, name).toContain(name);
    for (const name of [
      'http_server_request_duration_seconds',
      'sidecar_upstream_errors_total',
      'sidecar_ready',
      'sidecar_tls_certificate_expiry_timestamp_seconds',
      'sidecar_tls_reload_errors_total',
      'sidecar_log_lines_dropped_total',
      'sidecar_spans_dropped_total',
      'sidecar_overload_rejections_total',
    ]) {
      expect(raw, name).toContain(name);
    }
  });
});
