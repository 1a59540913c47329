/**
 * deploy/k8s/monitoring, rendered as `kubectl apply -k` sends it: the PodMonitor, the
 * PrometheusRule and the dashboard's ConfigMap. kubernetes-models has no schemas for the
 * Prometheus Operator's CRDs, so their shape is checked here against the fields the CRDs
 * (monitoring.coreos.com/v1, prometheus-operator Documentation/api.md) define, and held against
 * the Deployment of both variants: the selector picks its pods, the port exists on the sidecar.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderKustomization } from './kustomize.ts';
import type { Manifest } from './kustomize.ts';
import { labelProblems, podOf, projectFacts } from './pod.ts';
import { repoRoot } from './project.ts';
import { schemaProblems, unknownFieldProblems } from './schema.ts';

const dir = join(repoRoot, 'deploy/k8s/monitoring');
const facts = projectFacts();
const monitoring = renderKustomization(dir);
const variants = ['deploy/k8s', 'deploy/k8s/overlays/native-sidecar'].map((name) => ({
  name,
  pod: podOf(renderKustomization(join(repoRoot, name)), facts),
}));
const one = (kind: string) => {
  const found = monitoring.filter((manifest) => manifest.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as Manifest & { spec: Record<string, unknown> };
};

/** A duration as the CRDs' pattern allows it (`30s`, `1m30s`). */
const duration = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;
const seconds = (text: string) =>
  [...text.matchAll(/(\d+)(ms|y|w|d|h|m|s)/g)].reduce(
    (sum, [, n, unit]) =>
      sum + Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 }[unit as 's'],
    0,
  );

/** The fields each CRD object may have, at the depths this directory uses (unknown fields are rejected by the API server's structural schema). */
const allowed: Record<string, string[]> = {
  PodMonitor: [
    'jobLabel',
    'podTargetLabels',
    'podMetricsEndpoints',
    'selector',
    'namespaceSelector',
    'sampleLimit',
    'targetLimit',
    'labelLimit',
    'attachMetadata',
    'scrapeClass',
  ],
  podMetricsEndpoint: [
    'port',
    'portNumber',
    'path',
    'scheme',
    'params',
    'interval',
    'scrapeTimeout',
    'honorLabels',
    'honorTimestamps',
    'metricRelabelings',
    'relabelings',
    'filterRunning',
    'enableHttp2',
    'followRedirects',
  ],
  PrometheusRule: ['groups'],
  group: ['name', 'interval', 'rules', 'limit', 'labels', 'partial_response_strategy', 'query_offset'],
  rule: ['record', 'alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'],
};
const unknown = (object: object, kind: string) => Object.keys(object).filter((key) => !allowed[kind]?.includes(key));

describe('deploy/k8s/monitoring', () => {
  it('renders a PodMonitor, a PrometheusRule and the dashboard ConfigMap, nothing else', () => {
    expect(monitoring.map((m) => `${m.apiVersion} ${m.kind}`).sort()).toEqual([
      'monitoring.coreos.com/v1 PodMonitor',
      'monitoring.coreos.com/v1 PrometheusRule',
      'v1 ConfigMap',
    ]);
  });

  it('labels every object with app.kubernetes.io/*', () => {
    expect(labelProblems(monitoring, variants[0]!.pod)).toEqual([]);
  });

  it('gives Grafana the dashboard: a valid ConfigMap labelled grafana_dashboard "1", holding dashboard.json unchanged', () => {
    const configMap = one('ConfigMap');
    expect(schemaProblems([configMap])).toEqual([]);
    expect(unknownFieldProblems([configMap])).toEqual([]);
    expect(configMap.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    const data = configMap.data as Record<string, string>;
    expect(Object.keys(data)).toEqual(['dashboard.json']);
    expect(data['dashboard.json']).toBe(readFileSync(join(dir, 'dashboard.json'), 'utf8'));
    expect(JSON.parse(data['dashboard.json'] as string)).toHaveProperty('uid');
  });

  describe.each(variants)('the PodMonitor, against $name', ({ pod }) => {
    const podMonitor = one('PodMonitor');
    const spec = podMonitor.spec as {
      selector: { matchLabels: Record<string, string> };
      podMetricsEndpoints: Record<string, string>[];
      podTargetLabels?: string[];
    };

    it('has only fields the CRD defines', () => {
      expect(unknown(spec, 'PodMonitor')).toEqual([]);
      for (const endpoint of spec.podMetricsEndpoints) expect(unknown(endpoint, 'podMetricsEndpoint')).toEqual([]);
    });

    it("selects the Deployment's pods with the Deployment's own selector", () => {
      expect(spec.selector.matchLabels).toEqual(pod.deployment.spec?.selector.matchLabels);
      for (const [key, value] of Object.entries(spec.selector.matchLabels)) expect(pod.labels[key], key).toBe(value);
    });

    it('scrapes /metrics on a port the sidecar declares, the one the scrape annotations name', () => {
      expect(spec.podMetricsEndpoints).toHaveLength(1);
      const endpoint = spec.podMetricsEndpoints[0] as Record<string, string>;
      const port = pod.sidecar.ports?.find((p) => p.name === endpoint.port);
      expect(port, `sidecar port named ${endpoint.port}`).toBeDefined();
      expect(String(port?.containerPort)).toBe(pod.annotations['prometheus.io/port']);
      expect(endpoint.path).toBe(pod.annotations['prometheus.io/path']);
      expect(endpoint.scheme).toBe('http');
      expect(endpoint.interval).toMatch(duration);
      expect(endpoint.scrapeTimeout).toMatch(duration);
      expect(seconds(endpoint.scrapeTimeout as string)).toBeLessThanOrEqual(seconds(endpoint.interval as string));
    });

    it('copies only labels the pod has onto the series', () => {
      for (const label of spec.podTargetLabels ?? []) expect(pod.labels, label).toHaveProperty([label]);
    });
  });

  it('the PrometheusRule carries exactly the groups of rules.yaml (the file for Prometheus without the operator)', () => {
    const rule = one('PrometheusRule');
    expect(unknown(rule.spec, 'PrometheusRule')).toEqual([]);
    const groups = rule.spec.groups as { rules: Record<string, unknown>[] }[];
    for (const group of groups) {
      expect(unknown(group, 'group')).toEqual([]);
      for (const r of group.rules) {
        expect(unknown(r, 'rule')).toEqual([]);
        expect('record' in r !== 'alert' in r, JSON.stringify(r)).toBe(true);
      }
    }
    // If this fails: edit rules.yaml, then copy its `groups:` into prometheus-rule.yaml's spec.
    expect(groups).toEqual((parse(readFileSync(join(dir, 'rules.yaml'), 'utf8')) as { groups: unknown }).groups);
  });
});
