/**
 * What the pod test's played copy of a variant changes, where `podman kube play` (4.3) differs
 * from Kubernetes (test/deploy/pod-test.ts).
 */
import assert from 'node:assert/strict';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Container } from 'kubernetes-types/core/v1.js';
import { stringify } from 'yaml';
import type { Manifest } from './kustomize.ts';
import { freePort } from './podman-work.ts';
import { authSecretVolume, secretVolume } from './secret-volumes.ts';

// ------------------------------------------------------------------ the adaptations for podman

/**
 * Where `podman kube play` (4.3) differs from Kubernetes, and what the played copy changes. The
 * manifests' own checks (test/deploy) cover what these leave out.
 */
export const adaptations = {
  replicas: 'replicas 2 -> 1: podman publishes every containerPort on the host, so a second pod clashes',
  native:
    'the native sidecar (init container, restartPolicy Always) moves into containers: podman waits for init containers to exit',
  images: 'images -> the tag this test built, imagePullPolicy Never: there is no registry',
  ports:
    'every containerPort gets hostIP 127.0.0.1 and a free hostPort: podman would publish 8000, 8080, 9901 on all interfaces',
  probes:
    'startupProbe and livenessProbe dropped: podman turns them into curl healthchecks run by systemd timers (no curl in the images, no systemd here); this test requests their paths itself',
  service: 'the Service is dropped: podman ignores Services; this test requests the sidecar port the Service targets',
  secret:
    'the TLS Secret volume -> a hostPath folder this test lays out as kubelet lays out a mounted Secret (tls.crt -> ..data/tls.crt, ..data -> a timestamped folder), with a certificate made by openssl: there is no API server to hold the Secret',
  authSecret:
    'the auth Secret volume -> a hostPath folder laid out as kubelet mounts a Secret, holding a client secret, a cookie secret and an htpasswd file of one user',
  idp: 'AUTH_OIDC_*, AUTH_COOKIE_SECRET_FILE and AUTH_JWT_* dropped (Basic from the mounted htpasswd kept): there is no IdP to reach, and with JWT on /readyz stays 503 until the keys are fetched',
  downward:
    'downward-API env from metadata.namespace and spec.nodeName -> fixed values (podman-test, podman-node): podman 4.3 refuses those fieldPaths ("not valid or not supported"); metadata.name and labels it fills in',
  ignored:
    'kept but not acted on by podman: readinessProbe (this test polls it itself), lifecycle.preStop, resources, terminationGracePeriodSeconds (this test stops the pod with that timeout)',
};

export interface Played {
  yaml: string;
  /** The adaptations this variant needed. */
  applied: string[];
  /** Host port for each container port number. */
  hostPorts: Map<number, number>;
}

export async function adapt(manifests: Manifest[], images: Map<string, string>): Promise<Played> {
  const deployment = structuredClone(
    manifests.find((manifest) => manifest.kind === 'Deployment'),
  ) as unknown as Deployment;
  const spec = deployment.spec;
  const podSpec = spec?.template.spec;
  assert.ok(spec && podSpec, 'the Deployment has a pod spec');
  spec.replicas = 1;
  const sidecars = (podSpec.initContainers ?? []).filter((container) => container.restartPolicy === 'Always');
  podSpec.initContainers = (podSpec.initContainers ?? []).filter((container) => !sidecars.includes(container));
  if (podSpec.initContainers.length === 0) delete podSpec.initContainers;
  podSpec.containers = [
    ...sidecars.map(({ restartPolicy: _, ...container }): Container => container),
    ...podSpec.containers,
  ];
  for (const volume of podSpec.volumes ?? []) {
    if (volume.secret) {
      const dir = volume.secret.secretName === 'legacy-app-auth' ? authSecretVolume.dir : secretVolume.dir;
      delete volume.secret;
      volume.hostPath = { path: dir, type: 'Directory' };
    }
  }
  const hostPorts = new Map<number, number>();
  for (const container of podSpec.containers) {
    const image = images.get(container.image ?? '');
    assert.ok(image, `container ${container.name}: image ${container.image} is built by make build-images`);
    container.image = image;
    container.imagePullPolicy = 'Never';
    delete container.startupProbe;
    delete container.livenessProbe;
    container.env = container.env?.filter(
      (variable) => !/^AUTH_(OIDC|JWT)_|^AUTH_COOKIE_SECRET_FILE$/.test(variable.name),
    );
    for (const variable of container.env ?? []) {
      const field = variable.valueFrom?.fieldRef?.fieldPath;
      const fixed =
        field === 'metadata.namespace' ? 'podman-test' : field === 'spec.nodeName' ? 'podman-node' : undefined;
      if (fixed !== undefined) {
        delete variable.valueFrom;
        variable.value = fixed;
      }
    }
    for (const port of container.ports ?? []) {
      port.hostIP = '127.0.0.1';
      port.hostPort = await freePort();
      hostPorts.set(port.containerPort, port.hostPort);
    }
  }
  const applied = Object.entries(adaptations)
    .filter(
      ([key]) =>
        (key !== 'native' || sidecars.length > 0) &&
        (key !== 'secret' || manifests.some((m) => JSON.stringify(m).includes('"secretName"'))) &&
        ((key !== 'authSecret' && key !== 'idp') || JSON.stringify(manifests).includes('"legacy-app-auth"')) &&
        (key !== 'downward' || JSON.stringify(podSpec).includes('podman-')),
    )
    .map(([, text]) => text);
  return { yaml: stringify(deployment), applied, hostPorts };
}
