/**
 * The images, read from the Makefile (`make -n`), the Dockerfiles and .dockerignore, held against
 * the code they package and the manifests that run them. The pod test (`npm run test:pod`) then
 * builds and runs them for real.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderKustomization } from './kustomize.ts';
import { legacyEntry, podOf, projectFacts, sidecarEntries, sidecarEntry } from './pod.ts';
import { bunBinaryFile, bunNotice, bunNoticeFile } from '../../scripts/build-bun.ts';
import {
  allBuilds,
  bundleOf,
  contextCopies,
  contextFiles,
  copiesOf,
  dockerignore,
  entryOf,
  execForm,
  importGraph,
  makeBuilds,
  makeCommands,
  packageJson,
  programOf,
  readImage,
  repoRoot,
  runtimeOptionsOf,
  sourceOf,
} from './project.ts';
import type { ImageFacts, Program, Stage } from './project.ts';

const builds = makeBuilds();
const bunBuilds = makeBuilds({}, 'build-bun-image');
const everyBuild = allBuilds();
const facts = projectFacts();
/** The base runs the Node images, the bun overlay the Bun image. */
const pods = ['deploy/k8s', 'deploy/k8s/overlays/bun'].map((dir) =>
  podOf(renderKustomization(join(repoRoot, dir)), facts),
);
/** What builds each bundle in its image's build stage: a devDependency, installed there by npm ci. */
const bundlers: Record<Program, string> = { node: 'esbuild', bun: 'bun' };

/** Files the entry loads at run time that the image does not hold at the same path. */
function missingFromImage(entry: string, copies: Map<string, string>): string[] {
  return importGraph(entry).files.filter((file) => copies.get(file) !== file);
}

describe('Makefile', () => {
  it('build-images builds the sidecar and the legacy app from the repository root, with docker by default', () => {
    expect(builds.map(({ engine, context }) => ({ engine, context }))).toEqual([
      { engine: 'docker', context: '.' },
      { engine: 'docker', context: '.' },
    ]);
    expect(builds.map((build) => sourceOf(entryOf(readImage(build.dockerfile)))).sort()).toEqual(
      [sidecarEntry, legacyEntry].sort(),
    );
  });

  it('build-bun-image builds the sidecar on Bun from the repository root, with docker by default', () => {
    expect(bunBuilds.map(({ engine, context }) => ({ engine, context }))).toEqual([{ engine: 'docker', context: '.' }]);
    const image = readImage(bunBuilds[0]?.dockerfile ?? '');
    expect(programOf(image)).toBe('bun');
    expect(sourceOf(entryOf(image))).toBe('runtimes/bun.ts');
    expect(sidecarEntries).toContain('runtimes/bun.ts');
  });

  it('takes the engine, tag and build flags from the command line', () => {
    const overridden = allBuilds({ CONTAINER_ENGINE: 'podman', TAG: 'test-1', BUILD_FLAGS: '--pull=never' });
    expect(overridden.map((build) => build.engine)).toEqual(['podman', 'podman', 'podman']);
    expect(overridden.every((build) => build.command.startsWith('podman build --pull=never -f '))).toBe(true);
    expect(overridden.map((build) => build.image)).toEqual(
      everyBuild.map((build) => build.image.replace(/:[^:]+$/, ':test-1')),
    );
    expect(overridden.every((build) => build.dockerfile && existsSync(join(repoRoot, build.dockerfile)))).toBe(true);
  });

  it('deploys with kubectl apply -k and runs the pod test', () => {
    expect(makeCommands('deploy')).toEqual(['kubectl apply -k deploy/k8s']);
    expect(makeCommands('deploy-native-sidecar')).toEqual(['kubectl apply -k deploy/k8s/overlays/native-sidecar']);
    expect(makeCommands('deploy-tls')).toEqual(['kubectl apply -k deploy/k8s/overlays/tls']);
    expect(makeCommands('deploy-bun')).toEqual(['kubectl apply -k deploy/k8s/overlays/bun']);
    expect(makeCommands('pod-test')).toEqual(['npm run test:pod']);
    expect(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).scripts['test:pod']).toBeTypeOf('string');
  });

  it('plain `make` lists every target with what it does', () => {
    const makefile = readFileSync(join(repoRoot, 'Makefile'), 'utf8');
    const targets = [...makefile.matchAll(/^([a-z-]+):/gm)].map((m) => m[1]);
    const listed = execFileSync('make', ['--no-print-directory'], { cwd: repoRoot, encoding: 'utf8' });
    const described = [...listed.matchAll(/^ {2}make (\S+) +\S/gm)].map((m) => m[1]);
    expect(described).toEqual(targets);
  });
});

describe('base image', () => {
  const nodeBase = /^docker\.io\/library\/node:24\.\d+\.\d+-bookworm-slim$/;
  const debianBase = /^docker\.io\/library\/debian:12\.\d+-slim$/;

  it('is one exact Node 24 LTS release on Debian bookworm-slim, in every stage of every Dockerfile that runs Node or npm', () => {
    const stages = everyBuild.flatMap((build) => readImage(build.dockerfile).stages);
    const bases = new Set(stages.map((stage) => stage.from).filter((from) => !debianBase.test(from)));
    expect(bases.size).toBe(1);
    const [base = ''] = bases;
    expect(base).toMatch(nodeBase);
    for (const build of everyBuild) {
      const image = readImage(build.dockerfile);
      // Build stages run npm and node; a final stage runs node unless its image starts Bun.
      const npmOrNode = image.stages.filter((stage) => stage !== image.final || programOf(image) !== 'bun');
      expect(npmOrNode.map((stage) => stage.from)).toEqual(npmOrNode.map(() => base));
    }
  });

  it('is, under the Bun image, one exact Debian 12 point release, slim: the same Debian, without Node', () => {
    const bunFinals = everyBuild.map((build) => readImage(build.dockerfile)).filter((i) => programOf(i) === 'bun');
    expect(bunFinals.map((image) => image.base)).toEqual([expect.stringMatching(debianBase)]);
  });
});

/** The RUN instructions of the stages, in exec form. */
function runsOf(image: ImageFacts): { stage: Stage; command: string[] | undefined }[] {
  return image.stages.flatMap((stage) =>
    stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => ({ stage, command: execForm(i.args) })),
  );
}

describe.each(everyBuild)('$image from $dockerfile', ({ dockerfile, image: reference }) => {
  const image: ImageFacts = readImage(dockerfile);
  const entry = entryOf(image) ?? '';
  const program = programOf(image);
  // The sidecar runs the bundle built from its sources (on Node or Bun); the legacy app runs its source itself.
  const bundle = bundleOf(entry);
  const bundled = bundle !== undefined;
  const source = sourceOf(entry) ?? '';
  const copies = contextCopies(image);
  const graph = importGraph(source);
  const pod = pods.find((p) => p.all.some((c) => c.image === reference));
  const container = pod?.all.find((c) => c.image === reference);
  const buildStage = image.stages.find(
    (stage) =>
      stage !== image.final &&
      runsOf(image).some((run) => run.stage === stage && run.command?.join(' ') === `node ${bundle?.script}`),
  );

  it('starts `<node or bun> [flags] <entry>` in exec form, the runtime as PID 1 whatever the base image’s ENTRYPOINT', () => {
    expect(program).toBeDefined();
    if (bundled) expect(program).toBe(bundle.program);
    expect(image.entrypoint).toEqual([program]);
    expect(image.command).toEqual([program, ...runtimeOptionsOf(image), entry]);
    expect(runtimeOptionsOf(image).every((option) => /^--[a-z-]+=\d+$/.test(option))).toBe(true);
    expect(existsSync(join(repoRoot, source))).toBe(true);
  });

  it('runs as a numeric non-root user, the one the pod that runs it runs as', () => {
    expect(pod, `a pod of deploy/k8s or an overlay runs ${reference}`).toBeDefined();
    expect(image.uid).toBeGreaterThan(0);
    expect(image.gid).toBeGreaterThan(0);
    expect(container?.securityContext?.runAsUser ?? pod?.spec.securityContext?.runAsUser).toBe(image.uid);
    expect(container?.securityContext?.runAsGroup ?? pod?.spec.securityContext?.runAsGroup).toBe(image.gid);
  });

  it('holds every file the entry imports, at the path it imports it from (for the bundle: its build stage holds what the build reads)', () => {
    expect(graph.files).toContain(source);
    if (!bundled) {
      expect(missingFromImage(entry, copies)).toEqual([]);
      expect(copies.get('package.json')).toBe('package.json');
      return;
    }
    expect(buildStage, `a stage runs \`node ${bundle.script}\``).toBeDefined();
    const built = contextCopies(image, buildStage);
    expect(missingFromImage(bundle.source, built)).toEqual([]);
    expect(missingFromImage(bundle.script, built)).toEqual([]);
    // On Node the base image's node runs it; Bun's binary comes from the build stage (the npm
    // package), with the notice of its licences the package does not carry (scripts/build-bun.ts).
    const binary = { from: buildStage?.name, sources: [`/app/${bunBinaryFile}`], destination: '/usr/local/bin/bun' };
    const notice = {
      from: buildStage?.name,
      sources: [`/app/${bunNoticeFile}`],
      destination: '/usr/local/share/doc/bun/NOTICE',
    };
    // On Node, also the bundle's compile cache (scripts/compile-cache.ts), made in the build stage.
    const cache = { from: buildStage?.name, sources: ['/app/compile-cache/'], destination: './compile-cache/' };
    expect(copiesOf(image.final)).toEqual([
      ...(program === 'bun' ? [binary, notice] : []),
      { from: buildStage?.name, sources: [`/app/${bundle.file}`], destination: './dist/' },
      ...(program === 'node' ? [cache] : []),
    ]);
  });

  it('holds no test, tooling or other runtime’s code (the sidecar: the bundle alone)', () => {
    const copied = [...copies.values()];
    if (bundled) expect(copied).toEqual([]);
    expect(copied.filter((file) => /^(test|bench|scripts|deploy|node_modules)\//.test(file))).toEqual([]);
    expect(copied.filter((file) => file.startsWith('runtimes/') && !graph.files.includes(file))).toEqual([]);
  });

  it('installs dependencies with npm ci, as locked, only where they are used: in the bundle’s build stage, never in the final image', () => {
    const dependencies = Object.keys(packageJson.dependencies ?? {});
    expect(graph.packages.filter((name) => !dependencies.includes(name))).toEqual([]);
    const nodeModules = copiesOf(image.final).filter((copy) => copy.sources.some((s) => s.includes('node_modules')));
    expect(nodeModules).toEqual([]);
    const runs = runsOf(image);
    if (!bundled) {
      expect(graph.packages).toEqual([]);
      expect(runs).toEqual([]);
      return;
    }
    // The bundler is a devDependency: the build stage installs everything the lockfile holds.
    expect(Object.keys(packageJson.devDependencies ?? {})).toContain(bundlers[bundle.program]);
    const install = runs.find((run) => run.stage === buildStage && run.command?.[0] === 'npm');
    expect(install?.command?.slice(0, 2)).toEqual(['npm', 'ci']);
    expect(install?.command).not.toContain('--omit=dev');
    expect(copiesOf(buildStage as Stage)[0]?.sources).toEqual(['package.json', 'package-lock.json']);
    expect(runs.filter((run) => run.stage === image.final)).toEqual([]);
  });

  it('sets in ENV no variable the configuration reads (the manifests’ job) and no NODE_ or BUN_ variable (a runtime’s flags are in CMD, in sight)', () => {
    const configured = [...facts.sidecarVariables, ...facts.legacyVariables];
    expect(Object.keys(image.env).filter((name) => configured.includes(name))).toEqual([]);
    // The one exception: NODE_COMPILE_CACHE, which no flag can stand for in Node 24.
    const runtimeVariables = Object.keys(image.env).filter((name) => /^(NODE|BUN)_/.test(name));
    expect(runtimeVariables).toEqual(program === 'node' && bundled ? ['NODE_COMPILE_CACHE'] : []);
  });

  it('ships, for Node, the bundle’s compile cache, made in the build stage by the user the image runs as, where NODE_COMPILE_CACHE points (no other image has one)', () => {
    const made = runsOf(image).find((run) => run.command?.[1] === 'scripts/compile-cache.ts');
    if (program !== 'node' || !bundled) {
      expect(made).toBeUndefined();
      expect(image.env.NODE_COMPILE_CACHE).toBeUndefined();
      return;
    }
    expect(image.env.NODE_COMPILE_CACHE).toBe('/app/compile-cache');
    expect(made?.stage).toBe(buildStage);
    // After the bundle is built, for that user (Node keys the cache by user id).
    expect(made?.command).toEqual([
      'node',
      'scripts/compile-cache.ts',
      '/app/compile-cache',
      `${image.uid}:${image.gid}`,
    ]);
    const runs = runsOf(image).map((run) => run.command?.join(' '));
    expect(runs.indexOf(made?.command?.join(' '))).toBeGreaterThan(runs.indexOf(`node ${bundle?.script}`));
    expect(missingFromImage('scripts/compile-cache.ts', contextCopies(image, buildStage))).toEqual([]);
  });

  it('exposes the ports its container declares', () => {
    expect(image.exposed.sort()).toEqual((container?.ports ?? []).map((port) => port.containerPort).sort());
  });
});

describe('.dockerignore', () => {
  it('keeps every file the Dockerfiles copy in the build context, and nothing else the images need', () => {
    for (const build of everyBuild) {
      for (const copy of readImage(build.dockerfile)
        .stages.flatMap(copiesOf)
        .filter((c) => c.from === undefined)) {
        for (const source of copy.sources)
          expect(contextFiles(source), `${build.dockerfile}: COPY ${source}`).not.toEqual([]);
      }
    }
    const ignored = dockerignore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));
    for (const path of [
      'node_modules/zod/package.json',
      '.git/HEAD',
      'test/deploy/images.test.ts',
      'bench/run.ts',
      '.tools/x',
      'deploy/k8s/kustomization.yaml',
      'Makefile',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
  });

  it('is read with Docker’s rules: last match wins, `!` re-includes, a matching parent counts', () => {
    const ignored = dockerignore('*\n!src/\nsrc/*.test.ts\n**/secret\n');
    expect(ignored('package.json')).toBe(true);
    expect(ignored('src/legacy.ts')).toBe(false);
    expect(ignored('src/a.test.ts')).toBe(true);
    expect(ignored('src/deep/secret')).toBe(true);
  });
});

it('a file the sidecar imports but its build stage lacks is caught', () => {
  const image = readImage(
    builds.find((build) => sourceOf(entryOf(readImage(build.dockerfile))) === sidecarEntry)?.dockerfile ?? '',
  );
  const buildStage = image.stages.find((stage) => stage.name === copiesOf(image.final)[0]?.from);
  const copies = contextCopies(image, buildStage);
  const [imported] = importGraph(sidecarEntry).files.filter(
    (file) => file.startsWith('runtimes/') && file !== sidecarEntry,
  );
  expect(imported).toBeDefined();
  copies.delete(imported as string);
  expect(missingFromImage(sidecarEntry, copies)).toEqual([imported]);
});

it("the Bun image's notice names the release the lockfile pins and points to that release's licence", () => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'node_modules/bun/package.json'), 'utf8')) as {
    version: string;
  };
  const notice = bunNotice(version);
  expect(notice).toContain(`bun@${version}`);
  expect(notice).toContain('MIT');
  expect(notice).toContain('LGPL-2');
  expect(notice).toContain(`https://github.com/oven-sh/bun/blob/bun-v${version}/LICENSE.md`);
});
