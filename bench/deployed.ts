// The `deployed` row: the sidecar started exactly as its image starts it (the bundle
// scripts/build.ts builds, with the V8 flags of deploy/sidecar.Dockerfile's CMD, read from that
// file), inside a memory cgroup limited to the sidecar container's memory limit in the rendered
// manifests (deploy/k8s). Node sizes its heap from that limit (libuv reads the cgroup), as in the
// pod. The CPU limit is not applied: the row measures memory as deployed, and req/s next to the
// unconstrained rows (bench/README.md).
//
// The cgroup is a child of the benchmark's own memory cgroup (v1, /sys/fs/cgroup/memory), so
// whatever limits the machine puts on the benchmark still hold; it needs root.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSidecar } from '../scripts/build.ts';
import { renderKustomization } from '../test/deploy/kustomize.ts';
import { podOf, projectFacts } from '../test/deploy/pod.ts';
import { entryOf, nodeOptionsOf, readImage, repoRoot } from '../test/deploy/project.ts';

const MEMORY_ROOT = '/sys/fs/cgroup/memory';

export interface Deployed {
  /** The command to spawn: a shell that moves itself into the cgroup, then execs Node (same pid). */
  argv: string[];
  /** `[NAME=value ...] node [flags] dist/sidecar.mjs`, as the image's ENV, ENTRYPOINT and CMD say. */
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

/** The sidecar container's memory limit in the rendered deploy/k8s. */
function manifestMemoryLimit(): number {
  const pod = podOf(renderKustomization(join(repoRoot, 'deploy/k8s')), projectFacts());
  const limit = pod.sidecar.resources?.limits?.memory;
  if (limit === undefined) throw new Error('deploy/k8s: the sidecar container has no memory limit');
  return memoryBytes(String(limit));
}

/** The image's environment and command: `NAME=value ... node [flags] dist/sidecar.mjs` (WORKDIR mirrors the repository). */
function imageCommand(): string[] {
  const image = readImage('deploy/sidecar.Dockerfile');
  const entry = entryOf(image);
  if (!entry)
    throw new Error(
      `deploy/sidecar.Dockerfile: its command ${JSON.stringify(image.command)} is not node [flags] <script>`,
    );
  return [
    ...Object.entries(image.env).map(([name, value]) => `${name}=${value}`),
    'node',
    ...nodeOptionsOf(image),
    entry,
  ];
}

/** Builds the bundle and makes the cgroup; throws with the reason when this machine cannot. */
export async function prepareDeployed(): Promise<Deployed> {
  const bundle = await buildSidecar();
  const limitBytes = manifestMemoryLimit();
  const own = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
  if (own === undefined || !existsSync(join(MEMORY_ROOT, own)))
    throw new Error('no cgroup v1 memory controller at /sys/fs/cgroup/memory');
  const cgroup = join(MEMORY_ROOT, own, `sidecar-bench-${process.pid}`);
  try {
    mkdirSync(cgroup);
    writeFileSync(join(cgroup, 'memory.limit_in_bytes'), String(limitBytes));
  } catch (error) {
    throw new Error(`cannot make a memory cgroup at ${cgroup} (needs root): ${(error as Error).message}`);
  }
  const command = imageCommand();
  const read = (file: string): number | null => {
    try {
      return Number(readFileSync(join(cgroup, file), 'utf8').trim());
    } catch {
      return null;
    }
  };
  return {
    // env(1) sets the image's ENV and execs Node: the same pid throughout.
    argv: [
      '/bin/sh',
      '-c',
      'echo $$ > "$0" && exec "$@"',
      join(cgroup, 'cgroup.procs'),
      '/usr/bin/env',
      ...command.map((word) => (word === 'node' ? process.execPath : word)),
    ],
    imageCommand: command,
    limitBytes,
    cgroup,
    bundleBytes: bundle.bytes,
    cgroupPeakBytes: () => read('memory.max_usage_in_bytes'),
    resetPeak: () => {
      try {
        writeFileSync(join(cgroup, 'memory.max_usage_in_bytes'), '0');
      } catch {
        // Only a figure in the JSON depends on it.
      }
    },
    remove: () => {
      try {
        rmdirSync(cgroup);
      } catch {
        // Still has a process (killed just now): the kernel lets it go a moment later.
      }
    },
  };
}
