/**
 * The Bun image's build (deploy/bun.Dockerfile runs it in its build stage): Bun's own binary, from
 * the npm package `bun` as package-lock.json pins it, copied to dist/bun; and runtimes/bun.ts with
 * everything it imports, packages included, bundled by that Bun (`bun build --target=bun`) into one
 * ES module, dist/sidecar-bun.mjs, with the bundled packages' licences appended (scripts/build.ts).
 *
 *   node scripts/build-bun.ts
 *
 * Installed with `npm ci --ignore-scripts`, the package `bun` holds only a placeholder: its
 * postinstall would have copied the binary out of the one platform package npm installed among its
 * optionalDependencies (@oven/bun-linux-x64 here, @oven/bun-linux-aarch64 on arm64). This script
 * takes the binary from that package itself, so the Dockerfile names no architecture.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { licenceComment, packageName, packagesOf, writeWhole } from './build.ts';

const root = resolve(import.meta.dirname, '..');

/** What is bundled, where it goes, and where the binary goes (relative to the repository root). */
export const bunBundleSource = 'runtimes/bun.ts';
export const bunBundleFile = 'dist/sidecar-bun.mjs';
export const bunBinaryFile = 'dist/bun';
export const bunNoticeFile = 'dist/bun.NOTICE';

/**
 * The npm package `bun` ships the binary with no licence text (its package.json says MIT), and the
 * binary holds none: the image carries this notice beside it, naming the release and pointing to
 * Bun's own LICENSE.md for that release (MIT; JavaScriptCore and WebKit statically linked under
 * LGPL-2, with how to relink; the other linked libraries' licences).
 */
export function bunNotice(version: string): string {
  return [
    `Bun ${version} (https://bun.com), the binary of the npm package bun@${version}, unmodified.`,
    'Bun is MIT-licensed. It statically links JavaScriptCore and WebKit, licensed under the LGPL-2,',
    'and other libraries under their own licences. The full notice, the list of those libraries and',
    "how to relink Bun with a modified WebKit (the LGPL's offer) are in Bun's LICENSE.md for this",
    `release: https://github.com/oven-sh/bun/blob/bun-v${version}/LICENSE.md`,
    '',
  ].join('\n');
}

/**
 * The Bun binary in a node_modules folder: that of the one platform package of `bun` that npm
 * installed there (in bin/bun; where the postinstall ran, as in development, it moved the binary
 * to bun/bin/bun.exe), checked to be the release the lockfile pins.
 */
export function bunBinaryIn(nodeModules: string): string {
  const { version, optionalDependencies = {} } = JSON.parse(
    readFileSync(join(nodeModules, 'bun/package.json'), 'utf8'),
  ) as { version: string; optionalDependencies?: Record<string, string> };
  const installed = Object.keys(optionalDependencies).filter((name) =>
    existsSync(join(nodeModules, name, 'package.json')),
  );
  if (installed.length !== 1)
    throw new Error(
      `bun@${version}: expected one platform package in ${nodeModules}, found ${installed.join(', ') || 'none'} (npm installs the one matching this os, cpu and libc)`,
    );
  const own = join(nodeModules, installed[0] as string, 'bin/bun');
  const binary = existsSync(own) ? own : join(nodeModules, 'bun/bin/bun.exe');
  const reported = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 30_000 }).trim();
  if (reported !== version) throw new Error(`${binary} is Bun ${reported}, not the ${version} of package-lock.json`);
  return binary;
}

export function buildBunSidecar(): { binary: string; bundle: string; bytes: number; packages: string[] } {
  const binary = join(root, bunBinaryFile);
  const installed = bunBinaryIn(join(root, 'node_modules'));
  writeWhole(binary, readFileSync(installed), 0o755);
  // bunBinaryIn checked that the binary reports the package's version.
  const { version } = JSON.parse(readFileSync(join(root, 'node_modules/bun/package.json'), 'utf8')) as {
    version: string;
  };
  writeWhole(join(root, bunNoticeFile), bunNotice(version), 0o644);
  const bundle = join(root, bunBundleFile);
  const built = `${bundle}.${process.pid}.bun`;
  const metafile = `${built}.json`;
  try {
    // Whitespace and syntax only, as the Node bundle: identifiers keep their names, so stack traces
    // in the sidecar's "internal error" messages stay readable. `--target=bun` marks the file
    // `// @bun`: Bun runs it without transpiling it again.
    execFileSync(
      binary,
      [
        'build',
        bunBundleSource,
        '--target=bun',
        '--format=esm',
        '--minify-whitespace',
        '--minify-syntax',
        `--outfile=${built}`,
        `--metafile=${metafile}`,
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 },
    );
    const { inputs } = JSON.parse(readFileSync(metafile, 'utf8')) as { inputs: Record<string, unknown> };
    const packages = packagesOf(Object.keys(inputs).map((input) => resolve(root, input)));
    writeWhole(bundle, readFileSync(built, 'utf8') + licenceComment(packages));
    return { binary, bundle, bytes: statSync(bundle).size, packages: packages.map(packageName) };
  } finally {
    rmSync(built, { force: true });
    rmSync(metafile, { force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { binary, bundle, bytes, packages } = buildBunSidecar();
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 30_000 }).trim();
  process.stderr.write(
    `build: ${relative(process.cwd(), binary)} (bun ${version}), ${relative(process.cwd(), bundle)} (${(bytes / 1024).toFixed(0)} KiB; ${packages.join(', ')})\n`,
  );
}
