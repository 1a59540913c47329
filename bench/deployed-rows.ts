// The as-deployed rows of `npm run bench`: `deployed` (the Node image) and `deployed-bun` (the Bun
// image), each its image's bundle and command inside the memory limit of the manifests that deploy
// it (bench/deployed.ts prepares them). Here: their targets, their preparation when selected, the
// line under the main table for each, and their object in the JSON.
import { MiB, log } from './context.ts';
import type { Run } from './context.ts';
import { DEPLOYED_IMAGES, prepareDeployed } from './deployed.ts';
import type { Baseline, Row } from './summary.ts';
import type { Target, TargetDef } from './targets.ts';

const deployedRow = (name: string, label: string): TargetDef => ({
  name,
  kind: 'sidecar',
  label,
  needs: [],
  argv: (run) => {
    const deployed = run.deployed.get(name);
    if (!deployed) throw new Error(`the ${name} row was not prepared`);
    return deployed.argv;
  },
});

export const DEPLOYED_TARGETS: TargetDef[] = [
  deployedRow('deployed', 'sidecar as deployed (bundle, image flags, memory limit)'),
  deployedRow('deployed-bun', 'sidecar on Bun as deployed (Bun image: bundle, command, memory limit)'),
];

/** Builds the bundle and makes the cgroup of an as-deployed row that is to run; a row that cannot is failed with the reason. */
export async function prepareDeployedRow(run: Run, t: Target): Promise<void> {
  const image = DEPLOYED_IMAGES.find((i) => i.row === t.def.name);
  if (!image || t.status !== 'ok') return;
  try {
    const deployed = await prepareDeployed(image);
    run.deployed.set(image.row, deployed);
    log(
      `${image.row}: ${deployed.imageCommand.join(' ')} (${(deployed.bundleBytes / MiB).toFixed(1)} MiB bundle) in a ${(deployed.limitBytes / MiB).toFixed(0)} MiB memory cgroup`,
    );
  } catch (err) {
    t.status = 'failed';
    t.reason = (err as Error).message;
  }
}

/** Each as-deployed row's cgroup peak (bytes) since the rounds began, by row name. */
export function deployedCgroupPeaks(run: Run): Record<string, number | null> {
  return Object.fromEntries([...run.deployed].map(([row, deployed]) => [row, deployed.cgroupPeakBytes()]));
}

/**
 * The lines under the main table: each as-deployed row that ran, against the rows it stands
 * beside. `deployed`: the unconstrained `node` row and the ceiling; `deployed-bun`: the
 * unconstrained `bun` row and `deployed` (Node as deployed), the choice the bun overlay offers.
 */
export function deployedLines(
  run: Run,
  rows: Row[],
  baseline: Baseline,
  peaks: Record<string, number | null>,
): string[] {
  const ok = (name: string) => rows.find((r) => r.t.def.name === name && r.t.status === 'ok');
  const node = ok('deployed');
  const bun = ok('deployed-bun');
  const ceilingP99 = rows.find((r) => r.t.def.name === 'ceiling')?.p99Ms;
  const lines: string[] = [];
  const head = (name: string, whose: string) => {
    const d = run.deployed.get(name);
    return d
      ? `${name} = \`${d.imageCommand.join(' ')}\` in a ${fixed(d.limitBytes / MiB)} MiB memory cgroup (${whose})`
      : '';
  };
  const peak = (name: string) => `cgroup peak ${fixed((peaks[name] ?? NaN) / MiB, 1)} MiB (page cache included)`;
  const idle = (row: Row) =>
    `idle RSS ${fixed((row.t.idleRssKiB ?? NaN) / 1024, 1)} MiB, start ${fixed(row.startMs)} ms`;
  if (node && run.deployed.has('deployed'))
    lines.push(
      `${head('deployed', "the manifest's limit")}: ${times(node.rps, ok('node')?.rps)}× the unconstrained node row's req/s, ${times(node.rps, baseline.ceilingRps)}× the ceiling's; p99 ${fixed(node.p99Ms, 2)} ms (ceiling ${fixed(ceilingP99, 2)} ms); ${idle(node)}; ${peak('deployed')}.`,
    );
  if (bun && run.deployed.has('deployed-bun'))
    lines.push(
      `${head('deployed-bun', "the bun overlay's limit")}: ${times(bun.rps, ok('bun')?.rps)}× the unconstrained bun row's req/s, ${times(bun.rps, node?.rps)}× the deployed (Node) row's; p99 ${fixed(bun.p99Ms, 2)} ms (deployed ${fixed(node?.p99Ms, 2)} ms); ${idle(bun)}; ${peak('deployed-bun')}.`,
    );
  return lines;
}

/** The JSON's `deployed`: per as-deployed row prepared, its image, command, limit, bundle and cgroup peak. */
export function deployedJson(run: Run, peaks: Record<string, number | null>): object[] {
  return [...run.deployed].map(([row, d]) => ({
    row,
    dockerfile: d.image.dockerfile,
    kustomization: d.image.kustomization,
    command: d.imageCommand,
    memoryLimitBytes: d.limitBytes,
    bundleBytes: d.bundleBytes,
    cgroupPeakBytes: peaks[row] ?? null,
  }));
}

const fixed = (n: number | undefined, digits = 0): string =>
  n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);

const times = (n: number, d: number | undefined): string =>
  d !== undefined && Number.isFinite(n) && Number.isFinite(d) && d > 0 ? (n / d).toFixed(2) : '–';
