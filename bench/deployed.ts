// The as-deployed rows, one per sidecar image: `deployed` (deploy/sidecar.Dockerfile, Node) and
// `deployed-bun` (deploy/bun.Dockerfile, Bun). Each runs the bundle its image runs (built by the
// script the image's build stage runs: scripts/build.ts, scripts/build-bun.ts), started with the
// ENV, ENTRYPOINT and CMD read from its Dockerfile, inside a memory cgroup limited to the sidecar
// container's memory limit in the rendered kustomization that selects the image (deploy/k8s, or
// its bun overlay). Node sizes its heap from that limit (libuv reads the cgroup), as in the pod.
// The CPU limit is not applied: the rows measure memory as deployed, and req/s next to the
// unconstrained rows (bench/README.md).
//
// The Node image carries V8's compile cache of its bundle (NODE_COMPILE_CACHE, made in its build
// stage by scripts/compile-cache.ts); here the same script makes one for this bundle, in a
// directory of the run's own, and the variable names that.
//
// Each cgroup is a child of the benchmark's own memory cgroup (v1, /sys/fs/cgroup/memory), so
// whatever limits the machine puts on the benchmark still hold; it needs root.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildBunSidecar, bunBinaryIn } from '../scripts/build-bun.ts';
import { buildSidecar } from '../scripts/build.ts';
import { renderKustomization } from '../test/deploy/kustomize.ts';
import { podOf, projectFacts } from '../test/deploy/pod.ts';
import { bundleOf, entryOf, programOf, readImage, repoRoot, runtimeOptionsOf } from '../test/deploy/project.ts';
import type { Program } from '../test/deploy/project.ts';

const MEMORY_ROOT = '/sys/fs/cgroup/memory';

/** A sidecar image run as deployed: its row, its Dockerfile, and the kustomization that deploys it. */
export interface DeployedImage {
  row: string;
  dockerfile: string;
  kustomization: string;
}

export const DEPLOYED_IMAGES: readonly DeployedImage[] = [
  { row: 'deployed', dockerfile: 'deploy/sidecar.Dockerfile', kustomization: 'deploy/k8s' },
  { row: 'deployed-bun', dockerfile: 'deploy/bun.Dockerfile', kustomization: 'deploy/k8s/overlays/bun' },
];

/**
 * Per runtime an image may start: the build of the bundle it runs, and the binary here that stands
 * for the image's. Node: the Node running the benchmark. Bun: the one in node_modules, checked to
 * be the release package-lock.json pins, as the Bun image's build stage copies it.
 */
const RUNTIMES: Record<Program, { build: () => Promise<{ bytes: number }>; binary: () => string }> = {
  node: { build: () => buildSidecar(), binary: () => process.execPath },
  bun: { build: async () => buildBunSidecar(), binary: () => bunBinaryIn(join(repoRoot, 'node_modules')) },
};

export interface Deployed {
  image: DeployedImage;
  /** The command to spawn: a shell that moves itself into the cgroup, then execs the runtime (same pid). */
  argv: string[];
  /** `[NAME=value ...] node|bun [options] dist/<bundle>.mjs`, as the image's ENV, ENTRYPOINT and CMD say. */
  imageCommand: string[];
  limitBytes: number;
  cgroup: string;
  bundleBytes: number;
  /** The cgroup's own peak (memory.max_usage_in_bytes, page cache included) since the last reset. */
  cgroupPeakBytes(): number | null;
  resetPeak(): void;
  /** Removes the cgroup (once its processes are gone). */
  remove(): void;
}

/** Kubernetes quantities as manifests use them for memory: plain bytes, or k/M/G, Ki/Mi/Gi. */
export function memoryBytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity.trim());
  if (!m) throw new Error(`memory limit ${quantity}: not a quantity this benchmark reads`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** The sidecar container's memory limit in the rendered kustomization. */
function manifestMemoryLimit(kustomization: string): number {
  const pod = podOf(renderKustomization(join(repoRoot, kustomization)), projectFacts());
  const limit = pod.sidecar.resources?.limits?.memory;
  if (limit === undefined) throw new Error(`${kustomization}: the sidecar container has no memory limit`);
  return memoryBytes(String(limit));
}

/** The image's runtime and its environment and command: `NAME=value ... node|bun [options] <bundle>` (WORKDIR mirrors the repository). */
function imageCommand(dockerfile: string): { program: Program; env: string[]; args: string[] } {
  const image = readImage(dockerfile);
  const program = programOf(image);
  const entry = entryOf(image);
  if (!program || !entry)
    throw new Error(`${dockerfile}: its command ${JSON.stringify(image.command)} is not node|bun [options] <script>`);
  if (bundleOf(entry)?.program !== program)
    throw new Error(`${dockerfile}: ${program} runs ${entry}, not the bundle a build script makes for ${program}`);
  const env = Object.entries(image.env).map(([name, value]) => `${name}=${value}`);
  return { program, env, args: [...runtimeOptionsOf(image), entry] };
}

/** Builds the image's bundle and makes its cgroup; throws with the reason when this machine cannot. */
export async function prepareDeployed(image: DeployedImage): Promise<Deployed> {
  const { program, env, args } = imageCommand(image.dockerfile);
  const runtime = RUNTIMES[program];
  const binary = runtime.binary();
  const bundle = await runtime.build();
  // The image's compile cache stands for one made here for this bundle (the header says why).
  const cache = env.some((word) => word.startsWith('NODE_COMPILE_CACHE=')) ? compileCacheFor(binary) : undefined;
  const runEnv = env.map((word) =>
    cache && word.startsWith('NODE_COMPILE_CACHE=') ? `NODE_COMPILE_CACHE=${cache}` : word,
  );
  const limitBytes = manifestMemoryLimit(image.kustomization);
  const cgroup = makeCgroup(`sidecar-bench-${process.pid}-${image.row}`, limitBytes);
  const read = (file: string): number | null => {
    try {
      return Number(readFileSync(join(cgroup, file), 'utf8').trim());
    } catch {
      return null;
    }
  };
  return {
    image,
    // env(1) sets the image's ENV and execs the runtime: the same pid throughout.
    argv: [
      '/bin/sh',
      '-c',
      'echo $$ > "$0" && exec "$@"',
      join(cgroup, 'cgroup.procs'),
      '/usr/bin/env',
      ...runEnv,
      binary,
      ...args,
    ],
    imageCommand: [...env, program, ...args],
    limitBytes,
    cgroup,
    bundleBytes: bundle.bytes,
    cgroupPeakBytes: () => read('memory.max_usage_in_bytes'),
    resetPeak: () => {
      try {
        writeFileSync(join(cgroup, 'memory.max_usage_in_bytes'), '0');
      } catch {
        // Only a figure in the report depends on it.
      }
    },
    remove: () => {
      if (cache) rmSync(dirname(cache), { recursive: true, force: true });
      try {
        rmdirSync(cgroup);
      } catch {
        // Still has a process (killed just now): the kernel lets it go a moment later.
      }
    },
  };
}

/** The compile cache of the bundle just built, made as the image's build stage makes it (by this user). */
function compileCacheFor(node: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'sidecar-bench-compile-cache-')), 'cache');
  // Its stderr is kept: a failure's message then carries the script's own reason.
  execFileSync(node, [join(repoRoot, 'scripts/compile-cache.ts'), dir], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return dir;
}

/** A child of the benchmark's own memory cgroup, limited to limitBytes. */
function makeCgroup(name: string, limitBytes: number): string {
  const own = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
  if (own === undefined || !existsSync(join(MEMORY_ROOT, own)))
    throw new Error('no cgroup v1 memory controller at /sys/fs/cgroup/memory');
  const cgroup = join(MEMORY_ROOT, own, name);
  try {
    mkdirSync(cgroup);
    writeFileSync(join(cgroup, 'memory.limit_in_bytes'), String(limitBytes));
  } catch (error) {
    throw new Error(`cannot make a memory cgroup at ${cgroup} (needs root): ${(error as Error).message}`);
  }
  return cgroup;
}
