/**
 * deploy/k8s, rendered as `kubectl apply -k` sends it (the base and its overlays):
 * valid against the Kubernetes schemas, free of unknown fields, and consistent with itself and
 * with the code it deploys. The last block breaks a copy in each way a check exists for and
 * asserts the check notices, so a check that silently stopped working would fail here.
 */
import { join } from 'node:path';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Container, PodSpec, Service } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { ConfigError, configVariables } from '../../src/config.ts';
import { renderKustomization } from './kustomize.ts';
import type { Manifest } from './kustomize.ts';
import {
  environmentProblems,
  imageProblems,
  labelProblems,
  metricsProblems,
  podOf,
  portProblems,
  probeProblems,
  projectFacts,
  resourceProblems,
  securityProblems,
  serviceProblems,
  servicesOf,
  shutdownProblems,
  tlsProblems,
  authProblems,
  sidecarConfig,
} from './pod.ts';
import { makeBuilds, repoRoot } from './project.ts';
import { schemaProblems, unknownFieldProblems } from './schema.ts';

const facts = projectFacts();
const base = renderKustomization(join(repoRoot, 'deploy/k8s'));
const native = renderKustomization(join(repoRoot, 'deploy/k8s/overlays/native-sidecar'));
const tls = renderKustomization(join(repoRoot, 'deploy/k8s/overlays/tls'));
const auth = renderKustomization(join(repoRoot, 'deploy/k8s/overlays/auth'));
const bun = renderKustomization(join(repoRoot, 'deploy/k8s/overlays/bun'));

const variants = [
  { name: 'deploy/k8s', manifests: base, native: false },
  { name: 'deploy/k8s/overlays/native-sidecar', manifests: native, native: true },
  { name: 'deploy/k8s/overlays/tls', manifests: tls, native: false },
  { name: 'deploy/k8s/overlays/auth', manifests: auth, native: false },
  { name: 'deploy/k8s/overlays/bun', manifests: bun, native: false },
];

describe.each(variants)('$name', ({ manifests, native: isNative }) => {
  const pod = podOf(manifests, facts);

  it('is valid against the Kubernetes schemas', () => {
    expect(schemaProblems(manifests)).toEqual([]);
  });

  it('has no field that Kubernetes does not know', () => {
    expect(unknownFieldProblems(manifests)).toEqual([]);
  });

  it('runs 2 replicas of one pod with the app and the sidecar', () => {
    expect(pod.deployment.spec?.replicas).toBe(2);
    expect(pod.all.map((container) => container.name).sort()).toEqual(['legacy', 'sidecar']);
  });

  it(
    isNative
      ? 'runs the sidecar as a native sidecar (init container, restartPolicy Always)'
      : 'runs the sidecar as an ordinary container',
    () => {
      expect(pod.native).toBe(isNative);
      expect(pod.spec.containers).toContain(pod.legacy);
      if (isNative) expect(pod.spec.initContainers).toEqual([pod.sidecar]);
      else expect(pod.spec.initContainers).toBeUndefined();
    },
  );

  it('uses the images the Makefile builds, tagged with the app version', () => {
    expect(imageProblems(pod, facts)).toEqual([]);
  });

  it('sets only variables the programs read, to values the sidecar accepts', () => {
    expect(environmentProblems(pod, facts)).toEqual([]);
  });

  it('names the spans after the pod from the downward API, and leaves the collector endpoint to the user', () => {
    const config = sidecarConfig(pod);
    if (config instanceof ConfigError) throw config;
    expect(config.OTEL_SERVICE_NAME).toBe(pod.labels['app.kubernetes.io/name']);
    expect(Object.fromEntries(config.OTEL_RESOURCE_ATTRIBUTES ?? [])).toEqual({
      'k8s.pod.name': 'legacy-app-5d9c7b6f4-x2x4z',
      'k8s.namespace.name': 'default',
      'k8s.node.name': 'node-1',
    });
    expect(config.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
  });

  it('agrees on ports: TARGET and the app, PORT and ADMIN_PORT and the declared ports', () => {
    expect(portProblems(pod)).toEqual([]);
  });

  it('probes /readyz, /healthz on the admin listener', () => {
    expect(probeProblems(pod)).toEqual([]);
  });

  it('sends the LoadBalancer Service port 80 (443 with TLS) to the sidecar, and selects the pod', () => {
    expect(serviceProblems(manifests, pod)).toEqual([]);
  });

  it('mounts the TLS Secret as a read-only directory where TLS_CERT_FILE and TLS_KEY_FILE point (when TLS is on)', () => {
    expect(tlsProblems(pod)).toEqual([]);
  });

  it("mounts access control's Secret as a read-only directory where the AUTH_*_FILE variables point (when it is on)", () => {
    expect(authProblems(pod)).toEqual([]);
  });

  it('asks Prometheus to scrape /metrics on the admin port', () => {
    expect(metricsProblems(pod)).toEqual([]);
  });

  it('meets the restricted Pod Security Standard, with read-only root filesystems', () => {
    expect(securityProblems(pod, facts)).toEqual([]);
  });

  it('requests and limits CPU and memory for every container', () => {
    expect(resourceProblems(pod)).toEqual([]);
  });

  it('lets the sidecar drain before the app stops and before the grace period ends', () => {
    expect(shutdownProblems(pod)).toEqual([]);
  });

  it('labels every object with app.kubernetes.io/*', () => {
    expect(labelProblems(manifests, pod)).toEqual([]);
  });
});

it('the native-sidecar overlay changes only where the sidecar runs and the app pause', () => {
  const withoutPlacement = (manifests: Manifest[]) => {
    const copy = structuredClone(manifests);
    const spec = (copy.find((m) => m.kind === 'Deployment') as unknown as Deployment).spec?.template.spec as PodSpec;
    const all = [...(spec.initContainers ?? []), ...spec.containers].map(
      ({ restartPolicy: _, ...container }) => container,
    );
    spec.containers = all.sort((a, b) => a.name.localeCompare(b.name));
    delete spec.initContainers;
    delete spec.containers[0]?.lifecycle;
    return copy;
  };
  expect(withoutPlacement(native)).toEqual(withoutPlacement(base));
});

it('the bun overlay changes only the sidecar’s image, to the one make build-bun-image builds, same tag', () => {
  const sidecarImage = (manifests: Manifest[]) => podOf(manifests, facts).sidecar.image;
  const withoutSidecarImage = (manifests: Manifest[]) => {
    const copy = structuredClone(manifests);
    delete podOf(copy, facts).sidecar.image;
    return copy;
  };
  expect(withoutSidecarImage(bun)).toEqual(withoutSidecarImage(base));
  const bunBuilds = makeBuilds({}, 'build-bun-image');
  expect(bunBuilds.map((build) => build.image)).toEqual([sidecarImage(bun)]);
  expect(sidecarImage(bun)?.split(':')[1]).toBe(sidecarImage(base)?.split(':')[1]);
});

/** A copy of the base with one change to the pod spec or the Service. */
function broken(
  change: (spec: PodSpec, containers: { sidecar: Container; legacy: Container }, service: Service) => void,
): Manifest[] {
  const copy = structuredClone(base);
  const spec = (copy.find((m) => m.kind === 'Deployment') as unknown as Deployment).spec?.template.spec as PodSpec;
  const byName = (name: string) => spec.containers.find((container) => container.name === name) as Container;
  change(spec, { sidecar: byName('sidecar'), legacy: byName('legacy') }, servicesOf(copy)[0] as Service);
  return copy;
}

const setEnv = (container: Container, name: string, value: string) => {
  const variable = container.env?.find((v) => v.name === name);
  if (variable) variable.value = value;
  else (container.env ??= []).push({ name, value });
};

describe('the checks catch the mistakes they exist for', () => {
  const problemsOf = (
    manifests: Manifest[],
    check: (pod: ReturnType<typeof podOf>, manifests: Manifest[]) => string[],
  ) => check(podOf(manifests, facts), manifests);

  it('the seed’s lowercase `port`, which its app never read', () => {
    const manifests = broken((_, { legacy }) => (legacy.env = [{ name: 'port', value: '8080' }]));
    expect(problemsOf(manifests, (pod) => environmentProblems(pod, facts))).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/env port is not a variable src\/legacy\.ts reads \(PORT\)/),
        expect.stringMatching(/PORT must be set/),
      ]),
    );
  });

  it('a sidecar variable src/config.ts does not have, and a value it rejects', () => {
    expect(configVariables).toContain('TARGET');
    const manifests = broken((_, { sidecar }) => {
      setEnv(sidecar, 'UPSTREAM', 'http://localhost:8080');
      setEnv(sidecar, 'LOG_FORMAT', 'xml');
    });
    expect(problemsOf(manifests, (pod) => environmentProblems(pod, facts))).toEqual([
      expect.stringMatching(/env UPSTREAM is not a variable/),
      expect.stringMatching(/would exit at start: LOG_FORMAT/),
    ]);
  });

  it('a downward-API helper variable that no later variable expands', () => {
    const manifests = broken((_, { sidecar }) =>
      (sidecar.env ??= []).push({ name: 'K8S_POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } }),
    );
    expect(problemsOf(manifests, (pod) => environmentProblems(pod, facts))).toEqual([
      expect.stringMatching(/env K8S_POD_UID is not a variable/),
      expect.stringMatching(/K8S_POD_UID reads metadata.uid, a downward-API field these checks do not know/),
    ]);
  });

  it('TARGET on another port than the app, or off localhost', () => {
    expect(
      problemsOf(
        broken((_, { sidecar }) => setEnv(sidecar, 'TARGET', 'http://localhost:3000')),
        portProblems,
      ),
    ).toEqual([expect.stringMatching(/points at port 3000, but the app listens on 8080/)]);
    expect(
      problemsOf(
        broken((_, { sidecar }) => setEnv(sidecar, 'TARGET', 'http://legacy:8080')),
        portProblems,
      ),
    ).toEqual([expect.stringMatching(/not on localhost/)]);
  });

  it('the app told to listen on a port its container does not declare', () => {
    expect(
      problemsOf(
        broken((_, { legacy }) => setEnv(legacy, 'PORT', '9090')),
        portProblems,
      ),
    ).toEqual(
      expect.arrayContaining([expect.stringMatching(/listens on PORT 9090, but declares no such containerPort/)]),
    );
  });

  it('a probe on the proxy port, on a port name that does not exist, or on /readyz at start-up', () => {
    const manifests = broken((_, { sidecar }) => {
      if (sidecar.readinessProbe?.httpGet) sidecar.readinessProbe.httpGet.port = 'http';
      if (sidecar.livenessProbe?.httpGet) sidecar.livenessProbe.httpGet.port = 'metrics';
      if (sidecar.startupProbe?.httpGet) sidecar.startupProbe.httpGet.path = '/readyz';
    });
    expect(problemsOf(manifests, probeProblems)).toEqual([
      expect.stringMatching(/readinessProbe goes to port 8000, not the admin listener on 9901/),
      expect.stringMatching(/livenessProbe port metrics is none of the container's ports/),
      expect.stringMatching(/startupProbe asks for \/readyz; it must be \/healthz/),
    ]);
  });

  it('a Service that targets the app directly, or selects no pod', () => {
    const manifests = broken((_, __, service) => {
      const [port] = service.spec?.ports ?? [];
      if (port) port.targetPort = 8080;
      if (service.spec) service.spec.selector = { 'app.kubernetes.io/name': 'legacy' };
    });
    expect(problemsOf(manifests, (pod, m) => serviceProblems(m, pod))).toEqual([
      expect.stringMatching(/selector .* does not select the pod/),
      expect.stringMatching(/port 80 goes to 8080, not to the sidecar's proxy port \(PORT 8000\)/),
    ]);
  });

  it('a TLS Secret mounted with subPath, writable, readable by everyone; 80 not to the redirect listener', () => {
    const copy = structuredClone(tls);
    const spec = (copy.find((m) => m.kind === 'Deployment') as unknown as Deployment).spec?.template.spec as PodSpec;
    const sidecar = spec.containers.find((container) => container.name === 'sidecar') as Container;
    const [mount] = sidecar.volumeMounts ?? [];
    if (mount) Object.assign(mount, { subPath: 'tls.crt', readOnly: false });
    const [volume] = spec.volumes ?? [];
    if (volume?.secret) volume.secret.defaultMode = 0o444;
    const service = servicesOf(copy)[0] as Service;
    const http = service.spec?.ports?.find((port) => port.port === 80);
    if (http) http.targetPort = 'https';
    expect(problemsOf(copy, tlsProblems)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/TLS_CERT_FILE: volume tls is mounted with subPath/),
        expect.stringMatching(/not mounted readOnly/),
        expect.stringMatching(/mode 444\) are readable by everyone/),
      ]),
    );
    expect(problemsOf(copy, (pod, m) => serviceProblems(m, pod))).toEqual([
      expect.stringMatching(/port 80 goes to "https", not to the sidecar's HTTP_REDIRECT_PORT 8001/),
    ]);
  });

  it('an auth Secret mounted with subPath, readable by everyone; OIDC login without TLS', () => {
    const copy = structuredClone(auth);
    const spec = (copy.find((m) => m.kind === 'Deployment') as unknown as Deployment).spec?.template.spec as PodSpec;
    const sidecar = spec.containers.find((container) => container.name === 'sidecar') as Container;
    const mount = sidecar.volumeMounts?.find((m) => m.name === 'auth');
    if (mount) Object.assign(mount, { subPath: 'htpasswd' });
    const volume = spec.volumes?.find((v) => v.name === 'auth');
    if (volume?.secret) volume.secret.defaultMode = 0o444;
    sidecar.env = sidecar.env?.filter((v) => !v.name.startsWith('TLS_') && v.name !== 'HTTP_REDIRECT_PORT');
    expect(problemsOf(copy, authProblems)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/AUTH_BASIC_FILE: volume auth is mounted with subPath/),
        expect.stringMatching(/AUTH_COOKIE_SECRET_FILE: the Secret's files \(mode 444\) are readable by everyone/),
        'AUTH_OIDC_ISSUER without TLS or TRUSTED_PROXIES: the session cookie could never be set',
      ]),
    );
  });

  it('a scrape annotation on the wrong port', () => {
    const copy = structuredClone(base);
    const template = (copy.find((m) => m.kind === 'Deployment') as unknown as Deployment).spec?.template;
    if (template?.metadata?.annotations) template.metadata.annotations['prometheus.io/port'] = '8000';
    expect(problemsOf(copy, metricsProblems)).toEqual([
      expect.stringMatching(/prometheus.io\/port is "8000", expected "9901"/),
    ]);
  });

  it('an image the Makefile does not build, or a floating tag', () => {
    const manifests = broken((_, { legacy }) => (legacy.image = 'legacy-app:latest'));
    expect(() => podOf(manifests, facts)).toThrow(/one container whose image .* runs src\/legacy\.ts, found 0/);
  });

  it('privilege escalation, a writable root filesystem, kept capabilities, a root user', () => {
    const manifests = broken((_, { sidecar, legacy }) => {
      sidecar.securityContext = { readOnlyRootFilesystem: false, capabilities: { add: ['NET_ADMIN'] } };
      if (legacy.securityContext) legacy.securityContext.runAsUser = 0;
    });
    expect(problemsOf(manifests, (pod) => securityProblems(pod, facts))).toEqual(
      expect.arrayContaining([
        'container legacy: runs as uid 0',
        'container sidecar: allowPrivilegeEscalation is not false',
        'container sidecar: readOnlyRootFilesystem is not true',
        'container sidecar: capabilities do not drop ALL',
        'container sidecar: adds capability NET_ADMIN',
      ]),
    );
  });

  it('a request above its limit, a missing limit', () => {
    const manifests = broken((_, { sidecar, legacy }) => {
      sidecar.resources = { requests: { cpu: '2', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } };
      delete legacy.resources?.limits;
    });
    expect(problemsOf(manifests, resourceProblems)).toEqual([
      'container legacy: needs both a cpu request and limit',
      'container legacy: needs both a memory request and limit',
      'container sidecar: cpu request 2 is above its limit 1',
    ]);
  });

  it('a grace period shorter than pause + drain, and an app that stops before the sidecar has drained', () => {
    const manifests = broken((spec, { sidecar, legacy }) => {
      spec.terminationGracePeriodSeconds = 12;
      setEnv(sidecar, 'DRAIN_TIMEOUT_MS', '20000');
      delete legacy.lifecycle;
    });
    expect(problemsOf(manifests, shutdownProblems)).toEqual([
      'container legacy: needs a preStop pause, so it is not stopped while traffic still arrives',
      expect.stringMatching(/preStop pause \(0 s\) ends before the sidecar's pause and drain \(5 \+ 20 s\)/),
      expect.stringMatching(/terminationGracePeriodSeconds 12 is not above the shutdown's 25 s/),
    ]);
  });

  it('a preStop that needs a shell the images do not have', () => {
    const manifests = broken(
      (_, { sidecar }) => (sidecar.lifecycle = { preStop: { exec: { command: ['sleep', '5'] } } }),
    );
    expect(problemsOf(manifests, shutdownProblems)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/preStop exec needs a shell/),
        expect.stringMatching(/needs a preStop pause/),
      ]),
    );
  });

  it('a misspelt field, which the schemas alone let through', () => {
    const manifests = broken((_, { sidecar }) => Object.assign(sidecar, { readinesProbe: sidecar.readinessProbe }));
    expect(schemaProblems(manifests)).toEqual([]);
    expect(unknownFieldProblems(manifests)).toEqual([
      expect.stringMatching(/Deployment legacy-app: .*'"readinesProbe"' does not exist in type 'Container'/),
    ]);
  });

  it('a wrong type, which the schemas catch', () => {
    const manifests = broken((_, { sidecar }) => Object.assign(sidecar.ports?.[0] ?? {}, { containerPort: '8000' }));
    expect(schemaProblems(manifests)).toEqual([
      expect.stringMatching(/containers\/1\/ports\/0\/containerPort must be integer/),
    ]);
  });
});
