/**
 * The pod test (`npm run test:pod`, also run by .ci/run): builds the images from the repository's
 * own Dockerfiles with `make build-images build-bun-image CONTAINER_ENGINE=podman`, runs deploy/k8s
 * (and the native-sidecar, tls and bun overlays) with `podman kube play`, and checks the pod as Kubernetes would use it:
 * readiness on the admin port, "Hello you!" through the sidecar, the JSON access-log line in the
 * sidecar's log, metrics where the scrape annotations point, and a clean drain on stop; for the
 * tls overlay, HTTPS with a certificate openssl made here, the redirect, and a renewal of the
 * mounted Secret picked up without a restart.
 *
 * How, on a machine without a registry or a Docker engine (Debian 12, root; each step found by
 * trying):
 * - podman, runc and catatonit come from Debian when missing (../support/system-tool.ts); a
 *   containers.conf with the two settings this machine needs, a private image store and a private
 *   network config all live in one temp folder, so the test touches no image, pod or network of
 *   anyone else's and removes it all;
 * - the Dockerfiles' FROM (an exact node release) is stood in for by an image made on the spot:
 *   that release's Node binary and npm from the npm registry, the libraries `ldd` lists, a passwd
 *   with the `node` user; the same paths as the real image, so the real Dockerfiles build as is;
 *   the Bun image's final FROM (an exact Debian 12 slim release) by the libraries `ldd` lists for
 *   the Bun binary of the lockfile (from the npm registry too) and Debian's passwd, without a `node` user;
 * - `npm ci` runs inside the build with no network: the lockfile's packages are put in
 *   an npm cache beforehand and mounted read-only into the build with an npmrc saying "offline".
 * Needs root (rootful podman). Every command is bounded; once podman is installed the whole run
 * took 1.8-2.3 minutes on a 2-core machine, most of it fetching the lockfile's packages and
 * building the images (the Bun image about 10 s of it, its pod about 5 s).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Container } from 'kubernetes-types/core/v1.js';
import { stringify } from 'yaml';
import { renderKustomization } from './kustomize.ts';
import type { Manifest } from './kustomize.ts';
import { podOf, projectFacts, resolvePort, servicesOf } from './pod.ts';
import { allBuilds, imageTargets, readImage, repoRoot } from './project.ts';
import { bunBinaryIn } from '../../scripts/build-bun.ts';
import { INSTALL_TIMEOUT_MS, requireTools, systemTools } from '../support/system-tool.ts';

const work = mkdtempSync(join(tmpdir(), 'pod-test-'));
const tag = `podtest-${process.pid}`;
const env = {
  ...process.env,
  CONTAINERS_CONF: join(work, 'containers.conf'),
  CONTAINERS_STORAGE_CONF: join(work, 'storage.conf'),
  DEBIAN_FRONTEND: 'noninteractive',
};

// The two settings this machine needs (no RLIMIT raising, no crun), and everything of this test's in `work`.
writeFileSync(
  env.CONTAINERS_CONF,
  [
    '[containers]',
    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `tmp_dir = "${work}/tmp"`,
    '[network]',
    `network_config_dir = "${work}/networks"`,
    '',
  ].join('\n'),
);
writeFileSync(
  env.CONTAINERS_STORAGE_CONF,
  ['[storage]', 'driver = "overlay"', `graphroot = "${work}/storage"`, `runroot = "${work}/run"`, ''].join('\n'),
);
mkdirSync(join(work, 'networks'));

interface Output {
  stdout: string;
  stderr: string;
}

/** Runs a command, bounded in time; fails with its stderr. */
function run(command: string, args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<Output> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env, cwd: options.cwd ?? repoRoot, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`.trim()));
        else resolve({ stdout, stderr });
      },
    );
  });
}
const podman = (args: string[], timeoutMs?: number) => run('podman', args, { timeoutMs });

/** Polls until `check` returns a value; every wait is for a condition, bounded by the deadline. */
async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last instanceof Error ? ` (last: ${last.message})` : ''}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// ------------------------------------------------------------------ the adaptations for podman

/**
 * Where `podman kube play` (4.3) differs from Kubernetes, and what the played copy changes. The
 * manifests' own checks (test/deploy) cover what these leave out.
 */
const adaptations = {
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
  downward:
    'downward-API env from metadata.namespace and spec.nodeName -> fixed values (podman-test, podman-node): podman 4.3 refuses those fieldPaths ("not valid or not supported"); metadata.name and labels it fills in',
  ignored:
    'kept but not acted on by podman: readinessProbe (this test polls it itself), lifecycle.preStop, resources, terminationGracePeriodSeconds (this test stops the pod with that timeout)',
};

interface Played {
  yaml: string;
  /** The adaptations this variant needed. */
  applied: string[];
  /** Host port for each container port number. */
  hostPorts: Map<number, number>;
}

async function adapt(manifests: Manifest[], images: Map<string, string>): Promise<Played> {
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
      delete volume.secret;
      volume.hostPath = { path: secretVolume.dir, type: 'Directory' };
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
        (key !== 'downward' || JSON.stringify(podSpec).includes('podman-')),
    )
    .map(([, text]) => text);
  return { yaml: stringify(deployment), applied, hostPorts };
}

// ------------------------------------------------------------------ the stand-in base image

/**
 * The Dockerfiles' base images: one node image (e.g. docker.io/library/node:24.21.0-bookworm-slim,
 * its Node version) in every stage that runs node or npm, and the Bun image's Debian (e.g.
 * docker.io/library/debian:12.15-slim) under Bun.
 */
function baseImages(): { node: { name: string; version: string }; debian: string[] } {
  const bases = new Set(allBuilds().flatMap((build) => readImage(build.dockerfile).stages.map((stage) => stage.from)));
  const debian = [...bases].filter((name) => /^docker\.io\/library\/debian:12\.\d+-slim$/.test(name));
  const nodes = [...bases].filter((name) => !debian.includes(name));
  assert.equal(nodes.length, 1, `one node base image in every Dockerfile, found ${nodes.join(', ')}`);
  const [name = ''] = nodes;
  const version = /^docker\.io\/library\/node:(\d+\.\d+\.\d+)-/.exec(name)?.[1];
  assert.ok(version, `${name} names an exact node release`);
  return { node: { name, version }, debian };
}

/** A folder laid out like the node image, where the Dockerfiles rely on it: /usr/local/{bin,lib/node_modules/npm}, /usr/bin/env, uid 1000. */
async function standInRoot(version: string): Promise<string> {
  const packages = join(work, 'packages');
  mkdirSync(packages);
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  // Node's own binary for that release, and npm (which the node image bundles) from the npm registry.
  await run('npm', ['pack', '--silent', '--pack-destination', packages, `node-linux-${arch}@${version}`, 'npm@11'], {
    timeoutMs: 300_000,
  });
  const root = join(work, 'rootfs');
  const unpacked = join(work, 'unpacked');
  for (const dir of [
    unpacked,
    `${root}/usr/local/bin`,
    `${root}/usr/local/lib/node_modules/npm`,
    `${root}/usr/bin`,
    `${root}/etc`,
    `${root}/root`,
    `${root}/home/node`,
    `${root}/tmp`,
  ]) {
    mkdirSync(dir, { recursive: true });
  }
  const tarball = (prefix: string) =>
    join(packages, readdirSync(packages).find((file) => file.startsWith(prefix)) ?? `${prefix}-missing.tgz`);
  await run('tar', ['-xzf', tarball(`node-linux-${arch}-`), '-C', unpacked, 'package/bin/node']);
  await run('tar', ['-xzf', tarball('npm-'), '-C', `${root}/usr/local/lib/node_modules/npm`, '--strip-components=1']);
  copyFileSync(join(unpacked, 'package/bin/node'), `${root}/usr/local/bin/node`);
  chmodSync(`${root}/usr/local/bin/node`, 0o755);
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', `${root}/usr/local/bin/npm`);
  copyFileSync('/usr/bin/env', `${root}/usr/bin/env`);
  chmodSync(`${root}/usr/bin/env`, 0o755);
  for (const library of await librariesOf([`${root}/usr/local/bin/node`, '/usr/bin/env'])) {
    mkdirSync(dirname(root + library), { recursive: true });
    copyFileSync(library, root + library);
  }
  writeFileSync(
    `${root}/etc/passwd`,
    'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n',
  );
  writeFileSync(`${root}/etc/group`, 'root:x:0:\nnode:x:1000:\n');
  chmodSync(`${root}/tmp`, 0o1777);
  chownSync(`${root}/home/node`, 1000, 1000);
  return root;
}

/**
 * A folder standing in for Debian's slim image where the Bun image relies on it: the C library
 * (the files `ldd` lists for the Bun binary), /tmp, and Debian's passwd, which has no uid 1000.
 */
function debianStandInRoot(libraries: string[]): string {
  const root = join(work, 'debian-rootfs');
  for (const dir of ['etc', 'root', 'tmp', 'usr/local/bin']) mkdirSync(join(root, dir), { recursive: true });
  for (const library of libraries) {
    mkdirSync(dirname(root + library), { recursive: true });
    copyFileSync(library, root + library);
  }
  writeFileSync(
    `${root}/etc/passwd`,
    'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  );
  writeFileSync(`${root}/etc/group`, 'root:x:0:\nnogroup:x:65534:\n');
  chmodSync(`${root}/tmp`, 0o1777);
  return root;
}

/** The shared libraries `ldd` lists for the given binaries (the loader included). */
async function librariesOf(binaries: string[]): Promise<string[]> {
  const { stdout } = await run('ldd', binaries);
  return [...new Set(stdout.match(/\/\S+\.so(\.\d+)*/g) ?? [])];
}

/** Imports a folder as the image `name`, with the real image's PATH and CMD. */
async function importRoot(root: string, name: string, cmd: string): Promise<void> {
  const tarball = join(work, `${root.split('/').at(-1)}.tar`);
  await run('tar', ['-C', root, '-cf', tarball, '.']);
  await podman(
    [
      'import',
      '--change',
      `CMD ${JSON.stringify([cmd])}`,
      '--change',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      tarball,
      name,
    ],
    120_000,
  );
}

// ------------------------------------------------------------------ the TLS Secret, as kubelet mounts it

/** A CA and two certificates for localhost, made by openssl; the volume folder laid out as kubelet does, readable by uid 1000 only. */
const secretVolume = (() => {
  const dir = join(work, 'tls-secret');
  const pki = join(work, 'pki');
  mkdirSync(dir);
  mkdirSync(pki);
  let generation = 0;
  return {
    dir,
    ca: join(pki, 'ca.crt'),
    async make(): Promise<void> {
      const openssl = (args: string[]) => run('openssl', args, { cwd: pki });
      await openssl([
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '2',
        '-subj',
        '/CN=pod test CA',
      ]);
      writeFileSync(join(pki, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
      for (const [name, serial] of [
        ['first', '1001'],
        ['second', '1002'],
      ]) {
        await openssl([
          'req',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          `${name}.key`,
          '-out',
          `${name}.csr`,
          '-subj',
          '/CN=localhost',
        ]);
        await openssl([
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-set_serial',
          `0x${serial}`,
          '-days',
          '2',
          '-extfile',
          'ext',
          '-out',
          `${name}.crt`,
        ]);
      }
    },
    /** kubelet's atomic update: a new timestamped folder, `..data_tmp` pointed at it, renamed over `..data`. */
    put(name: 'first' | 'second'): void {
      const stamp = `..2026_12_01_00_00_0${++generation}.1`;
      mkdirSync(join(dir, stamp));
      for (const file of ['crt', 'key']) {
        copyFileSync(join(pki, `${name}.${file}`), join(dir, stamp, `tls.${file}`));
        chownSync(join(dir, stamp, `tls.${file}`), 1000, 1000);
        chmodSync(join(dir, stamp, `tls.${file}`), 0o400);
      }
      symlinkSync(stamp, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      if (generation === 1) for (const file of ['tls.crt', 'tls.key']) symlinkSync(`..data/${file}`, join(dir, file));
    },
  };
})();

/** An HTTPS GET to 127.0.0.1 as localhost, verified against the test CA; the serial the server showed. */
function httpsGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown>; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: 'localhost',
        headers: { host: 'localhost', ...headers },
        ca: readFileSync(secretVolume.ca),
        agent: false,
        timeout: 5000,
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, serial }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

// ------------------------------------------------------------------ the test

const state: { images?: Map<string, string> } = {};
const facts = projectFacts();

after(async () => {
  // Everything below lives in this test's own store and folder: make sure podman agrees before removing "all".
  const store = await podman(['info', '--format', '{{.Store.GraphRoot}}']).catch(() => undefined);
  if (store?.stdout.trim().startsWith(work)) {
    for (const args of [
      ['pod', 'rm', '--force', '--all'],
      ['rm', '--force', '--all'],
      ['rmi', '--force', '--all'],
    ]) {
      await podman(args, 120_000).catch((error: Error) => console.error(`cleanup: ${error.message}`));
    }
  }
  rmSync(work, { recursive: true, force: true });
});

// catatonit is the pods' pause process: only a Recommends of Debian's podman, so an install
// without recommends lacks it and `podman kube play` fails ("finding pause binary"). openssl makes
// the TLS overlay's certificates.
test(
  'podman, runc, catatonit and openssl are installed (from Debian when missing)',
  { timeout: INSTALL_TIMEOUT_MS },
  async (t) => {
    await requireTools([
      { command: 'podman', package: 'podman' },
      { command: 'runc', package: 'runc' },
      { command: 'catatonit', package: 'catatonit' },
      systemTools.openssl,
    ]);
    const { stdout } = await podman(['version', '--format', '{{.Client.Version}}']);
    t.diagnostic(`podman ${stdout.trim()}, store in ${work}`);
  },
);

test(
  'the images build from the repository’s Dockerfiles with make build-images build-bun-image',
  { timeout: 600_000 },
  async (t) => {
    const started = Date.now();
    const bases = baseImages();
    await importRoot(await standInRoot(bases.node.version), bases.node.name, 'node');
    t.diagnostic(`stand-in for ${bases.node.name}: Node ${bases.node.version} + npm 11 (${Date.now() - started} ms)`);

    // The lockfile's packages, fetched on the host into a cache the build reads offline.
    const warm = join(work, 'warm');
    mkdirSync(warm);
    for (const file of ['package.json', 'package-lock.json']) cpSync(join(repoRoot, file), join(warm, file));
    // Every package, devDependencies included: the sidecar's build stage installs them all to bundle it (esbuild).
    await run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--cache', join(work, 'npm-cache')], {
      cwd: warm,
      timeoutMs: 300_000,
    });
    writeFileSync(join(work, 'npmrc'), 'cache=/npm-cache\noffline=true\n');
    // Debian's slim image, where the Bun image runs the lockfile's Bun binary (just installed above).
    const bun = bunBinaryIn(join(warm, 'node_modules'));
    for (const name of bases.debian) await importRoot(debianStandInRoot(await librariesOf([bun])), name, 'bash');
    t.diagnostic(`stand-in for ${bases.debian.join(', ')}: the libraries of ${bun.slice(warm.length + 1)}`);

    const flags = `--pull=never --network=none -v ${work}/npm-cache:/npm-cache -v ${work}/npmrc:/usr/local/etc/npmrc:ro`;
    const overrides = { CONTAINER_ENGINE: 'podman', TAG: tag, BUILD_FLAGS: flags };
    const variables = Object.entries(overrides).map(([name, value]) => `${name}=${value}`);
    for (const target of imageTargets) {
      const before = Date.now();
      const { stdout } = await run('make', [target, ...variables], { timeoutMs: 600_000 });
      // The Bun image's build stage starts as the Node image's: podman reuses those layers.
      const cached = stdout.split('\n').filter((line) => line.startsWith('--> Using cache')).length;
      t.diagnostic(`make ${target}: ${Date.now() - before} ms, ${cached} layers from the cache`);
    }

    const built = allBuilds(overrides);
    state.images = new Map(allBuilds().map((build, index) => [build.image, built[index]?.image ?? '']));
    for (const build of built) {
      const { stdout } = await podman([
        'image',
        'inspect',
        build.image,
        '--format',
        '{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Size}}',
      ]);
      const [user, entrypoint, cmd, size] = stdout.trim().split(' ');
      t.diagnostic(
        `${build.image}: USER ${user}, ENTRYPOINT ${entrypoint}, CMD ${cmd}, ${Math.round(Number(size) / 1e6)} MB`,
      );
      assert.equal(user, '1000:1000');
      assert.equal(entrypoint, JSON.stringify(readImage(build.dockerfile).entrypoint));
    }
    t.diagnostic(`built in ${Date.now() - started} ms`);
  },
);

test('the TLS Secret’s certificates are made with openssl', { timeout: 60_000 }, async () => {
  await secretVolume.make();
  secretVolume.put('first');
});

for (const variant of [
  'deploy/k8s',
  'deploy/k8s/overlays/native-sidecar',
  'deploy/k8s/overlays/tls',
  'deploy/k8s/overlays/bun',
]) {
  describe(`podman kube play ${variant}`, () => {
    const manifests = renderKustomization(join(repoRoot, variant));
    const pod = podOf(manifests, facts);
    const sidecarEnv = Object.fromEntries((pod.sidecar.env ?? []).map((v) => [v.name, v.value]));
    const ports = pod.sidecar.ports ?? [];
    const readiness = pod.sidecar.readinessProbe?.httpGet;
    const liveness = pod.sidecar.livenessProbe?.httpGet;
    const servicePort = servicesOf(manifests)[0]?.spec?.ports?.[0];
    const proxyPort = resolvePort(servicePort?.targetPort ?? servicePort?.port, ports) ?? 0;
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    let played: Played | undefined;
    let podId = '';
    const requestId = `pod-test-${process.pid}-${variant.split('/').at(-1)}`;
    const url = (containerPort: number, path: string) =>
      `http://127.0.0.1:${played?.hostPorts.get(containerPort)}${path}`;
    const containerId = async (name: string) => {
      const { stdout } = await podman(['ps', '--all', '--filter', `pod=${podId}`, '--format', '{{.ID}} {{.Names}}']);
      const line = stdout.split('\n').find((l) => l.endsWith(`-${name}`));
      assert.ok(line, `container ${name} runs in the pod`);
      return line.split(' ')[0] as string;
    };
    const logs = async (name: string) => podman(['logs', await containerId(name)]);

    test('the pod starts', { timeout: 60_000 }, async (t) => {
      assert.ok(state.images, 'the images were built');
      played = await adapt(manifests, state.images);
      for (const adaptation of played.applied) t.diagnostic(`adapted: ${adaptation}`);
      const file = join(work, `${variant.replaceAll('/', '-')}.yaml`);
      writeFileSync(file, played.yaml);
      const { stdout } = await podman(['kube', 'play', file], 60_000);
      podId = /Pod:\s*\n([0-9a-f]+)/.exec(stdout)?.[1] ?? '';
      assert.ok(podId, `kube play names the pod: ${stdout}`);
    });

    test(
      'the readiness probe (/readyz, admin port) turns 200, and the liveness probe (/healthz) answers 200',
      { timeout: 60_000 },
      async (t) => {
        assert.ok(played && readiness && liveness, 'the pod was played, and the sidecar has its probes');
        const readinessUrl = url(resolvePort(readiness.port, ports) ?? 0, readiness.path ?? '');
        const started = Date.now();
        await until(`${readinessUrl} 200`, 30_000, async () =>
          (await fetch(readinessUrl, { signal: AbortSignal.timeout(2000) })).status === 200 ? true : undefined,
        );
        t.diagnostic(`${readiness.path} 200 after ${Date.now() - started} ms`);
        assert.equal((await fetch(url(resolvePort(liveness.port, ports) ?? 0, liveness.path ?? ''))).status, 200);
      },
    );

    test(
      'both containers run under the restricted security context: uid 1000, read-only root, no capabilities',
      { timeout: 30_000 },
      async (t) => {
        for (const name of ['legacy', 'sidecar']) {
          const format =
            '{{.Config.User}}|{{.HostConfig.ReadonlyRootfs}}|{{json .EffectiveCaps}}|{{json .HostConfig.SecurityOpt}}|{{.State.Running}}';
          const { stdout } = await podman(['inspect', await containerId(name), '--format', format]);
          t.diagnostic(`${name}: ${stdout.trim()}`);
          const [user, readOnly, caps, securityOptions, running] = stdout.trim().split('|');
          assert.match(user ?? '', /^1000(:1000)?$/);
          assert.equal(readOnly, 'true');
          assert.ok(caps === 'null' || caps === '[]', `no capabilities, got ${caps}`);
          assert.match(securityOptions ?? '', /no-new-privileges/);
          assert.equal(running, 'true');
        }
      },
    );

    const tls = sidecarEnv.TLS_CERT_FILE !== undefined;
    const hostPort = (containerPort: number) => played?.hostPorts.get(containerPort) ?? 0;

    test(
      `a request through the sidecar port reaches the app${tls ? ' over HTTPS' : ''}: "Hello you!"`,
      { timeout: 30_000 },
      async (t) => {
        const response = tls
          ? await httpsGet(hostPort(proxyPort), '/', { 'x-request-id': requestId })
          : await fetch(url(proxyPort, '/'), { headers: { 'x-request-id': requestId } }).then(async (r) => ({
              status: r.status,
              body: await r.text(),
              headers: Object.fromEntries(r.headers),
              serial: '',
            }));
        t.diagnostic(
          `GET / -> ${response.status} ${JSON.stringify(response.body)}${tls ? ` (certificate serial ${response.serial})` : ''}`,
        );
        assert.equal(response.status, 200);
        assert.equal(response.body, 'Hello you!');
        assert.equal(response.headers['x-request-id'], requestId);
      },
    );

    if (tls) {
      test('port 80 of the Service, the redirect listener, answers 308 to https', { timeout: 30_000 }, async () => {
        const redirect = servicesOf(manifests)[0]?.spec?.ports?.find((port) => port.port === 80);
        const response = await fetch(url(resolvePort(redirect?.targetPort, ports) ?? 0, '/x?y=1'), {
          redirect: 'manual',
        });
        assert.equal(response.status, 308);
        // The Host fetch sent (127.0.0.1:hostPort), its port dropped.
        assert.equal(response.headers.get('location'), 'https://127.0.0.1/x?y=1');
      });

      test(
        'a renewed Secret (kubelet’s ..data swap) is served to new connections without a restart',
        { timeout: 30_000 },
        async (t) => {
          const before = await httpsGet(hostPort(proxyPort), '/');
          secretVolume.put('second');
          const started = Date.now();
          const after = await until('the second certificate', 15_000, async () => {
            const response = await httpsGet(hostPort(proxyPort), '/');
            return response.serial !== before.serial ? response : undefined;
          });
          t.diagnostic(`serial ${before.serial} -> ${after.serial} after ${Date.now() - started} ms`);
          assert.equal(after.serial, '1002');
          assert.equal(after.body, 'Hello you!');
        },
      );
    }

    test(
      'the sidecar’s log has the JSON access-log line on stdout, its own messages on stderr',
      { timeout: 30_000 },
      async (t) => {
        const output = await until('the access-log line', 10_000, async () => {
          const result = await logs('sidecar');
          return result.stdout.includes(requestId) ? result : undefined;
        });
        const lines = output.stdout.split('\n').filter((line) => line !== '');
        const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
        const record = records.find((r) => r.request_id === requestId);
        t.diagnostic(`stdout: ${lines.find((line) => line.includes(requestId))}`);
        t.diagnostic(`stderr: ${output.stderr.trim().split('\n')[0]}`);
        assert.ok(record);
        assert.equal(record.service, sidecarEnv.SRV_NAME);
        assert.equal(record.target, sidecarEnv.TARGET);
        assert.equal(record.method, 'GET');
        assert.equal(record.path, '/');
        assert.equal(record.status, 200);
        assert.match(output.stderr, /listening/);
      },
    );

    test('metrics answer where the scrape annotations point', { timeout: 30_000 }, async () => {
      const response = await fetch(
        url(Number(pod.annotations['prometheus.io/port']), pod.annotations['prometheus.io/path'] ?? ''),
      );
      assert.equal(response.status, 200);
      assert.match(
        await response.text(),
        /^http_server_request_duration_seconds_count\{[^}]*http_response_status_code="200"[^}]*\} [1-9]/m,
      );
    });

    test(
      'stopping the pod drains the sidecar, which exits 0 before the grace period',
      { timeout: (grace + 30) * 1000 },
      async (t) => {
        assert.ok(podId, 'the pod runs');
        const sidecar = await containerId('sidecar');
        const legacy = await containerId('legacy');
        const started = Date.now();
        await podman(['pod', 'stop', '--time', String(grace), podId], (grace + 20) * 1000);
        const elapsed = Date.now() - started;
        const { stdout } = await podman(['inspect', sidecar, legacy, '--format', '{{.Name}} {{.State.ExitCode}}']);
        const { stderr } = await logs('sidecar');
        t.diagnostic(`pod stop took ${elapsed} ms; exit codes: ${stdout.trim().replaceAll('\n', ', ')}`);
        t.diagnostic(`sidecar stderr: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
        assert.deepEqual(
          stdout
            .trim()
            .split('\n')
            .map((line) => line.split(' ')[1]),
          ['0', '0'],
        );
        assert.ok(elapsed < grace * 1000, `stopped in ${elapsed} ms, before the ${grace} s grace period (no SIGKILL)`);
        assert.match(stderr, /SIGTERM/, 'SIGTERM reached the runtime');
        assert.match(stderr, /drain/i);
        await podman(['pod', 'rm', '--force', podId]);
      },
    );
  });
}
