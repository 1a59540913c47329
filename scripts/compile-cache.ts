/**
 * `node scripts/compile-cache.ts DIR [UID:GID]`: V8's compiled code for the bundle
 * (dist/sidecar.mjs), written to DIR as Node's compile cache
 * (https://nodejs.org/api/module.html#module-compile-cache), so that a sidecar started with
 * NODE_COMPILE_CACHE=DIR compiles none of it again: 20-30 ms of a ~270 ms start on this project's
 * VM (bench/README.md, "Start-up as deployed").
 *
 * The image's build stage runs it as root, naming the user the image runs as (deploy/sidecar.Dockerfile):
 * Node keys the cache by its version, the architecture, V8's flags, the user id and the bundle's
 * absolute path, so it is made by that user, for the bundle at the path the image runs it from.
 * It starts the bundle as the image would (plain HTTP, here on free loopback ports), so what a
 * start compiles is in the cache, writes the cache and exits. The files are left readable by all
 * and written by none but root: the sidecar only reads them (an entry it cannot use, it compiles
 * afresh, and Node writes nothing back when the cache was the same).
 */
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { constants, enableCompileCache, flushCompileCache } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleFile } from './build.ts';

const [dir, user] = process.argv.slice(2);
if (!dir || (user !== undefined && !/^\d+:\d+$/.test(user)))
  throw new Error('usage: node scripts/compile-cache.ts DIR [UID:GID]');
const cache = resolve(dir);
mkdirSync(cache, { recursive: true });
if (user !== undefined) {
  const [uid, gid] = user.split(':').map(Number) as [number, number];
  const { setgid, setuid } = process;
  if (!setgid || !setuid) throw new Error('UID:GID needs a POSIX system');
  chownSync(cache, uid, gid);
  setgid(gid);
  setuid(uid);
}
const { status, message } = enableCompileCache(cache);
if (status !== constants.compileCacheStatus.ENABLED)
  throw new Error(`compile cache not enabled in ${cache}: ${message ?? `status ${status}`}`);
Object.assign(process.env, { PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1' });
await import(pathToFileURL(resolve(import.meta.dirname, '..', bundleFile)).href);
flushCompileCache();
readOnly(cache);
process.stderr.write(`compile-cache: ${bundleFile} -> ${cache}\n`);
process.exit(0);

function readOnly(path: string): void {
  const directory = statSync(path).isDirectory();
  if (directory) for (const entry of readdirSync(path)) readOnly(join(path, entry));
  chmodSync(path, directory ? 0o555 : 0o444);
}
