/**
 * The prometheus-adapter rule of deploy/k8s/monitoring/prometheus-adapter-values.yaml, and what
 * the adapter does with it, re-done here in the adapter's own terms
 * (kubernetes-sigs/prometheus-adapter pkg/naming/metric_namer.go and metrics_query.go) so that a
 * test can run the exact query the adapter would send to Prometheus for an HPA's Pods metric.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { monitoringDir } from './monitoring.ts';

export const adapterValuesFile = join(monitoringDir, 'prometheus-adapter-values.yaml');

export interface AdapterRule {
  seriesQuery: string;
  resources: { overrides?: Record<string, { group?: string; resource: string }>; template?: string };
  name?: { matches?: string; as?: string };
  metricsQuery: string;
}

export function readAdapterRules(): AdapterRule[] {
  return (parse(readFileSync(adapterValuesFile, 'utf8')) as { rules: { custom: AdapterRule[] } }).rules.custom;
}

/**
 * The metric name the adapter serves for a series (MetricNameForSeries): `as` expanded with the
 * groups of `matches` (Go's Regexp.ExpandString), or undefined when the series does not match.
 * `matches` defaults to the whole name, `as` to $0 or the one group.
 */
export function adapterMetricName(rule: AdapterRule, series: string): string | undefined {
  const pattern = new RegExp(rule.name?.matches ?? '.*');
  const match = pattern.exec(series);
  if (!match) return undefined;
  const as = rule.name?.as ?? (match.length === 1 ? '$0' : '$1');
  return as.replace(
    /\$(?:\{(\w+)\}|(\d+))/g,
    (_, braced?: string, bare?: string) => match[Number(braced ?? bare)] ?? '',
  );
}

/** The series (names) the adapter discovers for a rule: its seriesQuery asked of Prometheus' /api/v1/series. */
export const seriesMetricName = (rule: AdapterRule) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rule.seriesQuery)?.[0];

/** The label that names a resource in the rule's overrides (LabelForResource), e.g. pod -> "pod". */
export function labelFor(rule: AdapterRule, resource: string): string {
  const entry = Object.entries(rule.resources.overrides ?? {}).find(([, target]) => target.resource === resource);
  if (!entry) throw new Error(`the adapter rule maps no label to the resource ${resource}`);
  return entry[0];
}

/**
 * The PromQL the adapter sends for a Pods metric of an HPA (metricsQuery.Build): LabelMatchers is
 * the namespace's matcher, then the pods' (`=` for one pod, `=~"a|b"` for several), joined by a
 * comma; GroupBy is the pod label. Values are quoted as Go's %q does (JSON's escaping, for these names).
 */
export function adapterQuery(rule: AdapterRule, series: string, namespace: string, pods: string[]): string {
  const podLabel = labelFor(rule, 'pod');
  const matchers = [
    `${labelFor(rule, 'namespace')}=${JSON.stringify(namespace)}`,
    `${podLabel}${pods.length > 1 ? '=~' : '='}${JSON.stringify(pods.join('|'))}`,
  ];
  const values: Record<string, string> = { Series: series, LabelMatchers: matchers.join(','), GroupBy: podLabel };
  const query = rule.metricsQuery.replace(/<<\s*\.(\w+)\s*>>/g, (whole, field: string) => {
    const value = values[field];
    if (value === undefined) throw new Error(`the metricsQuery uses ${whole}, which this model does not fill in`);
    return value;
  });
  if (query.includes('<<')) throw new Error(`the metricsQuery has a template action this model does not run: ${query}`);
  return query;
}
