/**
 * What the repository says about its images, read from the files that make them: the Makefile
 * (as `make -n` runs it), the Dockerfiles, .dockerignore, and the entry points' imports.
 * The deploy tests hold the manifests against these facts instead of against copies of them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix, relative, resolve } from 'node:path';
import { bundleFile, bundleSource } from '../../scripts/build.ts';
import { bunBundleFile, bunBundleSource } from '../../scripts/build-bun.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');

// ---------------------------------------------------------------- Makefile

export interface ImageBuild {
  /** The whole command line, as make runs it. */
  command: string;
  engine: string;
  dockerfile: string;
  image: string;
  context: string;
}

/** The targets that build images: the sidecar (Node) and the legacy app; the sidecar on Bun (deploy/k8s/overlays/bun). */
export const imageTargets = ['build-images', 'build-bun-image'] as const;

/** The builds a make target (`make build-images` unless named) runs, read from its dry run (`make -n`), with optional overrides. */
export function makeBuilds(
  overrides: Record<string, string> = {},
  target: (typeof imageTargets)[number] = 'build-images',
): ImageBuild[] {
  const variables = Object.entries(overrides).map(([name, value]) => `${name}=${value}`);
  const output = execFileSync('make', ['-n', '-s', '--no-print-directory', target, ...variables], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const words = line.trim().split(/\s+/);
      const option = (name: string) => {
        const index = words.indexOf(name);
        const value = index >= 0 ? words[index + 1] : undefined;
        if (value === undefined) throw new Error(`make ${target} runs "${line}", which has no ${name}`);
        return value;
      };
      const [engine, verb] = words;
      if (!engine || verb !== 'build') throw new Error(`make ${target} runs "${line}", not "<engine> build ..."`);
      return {
        command: line.trim(),
        engine,
        dockerfile: option('-f'),
        image: option('-t'),
        context: words.at(-1) ?? '',
      };
    });
}

/** Every image the Makefile builds, in imageTargets' order. */
export function allBuilds(overrides: Record<string, string> = {}): ImageBuild[] {
  return imageTargets.flatMap((target) => makeBuilds(overrides, target));
}

/** The command a make target runs, as `make -n` prints it. */
export function makeCommands(target: string): string[] {
  return execFileSync('make', ['-n', '-s', '--no-print-directory', target], { cwd: repoRoot, encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.trim() !== '');
}

// ---------------------------------------------------------------- Dockerfiles

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Stages and instructions of a Dockerfile: comments dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Stage[] {
  const joined: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    joined.push(pending + line);
    pending = '';
  }
  const stages: Stage[] = [];
  for (const line of joined.filter((l) => l !== '')) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args };
    if (instruction.keyword === 'FROM') {
      const [from = '', as, name] = args.split(/\s+/);
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`"${line}" comes before any FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

/** JSON (exec) form of CMD/ENTRYPOINT/RUN, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  try {
    const value: unknown = JSON.parse(args);
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

export interface Copy {
  from: string | undefined;
  sources: string[];
  destination: string;
}

export function copiesOf(stage: Stage): Copy[] {
  return stage.instructions
    .filter((instruction) => instruction.keyword === 'COPY' || instruction.keyword === 'ADD')
    .map((instruction) => {
      const words = instruction.args.split(/\s+/);
      const flags = words.filter((word) => word.startsWith('--'));
      const paths = words.filter((word) => !word.startsWith('--'));
      const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
      const destination = paths.pop();
      if (!destination || paths.length === 0)
        throw new Error(`${instruction.keyword} ${instruction.args}: needs a source and a destination`);
      return { from, sources: paths, destination };
    });
}

export interface ImageFacts {
  dockerfile: string;
  stages: Stage[];
  final: Stage;
  base: string;
  workdir: string;
  /** The numeric USER of the final stage, or undefined when it is a name or unset. */
  uid: number | undefined;
  gid: number | undefined;
  user: string | undefined;
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  /** ENTRYPOINT + CMD, when both are exec form. */
  command: string[] | undefined;
  /** The final stage's ENV (`ENV NAME=value ...`). */
  env: Record<string, string>;
  exposed: number[];
}

export function readImage(dockerfile: string): ImageFacts {
  const stages = parseDockerfile(readFileSync(join(repoRoot, dockerfile), 'utf8'));
  const final = stages.at(-1);
  if (!final) throw new Error(`${dockerfile}: no FROM`);
  const last = (keyword: string) => final.instructions.findLast((instruction) => instruction.keyword === keyword)?.args;
  const user = last('USER');
  const [uid, gid] = (user ?? '').split(':').map((part) => (/^\d+$/.test(part) ? Number(part) : undefined));
  const entrypointArgs = last('ENTRYPOINT');
  const cmdArgs = last('CMD');
  // Unset, the base image's ENTRYPOINT would apply (docker-entrypoint.sh in node images): no command is known.
  const entrypoint = entrypointArgs === undefined ? undefined : execForm(entrypointArgs);
  const cmd = cmdArgs === undefined ? undefined : execForm(cmdArgs);
  return {
    dockerfile,
    stages,
    final,
    base: final.from,
    workdir: last('WORKDIR') ?? '/',
    uid,
    gid: gid ?? uid,
    user,
    entrypoint,
    cmd,
    command: entrypoint && cmd ? [...entrypoint, ...cmd] : undefined,
    env: Object.fromEntries(
      final.instructions
        .filter((instruction) => instruction.keyword === 'ENV')
        .flatMap((instruction) => {
          const pairs = instruction.args.split(/\s+/).map((word) => /^([A-Za-z_]\w*)=(.*)$/.exec(word));
          if (pairs.some((pair) => pair === null))
            throw new Error(`${dockerfile}: ENV ${instruction.args}: only the NAME=value form, unquoted, is modelled`);
          return pairs.map((pair) => [pair?.[1] ?? '', pair?.[2] ?? '']);
        }),
    ),
    exposed: final.instructions
      .filter((instruction) => instruction.keyword === 'EXPOSE')
      .flatMap((instruction) => instruction.args.split(/\s+/).map((port) => Number.parseInt(port, 10))),
  };
}

/** The runtimes an image may start, and the bundle each sidecar image runs (built in its build stage by `script`). */
export const programs = ['node', 'bun'] as const;
export type Program = (typeof programs)[number];
export interface Bundle {
  program: Program;
  file: string;
  source: string;
  script: string;
}
export const bundles: readonly Bundle[] = [
  { program: 'node', file: bundleFile, source: bundleSource, script: 'scripts/build.ts' },
  { program: 'bun', file: bunBundleFile, source: bunBundleSource, script: 'scripts/build-bun.ts' },
];

/** `node|bun [options] script`: the program, its options (`--name` or `--name=value`, before the script) and the script. */
function runtimeCommand(image: ImageFacts): { program: Program; options: string[]; script: string } | undefined {
  const [program, ...args] = image.command ?? [];
  const scriptAt = args.findIndex((arg) => !arg.startsWith('-'));
  const script = args[scriptAt];
  if (!programs.includes(program as Program) || script === undefined || scriptAt !== args.length - 1) return undefined;
  return { program: program as Program, options: args.slice(0, scriptAt), script };
}

/** The runtime the image starts (`node` or `bun`), if its command is `<runtime> [options] <script>`. */
export function programOf(image: ImageFacts): Program | undefined {
  return runtimeCommand(image)?.program;
}

/** The script the image's runtime runs, as a path relative to the repository root. */
export function entryOf(image: ImageFacts): string | undefined {
  const script = runtimeCommand(image)?.script;
  return script === undefined ? undefined : posix.relative(image.workdir, posix.resolve(image.workdir, script));
}

/** The options the image gives `node` before the script (V8 flags such as `--max-semi-space-size=8`); none for another runtime. */
export function nodeOptionsOf(image: ImageFacts): string[] {
  const command = runtimeCommand(image);
  return command?.program === 'node' ? command.options : [];
}

/** The options the image gives its runtime before the script. */
export function runtimeOptionsOf(image: ImageFacts): string[] {
  return runtimeCommand(image)?.options ?? [];
}

/** The bundle a script is (scripts/build.ts's, scripts/build-bun.ts's), if it is one. */
export function bundleOf(script: string | undefined): Bundle | undefined {
  return bundles.find((bundle) => bundle.file === script);
}

/** The source a script is built from: the bundle's entry for a bundle, else the script itself. */
export function sourceOf(script: string | undefined): string | undefined {
  return bundleOf(script)?.source ?? script;
}

// ---------------------------------------------------------------- .dockerignore

/** Docker's .dockerignore rules (moby/patternmatcher): last matching pattern wins, `!` re-includes, a matching parent counts. */
export function dockerignore(text: string): (path: string) => boolean {
  const patterns = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const pattern = posix.normalize((negated ? line.slice(1) : line).trim()).replace(/^\/+|\/+$/g, '');
      return { negated, regex: globToRegExp(pattern) };
    });
  return (path) => {
    const parts = path.split('/');
    const candidates = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
    let excluded = false;
    for (const { negated, regex } of patterns) {
      if (candidates.some((candidate) => regex.test(candidate))) excluded = !negated;
    }
    return excluded;
  };
}

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Files of the build context (the repository root, less .dockerignore) under the given path. */
export function contextFiles(path: string): string[] {
  const ignoreFile = join(repoRoot, '.dockerignore');
  const ignored = existsSync(ignoreFile) ? dockerignore(readFileSync(ignoreFile, 'utf8')) : () => false;
  const absolute = join(repoRoot, path);
  if (!existsSync(absolute)) return [];
  const files = statSync(absolute).isDirectory()
    ? readdirSync(absolute, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => relative(repoRoot, join(entry.parentPath, entry.name)).split('\\').join('/'))
    : [posix.normalize(path)];
  return files.filter((file) => !ignored(file));
}

/** Where each file that a stage (the final one unless named) copies from the build context lands, relative to its WORKDIR: image path -> repo path. */
export function contextCopies(image: ImageFacts, stage: Stage = image.final): Map<string, string> {
  const placed = new Map<string, string>();
  const workdir = stage.instructions.findLast((instruction) => instruction.keyword === 'WORKDIR')?.args ?? '/';
  for (const copy of copiesOf(stage).filter((c) => c.from === undefined)) {
    const destination = posix.relative(workdir, posix.resolve(workdir, copy.destination));
    const intoDirectory = copy.destination.endsWith('/') || copy.sources.length > 1;
    for (const source of copy.sources) {
      if (/[*?[]/.test(source))
        throw new Error(`${image.dockerfile}: COPY ${source}: wildcards are not modelled by test/deploy/project.ts`);
      const isDirectory = existsSync(join(repoRoot, source)) && statSync(join(repoRoot, source)).isDirectory();
      for (const file of contextFiles(source)) {
        const target = isDirectory
          ? posix.join(destination, posix.relative(posix.normalize(source), file))
          : intoDirectory
            ? posix.join(destination, posix.basename(file))
            : destination;
        placed.set(target, file);
      }
    }
  }
  return placed;
}

// ---------------------------------------------------------------- imports

export interface ImportGraph {
  /** Repository files the entry loads at run time (type-only imports are erased by Node and left out). */
  files: string[];
  /** Packages it imports by bare name. */
  packages: string[];
}

const importPattern =
  /^\s*(import|export)\s+(type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

export function importGraph(entry: string): ImportGraph {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(join(repoRoot, file), 'utf8');
    for (const match of source.matchAll(importPattern)) {
      const [, , typeOnly, staticSpecifier, dynamicSpecifier] = match;
      const specifier = staticSpecifier ?? dynamicSpecifier;
      if (!specifier || typeOnly) continue;
      if (specifier.startsWith('.')) visit(posix.join(posix.dirname(file), specifier));
      else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier.split('/')[0] ?? '')) {
        const parts = specifier.split('/');
        packages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier));
      }
    }
  };
  visit(posix.normalize(entry));
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/** Environment variables a file reads as `process.env.NAME` or `process.env['NAME']`. */
export function environmentReadBy(file: string): string[] {
  const source = readFileSync(join(repoRoot, file), 'utf8');
  const names = [...source.matchAll(/process\.env(?:\.([A-Za-z_]\w*)|\[\s*['"]([^'"]+)['"]\s*\])/g)].map(
    (match) => match[1] ?? match[2] ?? '',
  );
  return [...new Set(names)].sort();
}

export const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};
