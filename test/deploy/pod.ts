/**
 * Checks that hold the rendered manifests against each other and against the code. Each returns
 * the problems it finds, as sentences, so that a test can assert there are none for the real
 * manifests and that each mistake it exists for is caught in a broken copy.
 */
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Container, ContainerPort, PodSpec, Probe, Service } from 'kubernetes-types/core/v1.js';
import { ConfigError, configVariables, loadConfig } from '../../src/config.ts';
import type { Config } from '../../src/config.ts';
import type { Manifest } from './kustomize.ts';
import { allBuilds, entryOf, environmentReadBy, readImage, sourceOf } from './project.ts';
import type { ImageFacts } from './project.ts';

/** The sidecar's entry on Node (the base's image), and every entry a sidecar image may run (on Bun: deploy/k8s/overlays/bun). */
export const sidecarEntry = 'runtimes/node.ts';
export const sidecarEntries: readonly string[] = [sidecarEntry, 'runtimes/bun.ts'];
export const legacyEntry = 'src/legacy.ts';

export interface Facts {
  /** Image reference -> the Dockerfile the Makefile builds it from (make build-images, make build-bun-image). */
  images: Map<string, ImageFacts>;
  sidecarVariables: readonly string[];
  legacyVariables: readonly string[];
}

export function projectFacts(): Facts {
  return {
    images: new Map(allBuilds().map((build) => [build.image, readImage(build.dockerfile)])),
    sidecarVariables: configVariables,
    legacyVariables: environmentReadBy(legacyEntry),
  };
}

export interface Pod {
  deployment: Deployment;
  spec: PodSpec;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Regular and init containers. */
  all: Container[];
  sidecar: Container;
  legacy: Container;
  /** The sidecar runs as a native sidecar: an init container with restartPolicy Always. */
  native: boolean;
}

/** The one Deployment's pod, its containers told apart by what their image runs. */
export function podOf(manifests: Manifest[], facts: Facts): Pod {
  const deployments = manifests.filter((manifest) => manifest.kind === 'Deployment') as unknown as Deployment[];
  const [deployment] = deployments;
  if (!deployment || deployments.length > 1) throw new Error(`expected one Deployment, found ${deployments.length}`);
  const spec = deployment.spec?.template.spec;
  if (!spec) throw new Error('the Deployment has no pod spec');
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  const running = (entries: readonly string[]) => {
    const found = all.filter((container) => {
      const image = container.image === undefined ? undefined : facts.images.get(container.image);
      return image !== undefined && entries.includes(sourceOf(entryOf(image)) ?? '');
    });
    if (found.length !== 1)
      throw new Error(
        `expected one container whose image (built by the Makefile) runs ${entries.join(' or ')}, found ${found.length}`,
      );
    return found[0] as Container;
  };
  const sidecar = running(sidecarEntries);
  return {
    deployment,
    spec,
    labels: deployment.spec?.template.metadata?.labels ?? {},
    annotations: deployment.spec?.template.metadata?.annotations ?? {},
    all,
    sidecar,
    legacy: running([legacyEntry]),
    native: (spec.initContainers ?? []).includes(sidecar) && sidecar.restartPolicy === 'Always',
  };
}

export function servicesOf(manifests: Manifest[]): Service[] {
  return manifests.filter((manifest) => manifest.kind === 'Service') as unknown as Service[];
}

/** What the downward API gives a fieldRef in the running pod; a pod's name and node are only known there, so stand-ins. */
function downwardApi(pod: Pod | undefined, fieldPath: string): string | undefined {
  const label = /^metadata\.labels\['([^']+)'\]$/.exec(fieldPath);
  if (label) return pod?.labels[label[1] as string];
  return (
    {
      'metadata.name': 'legacy-app-5d9c7b6f4-x2x4z',
      'metadata.namespace': 'default',
      'spec.nodeName': 'node-1',
    } as Record<string, string>
  )[fieldPath];
}

/** A container's environment as the kubelet builds it: downward-API fields filled in, then `$(NAME)` expanded from variables defined before. */
function envOf(container: Container, pod?: Pod): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const variable of container.env ?? []) {
    const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
    const raw = fieldPath === undefined ? variable.value : downwardApi(pod, fieldPath);
    env[variable.name] = raw?.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => env[name] ?? ref);
  }
  return env;
}

/** A downward-API variable that only feeds `$(NAME)` in a later variable's value (K8S_POD_NAME into OTEL_RESOURCE_ATTRIBUTES). */
function onlyExpanded(container: Container, index: number): boolean {
  const variable = container.env?.[index];
  if (!variable?.valueFrom?.fieldRef) return false;
  return (container.env ?? []).slice(index + 1).some((later) => later.value?.includes(`$(${variable.name})`));
}

/** The sidecar's configuration as src/config.ts reads it from the container's env, or the one-line error it stops with. */
export function sidecarConfig(pod: Pod): Config | ConfigError {
  try {
    return loadConfig(envOf(pod.sidecar, pod));
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

function configOrThrow(pod: Pod): Config {
  const config = sidecarConfig(pod);
  if (config instanceof ConfigError) throw new Error(`the sidecar's env does not load: ${config.message}`);
  return config;
}

/** The port number the legacy app listens on: its PORT, which must be set (its default is not ours to rely on). */
function legacyPort(pod: Pod): number | undefined {
  const value = envOf(pod.legacy).PORT;
  return value === undefined ? undefined : Number(value);
}

/**
 * Where an app that is not the demo listens (deploy/k8s/examples/your-app: no PORT variable): the
 * one port its container declares. environmentProblems still requires PORT of the demo.
 */
function declaredAppPort(pod: Pod): number | undefined {
  const ports = pod.legacy.ports ?? [];
  return ports.length === 1 ? ports[0]?.containerPort : undefined;
}

/** A probe's or Service's port (a number or a container port's name) as a number, within one container's ports. */
export function resolvePort(port: number | string | undefined, ports: ContainerPort[]): number | undefined {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  return ports.find((candidate) => candidate.name === port)?.containerPort;
}

// ---------------------------------------------------------------- the checks

export function imageProblems(pod: Pod, facts: Facts): string[] {
  const problems: string[] = [];
  const version = pod.labels['app.kubernetes.io/version'];
  for (const container of pod.all) {
    const image = container.image ?? '';
    if (!facts.images.has(image))
      problems.push(
        `container ${container.name}: image ${image} is not one that the Makefile builds (${[...facts.images.keys()].join(', ')})`,
      );
    const tag = /:([^/:@]+)$/.exec(image)?.[1];
    if (!tag || tag === 'latest')
      problems.push(`container ${container.name}: image ${image} needs a fixed tag, not latest`);
    else if (tag !== version)
      problems.push(
        `container ${container.name}: image tag ${tag} differs from the app.kubernetes.io/version label ${version}`,
      );
  }
  return problems;
}

export function environmentProblems(pod: Pod, facts: Facts): string[] {
  const problems: string[] = [];
  const check = (container: Container, known: readonly string[], reader: string) => {
    const names = (container.env ?? []).map((variable) => variable.name);
    for (const [index, name] of names.entries()) {
      if (!known.includes(name) && !onlyExpanded(container, index))
        problems.push(
          `container ${container.name}: env ${name} is not a variable ${reader} reads (${known.join(', ')})`,
        );
      if (names.indexOf(name) !== index) problems.push(`container ${container.name}: env ${name} is set twice`);
    }
    for (const variable of container.env ?? []) {
      const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
      if (
        fieldPath !== undefined &&
        downwardApi(undefined, fieldPath) === undefined &&
        !/^metadata\.labels\[/.test(fieldPath)
      ) {
        problems.push(
          `container ${container.name}: env ${variable.name} reads ${fieldPath}, a downward-API field these checks do not know`,
        );
      } else if (variable.value === undefined && fieldPath === undefined) {
        problems.push(
          `container ${container.name}: env ${variable.name} needs a literal value or a downward-API field, so that it can be checked`,
        );
      }
    }
    if (container.envFrom) problems.push(`container ${container.name}: envFrom brings in names nobody checks`);
  };
  check(pod.sidecar, facts.sidecarVariables, 'the sidecar (src/config.ts)');
  check(pod.legacy, facts.legacyVariables, legacyEntry);
  const config = sidecarConfig(pod);
  if (config instanceof ConfigError)
    problems.push(`container ${pod.sidecar.name}: the sidecar would exit at start: ${config.message}`);
  const port = legacyPort(pod);
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    problems.push(`container ${pod.legacy.name}: PORT must be set to a port number, got ${envOf(pod.legacy).PORT}`);
  }
  return problems;
}

const portName = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function portProblems(pod: Pod): string[] {
  const problems: string[] = [];
  const ports = pod.all.flatMap((container) => (container.ports ?? []).map((port) => ({ container, port })));
  for (const [index, { container, port }] of ports.entries()) {
    if (port.name === undefined)
      problems.push(
        `container ${container.name}: port ${port.containerPort} needs a name for probes and Services to refer to`,
      );
    else if (port.name.length > 15 || !portName.test(port.name))
      problems.push(`container ${container.name}: port name ${port.name} is not a valid IANA service name`);
    if (ports.findIndex((other) => other.port.name === port.name) !== index)
      problems.push(`port name ${port.name} is used twice in the pod`);
    if (ports.findIndex((other) => other.port.containerPort === port.containerPort) !== index)
      problems.push(`port ${port.containerPort} is declared twice in the pod`);
  }
  const config = configOrThrow(pod);
  const declares = (container: Container, number: number) =>
    (container.ports ?? []).some((port) => port.containerPort === number);
  if (!declares(pod.sidecar, config.PORT))
    problems.push(`container ${pod.sidecar.name}: listens on PORT ${config.PORT}, but declares no such containerPort`);
  if (!declares(pod.sidecar, config.ADMIN_PORT))
    problems.push(
      `container ${pod.sidecar.name}: listens on ADMIN_PORT ${config.ADMIN_PORT}, but declares no such containerPort`,
    );
  const appPort = legacyPort(pod) ?? declaredAppPort(pod);
  if (appPort !== undefined && !declares(pod.legacy, appPort))
    problems.push(`container ${pod.legacy.name}: listens on PORT ${appPort}, but declares no such containerPort`);
  // The containers share the pod's network: the sidecar reaches the app on localhost.
  const target = new URL(config.TARGET.origin);
  if (!['localhost', '127.0.0.1', '[::1]'].includes(target.hostname))
    problems.push(`TARGET ${config.TARGET.href} is not on localhost, where the app runs in this pod`);
  const targetPort = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  if (targetPort !== appPort)
    problems.push(`TARGET ${config.TARGET.href} points at port ${targetPort}, but the app listens on ${appPort}`);
  return problems;
}

export function probeProblems(pod: Pod): string[] {
  const problems: string[] = [];
  const config = configOrThrow(pod);
  const ports = pod.sidecar.ports ?? [];
  const requireProbe = (kind: 'startupProbe' | 'livenessProbe' | 'readinessProbe', path: string, why: string) => {
    const probe: Probe | undefined = pod.sidecar[kind];
    const get = probe?.httpGet;
    if (!get) {
      problems.push(`container ${pod.sidecar.name}: ${kind} must be an httpGet of ${path} (${why})`);
      return;
    }
    if (get.path !== path)
      problems.push(`container ${pod.sidecar.name}: ${kind} asks for ${get.path}; it must be ${path} (${why})`);
    const port = resolvePort(get.port, ports);
    if (port === undefined)
      problems.push(`container ${pod.sidecar.name}: ${kind} port ${get.port} is none of the container's ports`);
    else if (port !== config.ADMIN_PORT)
      problems.push(
        `container ${pod.sidecar.name}: ${kind} goes to port ${port}, not the admin listener on ${config.ADMIN_PORT}`,
      );
    if (get.scheme !== undefined && get.scheme !== 'HTTP')
      problems.push(`container ${pod.sidecar.name}: ${kind} uses ${get.scheme}; the admin listener speaks HTTP`);
  };
  requireProbe('readinessProbe', '/readyz', 'it turns 503 when the app is down or the sidecar drains');
  requireProbe(
    'livenessProbe',
    '/healthz',
    'it never depends on the app, so a down app does not get the sidecar restarted',
  );
  requireProbe(
    'startupProbe',
    '/healthz',
    'a native sidecar must pass it before the app starts, so it cannot wait for the app',
  );
  for (const container of pod.all.filter((c) => c !== pod.sidecar)) {
    for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
      const get = container[kind]?.httpGet;
      if (get && resolvePort(get.port, container.ports ?? []) === undefined)
        problems.push(`container ${container.name}: ${kind} port ${get.port} is none of its ports`);
    }
  }
  return problems;
}

export function serviceProblems(manifests: Manifest[], pod: Pod): string[] {
  const problems: string[] = [];
  const config = configOrThrow(pod);
  const selector = pod.deployment.spec?.selector.matchLabels ?? {};
  const selects = (labels: Record<string, string>) =>
    Object.entries(labels).every(([key, value]) => pod.labels[key] === value);
  if (Object.keys(selector).length === 0 || !selects(selector))
    problems.push(`the Deployment's selector ${JSON.stringify(selector)} does not match its pod template's labels`);
  const services = servicesOf(manifests);
  if (services.length !== 1) problems.push(`expected one Service, found ${services.length}`);
  for (const service of services) {
    const name = `Service ${service.metadata?.name}`;
    const serviceSelector = service.spec?.selector ?? {};
    if (Object.keys(serviceSelector).length === 0 || !selects(serviceSelector))
      problems.push(
        `${name}: selector ${JSON.stringify(serviceSelector)} does not select the pod (labels ${JSON.stringify(pod.labels)})`,
      );
    if (service.spec?.type !== 'LoadBalancer')
      problems.push(`${name}: type is ${service.spec?.type}, not LoadBalancer`);
    const ports = service.spec?.ports ?? [];
    // With TLS, 443 is the proxy port and 80 may only go to the redirect listener.
    const tls = config.TLS_CERT_FILE !== undefined;
    const proxyPort = tls ? 443 : 80;
    if (!ports.some((port) => port.port === proxyPort)) problems.push(`${name}: has no port ${proxyPort}`);
    for (const port of ports) {
      const target = resolvePort(port.targetPort ?? port.port, pod.sidecar.ports ?? []);
      if (tls && port.port === 80 && config.HTTP_REDIRECT_PORT !== undefined) {
        if (target !== config.HTTP_REDIRECT_PORT)
          problems.push(
            `${name}: port 80 goes to ${JSON.stringify(port.targetPort)}, not to the sidecar's HTTP_REDIRECT_PORT ${config.HTTP_REDIRECT_PORT}`,
          );
      } else if (target !== config.PORT) {
        problems.push(
          `${name}: port ${port.port} goes to ${JSON.stringify(port.targetPort)}, not to the sidecar's proxy port (PORT ${config.PORT})`,
        );
      }
    }
  }
  return problems;
}

/**
 * With TLS on: both files inside one read-only mount of a Secret volume, as a directory (a subPath
 * mount never sees the Secret's updates: kubernetes/kubernetes#50345), the Secret readable by
 * the sidecar's uid or group, and the redirect port declared.
 */
export function tlsProblems(pod: Pod): string[] {
  const config = configOrThrow(pod);
  if (config.TLS_CERT_FILE === undefined || config.TLS_KEY_FILE === undefined) return [];
  const problems = [
    ...secretFileProblems(pod, 'TLS_CERT_FILE', config.TLS_CERT_FILE),
    ...secretFileProblems(pod, 'TLS_KEY_FILE', config.TLS_KEY_FILE),
  ];
  if (
    config.HTTP_REDIRECT_PORT !== undefined &&
    !(pod.sidecar.ports ?? []).some((port) => port.containerPort === config.HTTP_REDIRECT_PORT)
  ) {
    problems.push(
      `container ${pod.sidecar.name}: listens on HTTP_REDIRECT_PORT ${config.HTTP_REDIRECT_PORT}, but declares no such containerPort`,
    );
  }
  return problems;
}

/**
 * Access control's secret files (AUTH_*_FILE) are in a Secret mounted as the TLS files are; an
 * OIDC login needs HTTPS for its `__Host-` session cookie, so TLS (or a trusted proxy) must be on.
 */
export function authProblems(pod: Pod): string[] {
  const config = configOrThrow(pod);
  const problems: string[] = [];
  for (const variable of ['AUTH_BASIC_FILE', 'AUTH_OIDC_CLIENT_SECRET_FILE', 'AUTH_COOKIE_SECRET_FILE'] as const) {
    const file = config[variable];
    if (file !== undefined) problems.push(...secretFileProblems(pod, variable, file));
  }
  if (config.AUTH_OIDC_ISSUER !== undefined && config.TLS_CERT_FILE === undefined && config.TRUSTED_PROXIES.size === 0)
    problems.push('AUTH_OIDC_ISSUER without TLS or TRUSTED_PROXIES: the session cookie could never be set');
  return problems;
}

/** A file the sidecar reads from a mounted Secret: a read-only directory mount (no subPath) readable by its group only. */
function secretFileProblems(pod: Pod, variable: string, file: string): string[] {
  const problems: string[] = [];
  const mount = (pod.sidecar.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
  const volume = pod.spec.volumes?.find((v) => v.name === mount?.name);
  if (!mount || !volume) return [`${variable} ${file} is not inside a volume mount of the sidecar`];
  if (!volume.secret) problems.push(`${variable}: volume ${volume.name} is not a Secret`);
  if (mount.subPath !== undefined || mount.subPathExpr !== undefined)
    problems.push(
      `${variable}: volume ${volume.name} is mounted with subPath, which never receives the Secret's updates`,
    );
  if (mount.readOnly !== true) problems.push(`${variable}: volume ${volume.name} is not mounted readOnly`);
  const mode = volume.secret?.defaultMode ?? 0o644;
  const fsGroup = pod.spec.securityContext?.fsGroup;
  // The sidecar's own group: set on its container (the base), or for the whole pod.
  const runAsGroup = pod.sidecar.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup;
  if ((mode & 0o004) !== 0)
    problems.push(`${variable}: the Secret's files (mode ${mode.toString(8)}) are readable by everyone`);
  else if ((mode & 0o040) === 0 || fsGroup === undefined || fsGroup !== runAsGroup) {
    problems.push(
      `${variable}: the Secret's files (mode ${mode.toString(8)}, fsGroup ${fsGroup}) are not readable by the sidecar's group ${runAsGroup}`,
    );
  }
  return problems;
}

export function metricsProblems(pod: Pod): string[] {
  const config = configOrThrow(pod);
  const expected = {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(config.ADMIN_PORT),
    'prometheus.io/path': '/metrics',
  };
  return Object.entries(expected)
    .filter(([key, value]) => pod.annotations[key] !== value)
    .map(
      ([key, value]) =>
        `pod annotation ${key} is ${JSON.stringify(pod.annotations[key])}, expected ${JSON.stringify(value)} (the admin listener's metrics)`,
    );
}

/** The restricted Pod Security Standard (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted), plus a read-only root filesystem. */
export function securityProblems(pod: Pod, facts: Facts): string[] {
  const problems: string[] = [];
  const podContext = pod.spec.securityContext ?? {};
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const)
    if (pod.spec[field]) problems.push(`the pod sets ${field}`);
  for (const volume of pod.spec.volumes ?? [])
    if (volume.hostPath) problems.push(`volume ${volume.name} is a hostPath`);
  for (const container of pod.all) {
    const context = container.securityContext ?? {};
    const where = `container ${container.name}`;
    if ((context.runAsNonRoot ?? podContext.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot is not true`);
    const uid = context.runAsUser ?? podContext.runAsUser;
    if (uid === 0) problems.push(`${where}: runs as uid 0`);
    const image = facts.images.get(container.image ?? '');
    if (image && image.uid === undefined)
      problems.push(
        `${where}: image ${container.image} has no numeric USER, so the kubelet cannot verify runAsNonRoot`,
      );
    if (image?.uid !== undefined && uid !== undefined && image.uid !== uid)
      problems.push(`${where}: runs as uid ${uid}, but its image's USER is ${image.uid}`);
    const seccomp = (context.seccompProfile ?? podContext.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${where}: seccompProfile is ${seccomp}, not RuntimeDefault`);
    if (context.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
    if (context.privileged) problems.push(`${where}: is privileged`);
    if (context.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
    if (!context.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities do not drop ALL`);
    for (const added of context.capabilities?.add ?? [])
      if (added !== 'NET_BIND_SERVICE') problems.push(`${where}: adds capability ${added}`);
    for (const port of container.ports ?? [])
      if (port.hostPort !== undefined) problems.push(`${where}: port ${port.name} takes a hostPort`);
  }
  return problems;
}

/** A Kubernetes quantity ("100m", "1", "256Mi") as a number of cores or bytes. */
export function quantity(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value);
  if (!match) throw new Error(`not a quantity: ${value}`);
  const factors: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(match[1]) * (match[2] ? (factors[match[2]] ?? Number.NaN) : 1);
}

export function resourceProblems(pod: Pod): string[] {
  const problems: string[] = [];
  for (const container of pod.all) {
    const { requests = {}, limits = {} } = container.resources ?? {};
    for (const resource of ['cpu', 'memory']) {
      const request = requests[resource];
      const limit = limits[resource];
      if (request === undefined || limit === undefined)
        problems.push(`container ${container.name}: needs both a ${resource} request and limit`);
      else if (quantity(request) > quantity(limit))
        problems.push(`container ${container.name}: ${resource} request ${request} is above its limit ${limit}`);
    }
  }
  return problems;
}

/** Seconds of the container's preStop pause; only the native `sleep` works in images without a shell. */
function preStopSeconds(container: Container, problems: string[]): number {
  const preStop = container.lifecycle?.preStop;
  if (!preStop) return 0;
  if (preStop.exec)
    problems.push(
      `container ${container.name}: preStop exec needs a shell or sleep binary the image does not have; use lifecycle.preStop.sleep`,
    );
  return preStop.sleep?.seconds ?? 0;
}

/**
 * Shutdown: the endpoint is removed while the preStop pauses run; the sidecar then drains for up
 * to DRAIN_TIMEOUT_MS; the app must keep serving until the sidecar is done; and all of it must
 * end before terminationGracePeriodSeconds, after which everything is killed.
 */
export function shutdownProblems(pod: Pod): string[] {
  const problems: string[] = [];
  const config = configOrThrow(pod);
  const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
  const drain = config.DRAIN_TIMEOUT_MS / 1000;
  const sidecarPause = preStopSeconds(pod.sidecar, problems);
  const appPause = preStopSeconds(pod.legacy, problems);
  if (sidecarPause <= 0)
    problems.push(
      `container ${pod.sidecar.name}: needs a preStop pause, so the endpoint is removed before it stops listening`,
    );
  if (appPause <= 0)
    problems.push(
      `container ${pod.legacy.name}: needs a preStop pause, so it is not stopped while traffic still arrives`,
    );
  let budget: number;
  if (pod.native) {
    // The kubelet stops a native sidecar only after the app has exited: one after the other.
    budget = appPause + sidecarPause + drain;
  } else {
    // Both stop at once: the app must outlive the sidecar's drain, or in-flight requests get 502.
    if (appPause < sidecarPause + drain) {
      problems.push(
        `container ${pod.legacy.name}: its preStop pause (${appPause} s) ends before the sidecar's pause and drain (${sidecarPause} + ${drain} s): in-flight requests would lose the app`,
      );
    }
    budget = Math.max(sidecarPause + drain, appPause);
  }
  if (grace <= budget)
    problems.push(
      `terminationGracePeriodSeconds ${grace} is not above the shutdown's ${budget} s (preStop pauses + DRAIN_TIMEOUT_MS): the pod would be killed mid-drain`,
    );
  return problems;
}

const requiredLabels = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/component',
  'app.kubernetes.io/part-of',
];

export function labelProblems(manifests: Manifest[], pod: Pod): string[] {
  const problems: string[] = [];
  const holders: [string, Record<string, string>][] = [
    ...manifests.map((manifest): [string, Record<string, string>] => [
      `${manifest.kind} ${manifest.metadata.name}`,
      (manifest.metadata.labels ?? {}) as Record<string, string>,
    ]),
    ['the pod template', pod.labels],
  ];
  for (const [owner, labels] of holders) {
    for (const label of requiredLabels) if (!labels[label]) problems.push(`${owner}: has no ${label} label`);
    for (const [key, value] of Object.entries(labels)) {
      if (value.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value))
        problems.push(`${owner}: label ${key}=${value} is not a valid label value`);
    }
  }
  return problems;
}
