/**
 * deploy/k8s/examples/your-app, the overlay a user copies to put the sidecar in front of their own
 * app: rendered by the same renderer as the other variants (kustomize.test.ts holds it to what
 * `kubectl kustomize` rendered, test/deploy/rendered/). The app's image is not one the Makefile
 * builds, so its containers are told apart by name here, and the checks that assume the demo
 * (its image, its PORT variable) are left out; every other manifest check applies.
 */
import { join } from 'node:path';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Container } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.ts';
import { readYamlDocuments, renderKustomization } from './kustomize.ts';
import type { Manifest } from './kustomize.ts';
import {
  labelProblems,
  metricsProblems,
  podOf,
  portProblems,
  probeProblems,
  projectFacts,
  resourceProblems,
  securityProblems,
  serviceProblems,
  shutdownProblems,
  sidecarConfig,
} from './pod.ts';
import type { Pod } from './pod.ts';
import { repoRoot } from './project.ts';
import { schemaProblems, unknownFieldProblems } from './schema.ts';

const dir = join(repoRoot, 'deploy/k8s/examples/your-app');
const facts = projectFacts();
const example = renderKustomization(dir);
const base = renderKustomization(join(repoRoot, 'deploy/k8s/base'));
const [kustomization] = readYamlDocuments(join(dir, 'kustomization.yaml')) as [
  { images: { name: string; newName: string; newTag: string }[] },
];

/** The pod, its containers found by the base's names (the app's image is the user's). */
function podByName(manifests: Manifest[]): Pod {
  const deployment = manifests.find((m) => m.kind === 'Deployment') as unknown as Deployment;
  const spec = deployment.spec?.template.spec;
  if (!spec) throw new Error('no pod spec');
  const byName = (name: string) => spec.containers.find((container) => container.name === name) as Container;
  return {
    deployment,
    spec,
    labels: deployment.spec?.template.metadata?.labels ?? {},
    annotations: deployment.spec?.template.metadata?.annotations ?? {},
    all: spec.containers,
    sidecar: byName('sidecar'),
    legacy: byName('legacy'),
    native: false,
  };
}

const pod = podByName(example);
const app = pod.legacy;
const target = () => {
  const config = sidecarConfig(pod);
  if (config instanceof ConfigError) throw config;
  return new URL(config.TARGET.origin);
};

describe('deploy/k8s/examples/your-app', () => {
  it('runs the image named in its `images:` in the app container, and the sidecar the base runs', () => {
    const [image] = kustomization.images;
    expect(image?.name).toBe('legacy-app');
    expect(app.image).toBe(`${image?.newName}:${image?.newTag}`);
    expect(pod.sidecar.image).toBe(podOf(base, facts).sidecar.image);
  });

  it('declares the app’s port, and the sidecar’s TARGET points at it on localhost', () => {
    expect(app.ports).toEqual([{ name: 'app', containerPort: 3000, protocol: 'TCP' }]);
    expect(target().hostname).toBe('localhost');
    expect(Number(target().port)).toBe(app.ports?.[0]?.containerPort);
    expect(portProblems(pod)).toEqual([]);
  });

  it('drops the demo’s PORT variable from the app container', () => {
    expect(app.env).toBeUndefined();
  });

  it('gives the app container its own user, and the sidecar keeps its image’s', () => {
    expect(app.securityContext).toMatchObject({ runAsUser: 10001, runAsGroup: 10001 });
    expect(pod.sidecar.securityContext).toMatchObject({ runAsUser: 1000, runAsGroup: 1000 });
    expect(pod.spec.securityContext?.runAsUser).toBeUndefined();
  });

  it('probes ports that exist: the sidecar’s admin listener, and any probe of the app on a port it declares', () => {
    expect(probeProblems(pod)).toEqual([]);
  });

  it('passes the manifest checks that do not assume the demo app', () => {
    expect(schemaProblems(example)).toEqual([]);
    expect(unknownFieldProblems(example)).toEqual([]);
    expect(serviceProblems(example, pod)).toEqual([]);
    expect(metricsProblems(pod)).toEqual([]);
    expect(resourceProblems(pod)).toEqual([]);
    expect(shutdownProblems(pod)).toEqual([]);
    expect(labelProblems(example, pod)).toEqual([]);
  });

  it('meets the restricted Pod Security Standard; only the app’s root filesystem is writable, as the example says', () => {
    expect(securityProblems(pod, facts)).toEqual(['container legacy: readOnlyRootFilesystem is not true']);
  });

  it('changes nothing but the app container and the sidecar’s TARGET', () => {
    const withoutApp = (manifests: Manifest[]) => {
      const copy = structuredClone(manifests);
      const { spec } = podByName(copy);
      spec.containers = spec.containers.filter((container) => container.name !== 'legacy');
      const variable = spec.containers[0]?.env?.find((v) => v.name === 'TARGET');
      if (variable) delete variable.value;
      return copy;
    };
    expect(withoutApp(example)).toEqual(withoutApp(base));
  });

  it('would be caught with TARGET left on the demo’s port', () => {
    const copy = structuredClone(example);
    const broken = podByName(copy);
    const variable = broken.sidecar.env?.find((v) => v.name === 'TARGET');
    if (variable) variable.value = 'http://localhost:8080';
    expect(portProblems(broken)).toEqual([expect.stringMatching(/points at port 8080, but the app listens on 3000/)]);
  });
});
