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
import { legacyEntry, podOf, projectFacts, sidecarEntry } from './pod.ts';
import { bundleFile, bundleSource } from '../../scripts/build.ts';
import {
  contextCopies,
  contextFiles,
  copiesOf,
  dockerignore,
  entryOf,
  execForm,
  importGraph,
  makeBuilds,
  makeCommands,
  nodeOptionsOf,
  packageJson,
  readImage,
  repoRoot,
  sourceOf,
} from './project.ts';
import type { ImageFacts, Stage } from './project.ts';

const builds = makeBuilds();
const facts = projectFacts();
const pod = podOf(renderKustomization(join(repoRoot, 'deploy/k8s')), facts);

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

  it('takes the engine, tag and build flags from the command line', () => {
    const overridden = makeBuilds({ CONTAINER_ENGINE: 'podman', TAG: 'test-1', BUILD_FLAGS: '--pull=never' });
    expect(overridden.map((build) => build.engine)).toEqual(['podman', 'podman']);
    expect(overridden.every((build) => build.command.startsWith('podman build --pull=never -f '))).toBe(true);
    expect(overridden.map((build) => build.image)).toEqual(
      builds.map((build) => build.image.replace(/:[^:]+$/, ':test-1')),
    );
    expect(overridden.every((build) => build.dockerfile && existsSync(join(repoRoot, build.dockerfile)))).toBe(true);
  });

  it('deploys with kubectl apply -k and runs the pod test', () => {
    expect(makeCommands('deploy')).toEqual(['kubectl apply -k deploy/k8s']);
    expect(makeCommands('deploy-native-sidecar')).toEqual(['kubectl apply -k deploy/k8s/overlays/native-sidecar']);
    expect(makeCommands('deploy-tls')).toEqual(['kubectl apply -k deploy/k8s/overlays/tls']);
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
  it('is one exact Node 24 LTS release on Debian bookworm-slim, in every stage of every Dockerfile', () => {
    const bases = new Set(builds.flatMap((build) => readImage(build.dockerfile).stages.map((stage) => stage.from)));
    expect(bases.size).toBe(1);
    const [base = ''] = bases;
    expect(base).toMatch(/^docker\.io\/library\/node:24\.\d+\.\d+-bookworm-slim$/);
  });
});

/** The RUN instructions of the stages, in exec form. */
function runsOf(image: ImageFacts): { stage: Stage; command: string[] | undefined }[] {
  return image.stages.flatMap((stage) =>
    stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => ({ stage, command: execForm(i.args) })),
  );
}

describe.each(builds)('$image from $dockerfile', ({ dockerfile, image: reference }) => {
  const image: ImageFacts = readImage(dockerfile);
  const entry = entryOf(image) ?? '';
  // The sidecar runs the bundle built from its sources; the legacy app runs its source itself.
  const bundled = entry === bundleFile;
  const source = sourceOf(entry) ?? '';
  const copies = contextCopies(image);
  const graph = importGraph(source);
  const container = pod.all.find((c) => c.image === reference);
  const buildStage = image.stages.find(
    (stage) =>
      stage !== image.final &&
      runsOf(image).some((run) => run.stage === stage && run.command?.join(' ') === 'node scripts/build.ts'),
  );

  it('starts `node [V8 flags] <entry>` in exec form, Node as PID 1 whatever the base image’s ENTRYPOINT', () => {
    expect(image.entrypoint).toEqual(['node']);
    expect(image.command).toEqual(['node', ...nodeOptionsOf(image), entry]);
    expect(nodeOptionsOf(image).every((option) => /^--[a-z-]+=\d+$/.test(option))).toBe(true);
    expect(existsSync(join(repoRoot, source))).toBe(true);
  });

  it('runs as a numeric non-root user, the one the pod runs as', () => {
    expect(image.uid).toBeGreaterThan(0);
    expect(image.gid).toBeGreaterThan(0);
    expect(container?.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser).toBe(image.uid);
    expect(container?.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup).toBe(image.gid);
  });

  it('holds every file the entry imports, at the path it imports it from (for the bundle: its build stage holds what the build reads)', () => {
    expect(graph.files).toContain(source);
    if (!bundled) {
      expect(missingFromImage(entry, copies)).toEqual([]);
      expect(copies.get('package.json')).toBe('package.json');
      return;
    }
    expect(buildStage, 'a stage runs `node scripts/build.ts`').toBeDefined();
    const built = contextCopies(image, buildStage);
    expect(missingFromImage(bundleSource, built)).toEqual([]);
    expect(missingFromImage('scripts/build.ts', built)).toEqual([]);
    expect(copiesOf(image.final)).toEqual([
      { from: buildStage?.name, sources: [`/app/${bundleFile}`], destination: './dist/' },
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
    expect(Object.keys(packageJson.devDependencies ?? {})).toContain('esbuild');
    const install = runs.find((run) => run.stage === buildStage && run.command?.[0] === 'npm');
    expect(install?.command?.slice(0, 2)).toEqual(['npm', 'ci']);
    expect(install?.command).not.toContain('--omit=dev');
    expect(copiesOf(buildStage as Stage)[0]?.sources).toEqual(['package.json', 'package-lock.json']);
    expect(runs.filter((run) => run.stage === image.final)).toEqual([]);
  });

  it('sets in ENV no variable the configuration reads (the manifests’ job) and no NODE_ variable (Node’s flags are in CMD, in sight)', () => {
    const configured = [...facts.sidecarVariables, ...facts.legacyVariables];
    expect(Object.keys(image.env).filter((name) => configured.includes(name))).toEqual([]);
    expect(Object.keys(image.env).filter((name) => name.startsWith('NODE_'))).toEqual([]);
  });

  it('exposes the ports its container declares', () => {
    expect(image.exposed.sort()).toEqual((container?.ports ?? []).map((port) => port.containerPort).sort());
  });
});

describe('.dockerignore', () => {
  it('keeps every file the Dockerfiles copy in the build context, and nothing else the images need', () => {
    for (const build of builds) {
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
