/**
 * Scaling out and staying up, as rendered for every variant: the HorizontalPodAutoscaler targets
 * the Deployment and can compute its metrics, the PodDisruptionBudget selects exactly its pods,
 * the pods spread over nodes and zones, the grace period covers the drain, and the monitoring
 * overlay's requests-per-second metric is one the prometheus-adapter rule serves from the
 * sidecar's own histogram. The second block breaks a copy in each way a check exists for.
 */
import { join } from 'node:path';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { HorizontalPodAutoscaler } from 'kubernetes-types/autoscaling/v2.js';
import type { Container, PodSpec } from 'kubernetes-types/core/v1.js';
import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1.js';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { readAdapterRules } from '../monitoring/adapter.ts';
import type { AdapterRule } from '../monitoring/adapter.ts';
import { familyOf, sidecarMetrics } from '../monitoring/monitoring.ts';
import { renderKustomization } from './kustomize.ts';
import type { Manifest } from './kustomize.ts';
import { podOf, projectFacts, shutdownProblems } from './pod.ts';
import { repoRoot } from './project.ts';
import {
  autoscalerProblems,
  autoscalersOf,
  disruptionBudgetProblems,
  disruptionBudgetsOf,
  podsMetricProblems,
  spreadProblems,
} from './scaling.ts';
import { schemaProblems, unknownFieldProblems } from './schema.ts';

const facts = projectFacts();
const render = (dir: string) => renderKustomization(join(repoRoot, dir));
const variants = [
  'deploy/k8s',
  'deploy/k8s/overlays/native-sidecar',
  'deploy/k8s/overlays/tls',
  'deploy/k8s/overlays/monitoring',
  'deploy/k8s/overlays/bun',
];
const adapterRules = readAdapterRules();
const isSidecarSeries = (series: string) => (sidecarMetrics as readonly string[]).includes(familyOf(series));
/** The Kubernetes API's own kinds: the Prometheus Operator's are checked in monitoring.test.ts. */
const coreKinds = (manifests: Manifest[]) =>
  manifests.filter((m) => !m.apiVersion.startsWith('monitoring.coreos.com/'));

describe.each(variants)('%s', (dir) => {
  const manifests = render(dir);
  const pod = podOf(manifests, facts);

  it('has an HPA and a PDB that validate against the Kubernetes schemas, with no unknown field', () => {
    expect(autoscalersOf(manifests)).toHaveLength(1);
    expect(disruptionBudgetsOf(manifests)).toHaveLength(1);
    expect(schemaProblems(coreKinds(manifests))).toEqual([]);
    expect(unknownFieldProblems(coreKinds(manifests))).toEqual([]);
  });

  it('scales the Deployment (apps/v1, by name) from its replicas up, on CPU every container requests', () => {
    expect(autoscalerProblems(manifests, pod)).toEqual([]);
    const [autoscaler] = autoscalersOf(manifests);
    expect(autoscaler?.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'legacy-app' });
    expect(autoscaler?.spec?.minReplicas).toBe(pod.deployment.spec?.replicas);
  });

  it("lets a drain take one pod at a time, chosen by the Deployment's own selector", () => {
    expect(disruptionBudgetProblems(manifests, pod)).toEqual([]);
  });

  it('spreads the pods over nodes (hard) and zones (soft), counting only its own ReplicaSet', () => {
    expect(spreadProblems(pod)).toEqual([]);
  });

  it('gives the drain time: grace period above the preStop pauses plus DRAIN_TIMEOUT_MS', () => {
    expect(shutdownProblems(pod)).toEqual([]);
  });

  it('asks the adapter only for Pods metrics a rule serves from the sidecar histogram', () => {
    expect(podsMetricProblems(manifests, adapterRules, isSidecarSeries)).toEqual([]);
    const pods = autoscalersOf(manifests)[0]?.spec?.metrics?.filter((metric) => metric.type === 'Pods') ?? [];
    expect(pods).toHaveLength(dir.endsWith('/monitoring') ? 1 : 0);
  });
});

it('the monitoring overlay differs from the base only by the HPA metric and the monitoring objects', () => {
  const base = render('deploy/k8s');
  const monitoring = render('deploy/k8s/overlays/monitoring');
  const withoutPods = structuredClone(monitoring);
  const autoscaler = autoscalersOf(withoutPods)[0] as HorizontalPodAutoscaler;
  autoscaler.spec!.metrics = autoscaler.spec?.metrics?.filter((metric) => metric.type !== 'Pods');
  const monitoringOnly = render('deploy/k8s/monitoring').map((m) => `${m.kind} ${m.metadata.name}`);
  expect(withoutPods.filter((m) => !monitoringOnly.includes(`${m.kind} ${m.metadata.name}`))).toEqual(base);
});

describe('the checks catch the mistakes they exist for', () => {
  const base = render('deploy/k8s');
  /** A copy of the base with one change, and the checks run on it. */
  const broken = (
    change: (parts: {
      autoscaler: HorizontalPodAutoscaler;
      budget: PodDisruptionBudget;
      deployment: Deployment;
      spec: PodSpec;
      container: (name: string) => Container;
    }) => void,
  ) => {
    const copy = structuredClone(base);
    const deployment = copy.find((m) => m.kind === 'Deployment') as unknown as Deployment;
    const spec = deployment.spec?.template.spec as PodSpec;
    change({
      autoscaler: autoscalersOf(copy)[0] as HorizontalPodAutoscaler,
      budget: disruptionBudgetsOf(copy)[0] as PodDisruptionBudget,
      deployment,
      spec,
      container: (name) => spec.containers.find((c) => c.name === name) as Container,
    });
    return { manifests: copy, pod: podOf(copy, facts) };
  };

  it('a wrong type in the HPA (the schemas catch it) and a misspelt PDB field (the types catch it)', () => {
    const { manifests } = broken(({ autoscaler, budget }) => {
      Object.assign(autoscaler.spec!, { minReplicas: '2' });
      Object.assign(budget.spec!, { maxUnavailible: 1 });
    });
    expect(schemaProblems(manifests)).toEqual([
      expect.stringMatching(/HorizontalPodAutoscaler legacy-app: \/spec\/minReplicas must be integer/),
    ]);
    expect(unknownFieldProblems(manifests)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/PodDisruptionBudget legacy-app: .*'"maxUnavailible"' does not exist/),
      ]),
    );
  });

  it('an HPA aimed at another kind, name or API version', () => {
    for (const ref of [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'legacy-app' },
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'legacy' },
      { apiVersion: 'extensions/v1beta1', kind: 'Deployment', name: 'legacy-app' },
    ]) {
      const { manifests, pod } = broken(({ autoscaler }) => (autoscaler.spec!.scaleTargetRef = ref));
      expect(autoscalerProblems(manifests, pod)).toEqual([
        expect.stringMatching(/scaleTargetRef .* is not the Deployment/),
      ]);
    }
  });

  it('a floor of one pod, no room to scale, and replicas that apply would fight the floor with', () => {
    const { manifests, pod } = broken(({ autoscaler, deployment }) => {
      autoscaler.spec!.minReplicas = 1;
      autoscaler.spec!.maxReplicas = 1;
      deployment.spec!.replicas = 3;
    });
    expect(autoscalerProblems(manifests, pod)).toEqual([
      expect.stringMatching(/minReplicas 1: one pod is an outage/),
      expect.stringMatching(/maxReplicas 1 leaves nothing to scale/),
      expect.stringMatching(/replicas 3 differs from the HPA's floor 1/),
    ]);
  });

  it('CPU utilization with a container that requests no CPU (the HPA could not compute it)', () => {
    const { manifests, pod } = broken(({ container }) => delete container('legacy').resources?.requests?.cpu);
    expect(autoscalerProblems(manifests, pod)).toEqual([
      expect.stringMatching(/cpu utilization needs a cpu request on container legacy/),
    ]);
  });

  it("a PDB that selects no pod, or more than the Deployment's", () => {
    const none = broken(
      ({ budget }) => (budget.spec!.selector = { matchLabels: { 'app.kubernetes.io/name': 'legacy' } }),
    );
    expect(disruptionBudgetProblems(none.manifests, none.pod)).toEqual([
      expect.stringMatching(/does not select the pod/),
    ]);
    const wide = broken(
      ({ budget }) => (budget.spec!.selector = { matchLabels: { 'app.kubernetes.io/part-of': 'legacy-app' } }),
    );
    expect(disruptionBudgetProblems(wide.manifests, wide.pod)).toEqual([
      expect.stringMatching(/not the Deployment's own/),
    ]);
  });

  it('a PDB that blocks every drain (maxUnavailable 0, minAvailable at the floor) or lets all pods go', () => {
    for (const [budgetSpec, problem] of [
      [{ maxUnavailable: 0 }, /maxUnavailable 0 must let a drain proceed/],
      [{ maxUnavailable: 2 }, /maxUnavailable 2 must .* keep a pod up at 2 replicas/],
      [{ minAvailable: 2 }, /minAvailable 2 at 2 replicas blocks every node drain/],
      [{ minAvailable: 1, maxUnavailable: 1 }, /exactly one of maxUnavailable and minAvailable/],
    ] as const) {
      const { manifests, pod } = broken(({ budget }) => {
        delete budget.spec?.maxUnavailable;
        Object.assign(budget.spec!, budgetSpec);
      });
      expect(disruptionBudgetProblems(manifests, pod)).toEqual([expect.stringMatching(problem)]);
    }
  });

  it('a hard zone spread, a hard node spread that counts tainted nodes, a rollout that skews, a foreign selector', () => {
    const { pod } = broken(({ spec }) => {
      const [node, zone] = spec.topologySpreadConstraints ?? [];
      delete node?.nodeTaintsPolicy;
      delete node?.matchLabelKeys;
      if (zone) zone.whenUnsatisfiable = 'DoNotSchedule';
      if (zone) zone.labelSelector = { matchLabels: { app: 'other' } };
    });
    expect(spreadProblems(pod)).toEqual([
      expect.stringMatching(/kubernetes.io\/hostname: without matchLabelKeys/),
      expect.stringMatching(/kubernetes.io\/hostname: a hard constraint needs nodeTaintsPolicy Honor/),
      expect.stringMatching(/zone: whenUnsatisfiable is DoNotSchedule, expected ScheduleAnyway/),
      expect.stringMatching(/zone: labelSelector does not select the pod/),
      expect.stringMatching(/zone: a hard constraint needs nodeTaintsPolicy Honor/),
    ]);
    const none = broken(({ spec }) => delete spec.topologySpreadConstraints);
    expect(spreadProblems(none.pod)).toHaveLength(2);
  });

  it("a grace period that the schema's default drain overruns when DRAIN_TIMEOUT_MS is left unset", () => {
    const drainDefault = loadConfig({}).DRAIN_TIMEOUT_MS / 1000;
    expect(drainDefault).toBe(10);
    const unset = broken(({ container }) => {
      const sidecar = container('sidecar');
      sidecar.env = sidecar.env?.filter((variable) => variable.name !== 'DRAIN_TIMEOUT_MS');
    });
    expect(shutdownProblems(unset.pod)).toEqual([]);
    const short = broken(({ spec, container }) => {
      spec.terminationGracePeriodSeconds = 15;
      const sidecar = container('sidecar');
      sidecar.env = sidecar.env?.filter((variable) => variable.name !== 'DRAIN_TIMEOUT_MS');
    });
    expect(shutdownProblems(short.pod)).toEqual([
      expect.stringMatching(
        new RegExp(`terminationGracePeriodSeconds 15 is not above the shutdown's ${5 + drainDefault} s`),
      ),
    ]);
  });

  describe('a Pods metric the adapter cannot serve as meant', () => {
    const monitoring = render('deploy/k8s/overlays/monitoring');
    const [rule] = adapterRules as [AdapterRule];
    const problems = (change: (rule: AdapterRule) => void, sidecarSeries = isSidecarSeries) => {
      const copy = structuredClone(rule);
      change(copy);
      return podsMetricProblems(monitoring, [copy], sidecarSeries);
    };

    it('a name no rule gives, or a series the sidecar does not expose', () => {
      expect(problems((r) => (r.name = { matches: '^(.*)_count$', as: '${1}_per_second' }))).toEqual([
        expect.stringMatching(/http_server_requests_per_second is served by no prometheus-adapter rule/),
      ]);
      expect(
        problems(
          () => undefined,
          () => false,
        ),
      ).toEqual([
        expect.stringMatching(/reads http_server_request_duration_seconds_count, which the sidecar does not expose/),
      ]);
    });

    it("a query over every pod, summed into one, of the counter's raw value, without the pod label mapped", () => {
      expect(
        problems((r) => {
          r.metricsQuery = 'sum(<<.Series>>)';
          r.resources = { overrides: { namespace: { resource: 'namespace' } } };
        }),
      ).toEqual([
        expect.stringMatching(/maps no label to the pod/),
        expect.stringMatching(/does not use <<.LabelMatchers>>/),
        expect.stringMatching(/does not use <<.GroupBy>>/),
        expect.stringMatching(/is a counter; the metricsQuery must take its rate/),
      ]);
    });
  });
});
