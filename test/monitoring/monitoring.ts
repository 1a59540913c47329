/**
 * What the monitoring tests read: the dashboard's and the rules' expressions (deploy/k8s/monitoring),
 * Grafana's variables substituted as Grafana would, and the metrics the sidecar exposes.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { repoRoot } from '../support/sidecar.ts';

export const monitoringDir = join(repoRoot, 'deploy/k8s/monitoring');

export const run = promisify(execFile);

/**
 * Every metric the dashboard and the rules are built on (docs/behaviour.md#admin-listener; docs/observability.md's
 * metric list).
 */
export const sidecarMetrics = [
  'http_server_request_duration_seconds',
  'http_server_active_requests',
  'sidecar_upstream_errors_total',
  'sidecar_log_lines_dropped_total',
  'sidecar_ready',
  'sidecar_tunnels_active',
  'sidecar_tunnels_total',
  'sidecar_queued_requests',
  'sidecar_overload_rejections_total',
  'sidecar_refusals_total',
  'sidecar_spans_dropped_total',
  'sidecar_auth_total',
  'sidecar_tls_certificate_expiry_timestamp_seconds',
  'sidecar_tls_reload_errors_total',
  'sidecar_compressed_bytes_total',
  'process_resident_memory_bytes',
  'process_cpu_seconds_total',
  'process_start_time_seconds',
] as const;

/** Counters and the histogram's counter series: only meaningful inside rate()/increase(). */
export const counterSeries = /^(.*_total|.*_count|.*_sum|.*_bucket)$/;

export interface Target {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
  legendFormat?: string;
}

export interface Panel {
  id: number;
  type: string;
  title?: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
  panels?: Panel[];
  gridPos?: { x: number; y: number; w: number; h: number };
}

export interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
  datasource?: { type?: string; uid?: string };
  refresh?: number;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

export const dashboardFile = join(monitoringDir, 'dashboard.json');

export function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
}

/** Every panel, rows' children included; rows themselves are not panels with queries. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]).filter((panel) => panel.type !== 'row');
}

/**
 * An expression as Grafana sends it: `$namespace`/`$pod` with "All" selected become the variables'
 * allValue, `$__rate_interval` a range (Grafana: max(4 × scrape interval, step + scrape interval);
 * with a 1 s scrape interval, 15 s is comfortably above it). `${1}` is label_replace's own group
 * reference, not a Grafana variable, and stays.
 */
export function substitute(expr: string, values: { rateInterval: string; all: string }): string {
  return expr
    .replaceAll('$__rate_interval', values.rateInterval)
    .replaceAll('$namespace', values.all)
    .replaceAll('$pod', values.all);
}

export interface RuleExpr {
  what: string;
  expr: string;
}

export interface RuleGroup {
  name: string;
  rules: {
    record?: string;
    alert?: string;
    expr: string;
    for?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  }[];
}

export const rulesFile = join(monitoringDir, 'rules.yaml');

export function readRuleGroups(): RuleGroup[] {
  return (parse(readFileSync(rulesFile, 'utf8')) as { groups: RuleGroup[] }).groups;
}

export function dashboardExprs(): RuleExpr[] {
  return allPanels(readDashboard()).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ what: `panel "${panel.title}" ${target.refId}`, expr: target.expr })),
  );
}

export function ruleExprs(): RuleExpr[] {
  return readRuleGroups().flatMap((group) =>
    group.rules.map((rule) => ({ what: `rule ${rule.record ?? rule.alert}`, expr: rule.expr })),
  );
}

const keywords = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/** The metric (and recording-rule) names an expression reads: what is left once strings, label matchers, ranges, grouping clauses and function names are gone. */
export function metricsIn(expr: string): string[] {
  const code = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const match of code.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const name = match[1] as string;
    if (match[2] === undefined && !keywords.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

/** The family a series name belongs to (http_server_request_duration_seconds_bucket -> ..._seconds). */
export function familyOf(series: string): string {
  return (
    sidecarMetrics.find((name) => series === name || series.replace(/_(bucket|count|sum)$/, '') === name) ?? series
  );
}
