/**
 * Checks of what lets Kubernetes scale the pod out and keep it up (base/hpa.yaml, base/pdb.yaml,
 * the pod's topologySpreadConstraints), held against the Deployment they belong to. Each returns
 * the problems it finds as sentences, like the checks of pod.ts.
 */
import type { HorizontalPodAutoscaler } from 'kubernetes-types/autoscaling/v2.js';
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1.js';
import { adapterMetricName, seriesMetricName } from '../monitoring/adapter.ts';
import type { AdapterRule } from '../monitoring/adapter.ts';
import type { Manifest } from './kustomize.ts';
import type { Pod } from './pod.ts';

const ofKind = <T>(manifests: Manifest[], kind: string) =>
  manifests.filter((manifest) => manifest.kind === kind) as unknown as T[];

export const autoscalersOf = (manifests: Manifest[]) =>
  ofKind<HorizontalPodAutoscaler>(manifests, 'HorizontalPodAutoscaler');

export const disruptionBudgetsOf = (manifests: Manifest[]) =>
  ofKind<PodDisruptionBudget>(manifests, 'PodDisruptionBudget');

/** Whether a selector picks the pod: only matchLabels is modelled (an expression is reported, not guessed at). */
function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  const matchLabels = Object.entries(selector?.matchLabels ?? {});
  return matchLabels.length > 0 && matchLabels.every(([key, value]) => labels[key] === value);
}

const same = (a: Record<string, string> | undefined, b: Record<string, string> | undefined) =>
  JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());

/** The one HPA's minReplicas (1 when unset, as the API defaults it), or undefined without an HPA. */
export function minReplicasOf(manifests: Manifest[]): number | undefined {
  const [autoscaler] = autoscalersOf(manifests);
  return autoscaler ? (autoscaler.spec?.minReplicas ?? 1) : undefined;
}

export function autoscalerProblems(manifests: Manifest[], pod: Pod): string[] {
  const autoscalers = autoscalersOf(manifests);
  if (autoscalers.length !== 1) return [`expected one HorizontalPodAutoscaler, found ${autoscalers.length}`];
  const [autoscaler] = autoscalers as [HorizontalPodAutoscaler];
  const name = `HorizontalPodAutoscaler ${autoscaler.metadata?.name}`;
  const problems: string[] = [];
  const spec = autoscaler.spec;
  const target = spec?.scaleTargetRef;
  const deployment = {
    apiVersion: pod.deployment.apiVersion,
    kind: pod.deployment.kind,
    name: pod.deployment.metadata?.name,
  };
  if (
    target?.apiVersion !== deployment.apiVersion ||
    target?.kind !== deployment.kind ||
    target?.name !== deployment.name
  )
    problems.push(
      `${name}: scaleTargetRef ${JSON.stringify(target)} is not the Deployment ${JSON.stringify(deployment)}`,
    );
  const min = spec?.minReplicas ?? 1;
  if (min < 2)
    problems.push(`${name}: minReplicas ${min}: one pod is an outage at its first restart, drain or node failure`);
  if ((spec?.maxReplicas ?? 0) <= min)
    problems.push(`${name}: maxReplicas ${spec?.maxReplicas} leaves nothing to scale above minReplicas ${min}`);
  const replicas = pod.deployment.spec?.replicas;
  if (replicas !== undefined && replicas !== min)
    problems.push(
      `the Deployment's replicas ${replicas} differs from the HPA's floor ${min}: each kubectl apply would set it there`,
    );
  const metrics = spec?.metrics ?? [];
  if (!metrics.some((metric) => metric.type === 'Resource' && metric.resource?.name === 'cpu'))
    problems.push(`${name}: has no CPU metric`);
  for (const metric of metrics) {
    const resource = metric.resource ?? metric.containerResource;
    if (resource?.target.type === 'Utilization') {
      // Utilization is usage over request: a container without a request leaves the HPA unable to compute it.
      const containers = metric.containerResource
        ? pod.all.filter((container) => container.name === metric.containerResource?.container)
        : pod.all;
      if (containers.length === 0)
        problems.push(
          `${name}: ${metric.type} metric names container ${metric.containerResource?.container}, not in the pod`,
        );
      for (const container of containers)
        if (container.resources?.requests?.[resource.name] === undefined)
          problems.push(
            `${name}: ${resource.name} utilization needs a ${resource.name} request on container ${container.name}`,
          );
    }
    if (metric.type === 'Pods' && (!metric.pods?.metric.name || metric.pods.target.type !== 'AverageValue'))
      problems.push(`${name}: a Pods metric needs a metric name and an AverageValue target`);
  }
  return problems;
}

export function disruptionBudgetProblems(manifests: Manifest[], pod: Pod): string[] {
  const budgets = disruptionBudgetsOf(manifests);
  if (budgets.length !== 1) return [`expected one PodDisruptionBudget, found ${budgets.length}`];
  const [budget] = budgets as [PodDisruptionBudget];
  const name = `PodDisruptionBudget ${budget.metadata?.name}`;
  const problems: string[] = [];
  const selector = budget.spec?.selector;
  if (selector?.matchExpressions) problems.push(`${name}: matchExpressions are not modelled by these checks`);
  if (!selects(selector, pod.labels))
    problems.push(`${name}: selector ${JSON.stringify(selector?.matchLabels)} does not select the pod`);
  else if (!same(selector?.matchLabels, pod.deployment.spec?.selector.matchLabels))
    problems.push(`${name}: selector is not the Deployment's own, so it may count another workload's pods`);
  const { maxUnavailable, minAvailable } = budget.spec ?? {};
  const floor = minReplicasOf(manifests) ?? pod.deployment.spec?.replicas ?? 1;
  if ((maxUnavailable === undefined) === (minAvailable === undefined))
    problems.push(`${name}: needs exactly one of maxUnavailable and minAvailable`);
  else if (typeof (maxUnavailable ?? minAvailable) !== 'number')
    problems.push(`${name}: a percentage is not modelled by these checks; use a number of pods`);
  else if (typeof maxUnavailable === 'number' && (maxUnavailable < 1 || maxUnavailable >= floor))
    problems.push(
      `${name}: maxUnavailable ${maxUnavailable} must let a drain proceed (>= 1) and keep a pod up at ${floor} replicas`,
    );
  else if (typeof minAvailable === 'number' && minAvailable >= floor)
    problems.push(`${name}: minAvailable ${minAvailable} at ${floor} replicas blocks every node drain`);
  return problems;
}

export function spreadProblems(pod: Pod): string[] {
  const problems: string[] = [];
  const constraints = pod.spec.topologySpreadConstraints ?? [];
  for (const [key, when] of [
    ['kubernetes.io/hostname', 'DoNotSchedule'],
    // Soft: nodes without a zone label (kind, minikube) would never take a pod under DoNotSchedule.
    ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
  ] as const) {
    const constraint = constraints.find((c) => c.topologyKey === key);
    if (!constraint) {
      problems.push(`the pod has no topologySpreadConstraint on ${key}`);
      continue;
    }
    if (constraint.whenUnsatisfiable !== when)
      problems.push(`spread on ${key}: whenUnsatisfiable is ${constraint.whenUnsatisfiable}, expected ${when}`);
    if (!selects(constraint.labelSelector, pod.labels))
      problems.push(`spread on ${key}: labelSelector does not select the pod, so it spreads other pods, not these`);
    if (!constraint.matchLabelKeys?.includes('pod-template-hash'))
      problems.push(
        `spread on ${key}: without matchLabelKeys [pod-template-hash], a rollout's old pods skew the new ones`,
      );
    if (constraint.whenUnsatisfiable === 'DoNotSchedule' && constraint.nodeTaintsPolicy !== 'Honor')
      problems.push(
        `spread on ${key}: a hard constraint needs nodeTaintsPolicy Honor, or a tainted node counts as an empty domain and blocks scheduling`,
      );
  }
  return problems;
}

/**
 * Every Pods metric of the HPA is served by a prometheus-adapter rule (AdapterRule, from
 * deploy/k8s/monitoring/prometheus-adapter-values.yaml) that reads one of the sidecar's own series,
 * per pod: its label matchers and grouping filled in, and its labels mapped to namespace and pod.
 */
export function podsMetricProblems(
  manifests: Manifest[],
  rules: AdapterRule[],
  sidecarSeries: (series: string) => boolean,
): string[] {
  const problems: string[] = [];
  const names = autoscalersOf(manifests).flatMap((autoscaler) =>
    (autoscaler.spec?.metrics ?? []).flatMap((metric) => (metric.type === 'Pods' ? [metric.pods?.metric.name] : [])),
  );
  for (const name of names) {
    const served = rules.flatMap((rule) => {
      const series = seriesMetricName(rule);
      return series !== undefined && adapterMetricName(rule, series) === name ? [{ rule, series }] : [];
    });
    const [found] = served;
    if (!found) {
      problems.push(`the HPA's Pods metric ${name} is served by no prometheus-adapter rule`);
      continue;
    }
    const { rule, series } = found;
    if (!sidecarSeries(series))
      problems.push(`${name}: the adapter reads ${series}, which the sidecar does not expose`);
    const overrides = Object.values(rule.resources.overrides ?? {}).map((target) => target.resource);
    for (const resource of ['namespace', 'pod'])
      if (!overrides.includes(resource)) problems.push(`${name}: the adapter rule maps no label to the ${resource}`);
    // Without LabelMatchers the HPA would get every pod's rate; without GroupBy, one sum for all.
    for (const field of ['Series', 'LabelMatchers', 'GroupBy'])
      if (!rule.metricsQuery.includes(`<<.${field}>>`))
        problems.push(`${name}: the adapter's metricsQuery does not use <<.${field}>>`);
    if (series.endsWith('_count') || series.endsWith('_total'))
      if (!/\b(rate|irate|increase)\(/.test(rule.metricsQuery))
        problems.push(`${name}: ${series} is a counter; the metricsQuery must take its rate`);
  }
  return problems;
}
