/**
 * `npm run build`: the Node sidecar (runtimes/node.ts and everything it imports, packages
 * included) bundled by esbuild into one ES module, dist/sidecar.mjs. The image's build stage runs
 * it and the image ships that one file with no node_modules (deploy/sidecar.Dockerfile): Node then
 * strips no types and resolves no packages at start-up, which is where its start time and idle
 * memory went (issue 14; bench/README.md has the figures). Development runs the .ts sources.
 *
 *   node scripts/build.ts [--outfile PATH]
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What is bundled, and where it goes (relative to the repository root). */
export const bundleSource = 'runtimes/node.ts';
export const bundleFile = 'dist/sidecar.mjs';

/**
 * Bundles the sidecar; resolves with the output's path and size. The licences of the packages
 * bundled (all MIT, which asks for its notice to travel with every copy) are appended to the
 * file as a comment, so the one file in the image carries them.
 */
export async function buildSidecar(
  outfile = join(root, bundleFile),
): Promise<{ outfile: string; bytes: number; packages: string[] }> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [bundleSource],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // Whitespace and syntax only: identifiers keep their names, so stack traces in the sidecar's
    // "internal error" messages stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    metafile: true,
    // Written below, whole and renamed into place: a test or benchmark starting the previous
    // bundle meanwhile never reads half a file.
    write: false,
    // undici and @hono/node-server are CommonJS; their require() calls of Node's own modules
    // need a `require` in an ES module (esbuild's documented workaround, evanw/esbuild#1921).
    banner: {
      js: "import { createRequire as __sidecarCreateRequire } from 'node:module'; const require = __sidecarCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  const packages = packagesOf(Object.keys(result.metafile.inputs).map((input) => resolve(root, input)));
  const code = result.outputFiles.find((file) => file.path === outfile)?.text ?? '';
  writeWhole(outfile, code + licenceComment(packages));
  return { outfile, bytes: statSync(outfile).size, packages: packages.map(packageName) };
}

/** The folders of the packages (…/node_modules/<name> or …/@scope/<name>) that the bundled input files belong to. */
export function packagesOf(inputs: string[]): string[] {
  return [
    ...new Set(inputs.flatMap((file) => /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1] ?? [])),
  ].sort();
}

/** …/node_modules/@scope/name -> @scope/name */
export function packageName(dir: string): string {
  return dir.slice(dir.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/**
 * The licences of the bundled packages (all MIT, which asks for its notice to travel with every
 * copy), as one comment to append to the bundle, so the one file in the image carries them.
 */
export function licenceComment(packages: string[]): string {
  const notices = packages.map((dir) => {
    const { name, version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      license?: string;
    };
    const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license']
      .map((f) => join(dir, f))
      .find((f) => existsSync(f));
    const text = file ? readFileSync(file, 'utf8').trim() : `(${license ?? 'no licence file'})`;
    return `${name}@${version} (${license ?? '?'}):\n${text.replaceAll('*/', '* /')}`;
  });
  return `\n/*! Bundled packages and their licences:\n\n${notices.join('\n\n')}\n*/\n`;
}

/** Written whole and renamed into place: a test or benchmark starting the previous file meanwhile never reads half a file. */
export function writeWhole(file: string, content: string | Uint8Array, mode = 0o644): void {
  mkdirSync(dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, content, { mode });
  renameSync(partial, file);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const flag = process.argv.indexOf('--outfile');
  const outfile = flag === -1 ? undefined : resolve(process.argv[flag + 1] ?? '');
  const { outfile: written, bytes, packages } = await buildSidecar(outfile);
  process.stderr.write(
    `build: ${relative(process.cwd(), written)} (${(bytes / 1024).toFixed(0)} KiB; ${packages.join(', ')})\n`,
  );
}
