/**
 * The pod test (`npm run test:pod`, also run by .ci/run): builds the images from the repository's
 * own Dockerfiles with `make build-images build-bun-image CONTAINER_ENGINE=podman`, runs deploy/k8s
 * (and the native-sidecar, tls, bun and auth overlays) with `podman kube play`, and checks the pod as Kubernetes would use it:
 * readiness on the admin port, "Hello you!" through the sidecar, the JSON access-log line in the
 * sidecar's log, metrics where the scrape annotations point, and a clean drain on stop; for the
 * tls overlay, HTTPS with a certificate openssl made here, the redirect, and a renewal of the
 * mounted Secret picked up without a restart; for the auth overlay, Basic from its mounted htpasswd
 * (401 without credentials; no IdP here, so the played copy drops the OIDC and JWT variables).
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
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { renderKustomization } from './kustomize.ts';
import { podOf, projectFacts, resolvePort, servicesOf } from './pod.ts';
import { adapt } from './podman-adapt.ts';
import type { Played } from './podman-adapt.ts';
import { podman, run, until, work } from './podman-work.ts';
import { allBuilds, imageTargets, readImage, repoRoot } from './project.ts';
import { baseImages, debianStandInRoot, importRoot, librariesOf, standInRoot } from './stand-in-images.ts';
import { authSecretVolume, httpsGet, secretVolume } from './secret-volumes.ts';
import { bunBinaryIn } from '../../scripts/build-bun.ts';
import { INSTALL_TIMEOUT_MS, requireTools, systemTools } from '../support/system-tool.ts';

const tag = `podtest-${process.pid}`;

// ------------------------------------------------------------------ the test

const state: { images?: Map<string, string>; buildFailure?: string } = {};

/** The built images, or a failure naming why the build did not give them (the cause, not a cascade). */
function builtImages(): Map<string, string> {
  if (!state.images) assert.fail(`the images were not built: ${state.buildFailure ?? 'their test did not finish'}`);
  return state.images;
}

/**
 * A failed command's reason on one line: the last lines that say "error" (podman build's step, the
 * program's own error, npm's), else its last lines; the full output is in that test's own failure.
 */
function reasonOf(error: unknown, count = 4): string {
  const lines = (error instanceof Error ? error.message : String(error))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const errors = lines.filter((line) => /\berror\b/i.test(line));
  return (errors.length > 0 ? errors : lines).slice(-count).join(' | ');
}
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
  secretVolume.remove();
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
    try {
      await buildImages(t);
    } catch (error) {
      state.buildFailure = reasonOf(error);
      throw error;
    }
  },
);

async function buildImages(t: TestContext): Promise<void> {
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
}

test(
  'the Node image’s sidecar starts from the compile cache the image carries: V8 accepts it',
  { timeout: 60_000 },
  async () => {
    const reference = allBuilds().find((build) => build.dockerfile === 'deploy/sidecar.Dockerfile')?.image ?? '';
    const image = builtImages().get(reference);
    assert.ok(image, `an image was built for ${reference}`);
    // A PORT no configuration takes: the bundle is compiled (or not) and run up to the config check, then exits 1.
    const failed = await podman([
      'run',
      '--rm',
      '--network=none',
      '-e',
      'NODE_DEBUG_NATIVE=COMPILE_CACHE',
      '-e',
      'PORT=none',
      image,
    ]).then(
      () => '',
      (error: Error) => error.message,
    );
    assert.match(failed, /PORT: must be a port number/);
    assert.match(failed, /V8 code cache for ESM file:\/\/\/app\/dist\/sidecar\.mjs was accepted/);
  },
);

test(
  'the Secrets’ files are made: the TLS certificates with openssl, the auth Secret’s htpasswd',
  { timeout: 60_000 },
  async () => {
    await secretVolume.make();
    secretVolume.put('first');
    authSecretVolume.make();
  },
);

for (const variant of [
  'deploy/k8s',
  'deploy/k8s/overlays/native-sidecar',
  'deploy/k8s/overlays/tls',
  'deploy/k8s/overlays/bun',
  'deploy/k8s/overlays/auth',
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
    let podFailure: string | undefined;
    /** The played pod, or a failure naming why it is not running (so each later test says the cause). */
    const running = (): Played => {
      if (!played || !podId) assert.fail(`the pod is not running: ${podFailure ?? 'it was not played'}`);
      return played;
    };
    const requestId = `pod-test-${process.pid}-${variant.split('/').at(-1)}`;
    const url = (containerPort: number, path: string) =>
      `http://127.0.0.1:${running().hostPorts.get(containerPort)}${path}`;
    const containerId = async (name: string) => {
      running();
      const { stdout } = await podman(['ps', '--all', '--filter', `pod=${podId}`, '--format', '{{.ID}} {{.Names}}']);
      const line = stdout.split('\n').find((l) => l.endsWith(`-${name}`));
      assert.ok(line, `container ${name} runs in the pod`);
      return line.split(' ')[0] as string;
    };
    const logs = async (name: string) => podman(['logs', await containerId(name)]);

    test('the pod starts', { timeout: 60_000 }, async (t) => {
      try {
        const adapted = await adapt(manifests, builtImages());
        for (const adaptation of adapted.applied) t.diagnostic(`adapted: ${adaptation}`);
        const file = join(work, `${variant.replaceAll('/', '-')}.yaml`);
        writeFileSync(file, adapted.yaml);
        const { stdout } = await podman(['kube', 'play', file], 60_000);
        podId = /Pod:\s*\n([0-9a-f]+)/.exec(stdout)?.[1] ?? '';
        assert.ok(podId, `kube play names the pod: ${stdout}`);
        played = adapted;
      } catch (error) {
        podFailure = reasonOf(error);
        throw error;
      }
    });

    test(
      'the readiness probe (/readyz, admin port) turns 200, and the liveness probe (/healthz) answers 200',
      { timeout: 60_000 },
      async (t) => {
        running();
        assert.ok(readiness && liveness, 'the sidecar has its probes');
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
    // The auth overlay as played: Basic from the mounted htpasswd (no IdP here: podman-adapt.ts).
    const auth = sidecarEnv.AUTH_BASIC_FILE !== undefined;
    const credentials: Record<string, string> = auth ? { authorization: authSecretVolume.basic } : {};
    const hostPort = (containerPort: number) => running().hostPorts.get(containerPort) ?? 0;

    if (auth)
      test('without credentials the sidecar answers 401 with a Basic challenge', { timeout: 30_000 }, async (t) => {
        const response = await httpsGet(hostPort(proxyPort), '/');
        t.diagnostic(`GET / -> ${response.status}, WWW-Authenticate: ${String(response.headers['www-authenticate'])}`);
        assert.equal(response.status, 401);
        assert.match(String(response.headers['www-authenticate']), /^Basic realm=/);
        assert.notEqual(response.body, 'Hello you!');
      });

    test(
      `a request through the sidecar port reaches the app${tls ? ' over HTTPS' : ''}${auth ? `, with Basic credentials, as that user: "Hello ${authSecretVolume.user}!"` : ': "Hello you!"'}`,
      { timeout: 30_000 },
      async (t) => {
        const response = tls
          ? await httpsGet(hostPort(proxyPort), '/', { 'x-request-id': requestId, ...credentials })
          : await fetch(url(proxyPort, '/'), { headers: { 'x-request-id': requestId, ...credentials } }).then(
              async (r) => ({
                status: r.status,
                body: await r.text(),
                headers: Object.fromEntries(r.headers),
                serial: '',
              }),
            );
        t.diagnostic(
          `GET / -> ${response.status} ${JSON.stringify(response.body)}${tls ? ` (certificate serial ${response.serial})` : ''}`,
        );
        assert.equal(response.status, 200);
        // The demo app greets the user the sidecar tells it of (docs/access-control.md's identity headers).
        assert.equal(response.body, auth ? `Hello ${authSecretVolume.user}!` : 'Hello you!');
        assert.equal(response.headers['x-request-id'], requestId);
      },
    );

    if (tls && !auth) {
      // The auth overlay is the TLS overlay's Deployment with more: its redirect and renewal are played there.
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
        running();
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
