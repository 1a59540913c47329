/**
 * The stand-ins for the Dockerfiles' base images, made on the spot where there is no registry:
 * the node image's layout with that release's Node and npm from the npm registry, and Debian's
 * slim image as the libraries `ldd` lists (test/deploy/pod-test.ts).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { podman, run, work } from './podman-work.ts';
import { allBuilds, readImage } from './project.ts';

// ------------------------------------------------------------------ the stand-in base image

/**
 * The Dockerfiles' base images: one node image (e.g. docker.io/library/node:24.21.0-bookworm-slim,
 * its Node version) in every stage that runs node or npm, and the Bun image's Debian (e.g.
 * docker.io/library/debian:12.15-slim) under Bun.
 */
export function baseImages(): { node: { name: string; version: string }; debian: string[] } {
  const bases = new Set(allBuilds().flatMap((build) => readImage(build.dockerfile).stages.map((stage) => stage.from)));
  const debian = [...bases].filter((name) => /^docker\.io\/library\/debian:12\.\d+-slim$/.test(name));
  const nodes = [...bases].filter((name) => !debian.includes(name));
  assert.equal(nodes.length, 1, `one node base image in every Dockerfile, found ${nodes.join(', ')}`);
  const [name = ''] = nodes;
  const version = /^docker\.io\/library\/node:(\d+\.\d+\.\d+)-/.exec(name)?.[1];
  assert.ok(version, `${name} names an exact node release`);
  return { node: { name, version }, debian };
}

/** A folder laid out like the node image, where the Dockerfiles rely on it: /usr/local/{bin,lib/node_modules/npm}, /usr/bin/env, uid 1000. */
export async function standInRoot(version: string): Promise<string> {
  const packages = join(work, 'packages');
  mkdirSync(packages);
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  // Node's own binary for that release, and npm (which the node image bundles) from the npm registry.
  await run('npm', ['pack', '--silent', '--pack-destination', packages, `node-linux-${arch}@${version}`, 'npm@11'], {
    timeoutMs: 300_000,
  });
  const root = join(work, 'rootfs');
  const unpacked = join(work, 'unpacked');
  for (const dir of [
    unpacked,
    `${root}/usr/local/bin`,
    `${root}/usr/local/lib/node_modules/npm`,
    `${root}/usr/bin`,
    `${root}/etc`,
    `${root}/root`,
    `${root}/home/node`,
    `${root}/tmp`,
  ]) {
    mkdirSync(dir, { recursive: true });
  }
  const tarball = (prefix: string) =>
    join(packages, readdirSync(packages).find((file) => file.startsWith(prefix)) ?? `${prefix}-missing.tgz`);
  await run('tar', ['-xzf', tarball(`node-linux-${arch}-`), '-C', unpacked, 'package/bin/node']);
  await run('tar', ['-xzf', tarball('npm-'), '-C', `${root}/usr/local/lib/node_modules/npm`, '--strip-components=1']);
  copyFileSync(join(unpacked, 'package/bin/node'), `${root}/usr/local/bin/node`);
  chmodSync(`${root}/usr/local/bin/node`, 0o755);
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', `${root}/usr/local/bin/npm`);
  copyFileSync('/usr/bin/env', `${root}/usr/bin/env`);
  chmodSync(`${root}/usr/bin/env`, 0o755);
  furnish(root, await librariesOf([`${root}/usr/local/bin/node`, '/usr/bin/env']), {
    passwd: 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n',
    group: 'root:x:0:\nnode:x:1000:\n',
  });
  chownSync(`${root}/home/node`, 1000, 1000);
  return root;
}

/**
 * A folder standing in for Debian's slim image where the Bun image relies on it: the C library
 * (the files `ldd` lists for the Bun binary), /tmp, and Debian's passwd, which has no uid 1000.
 */
export function debianStandInRoot(libraries: string[]): string {
  const root = join(work, 'debian-rootfs');
  for (const dir of ['etc', 'root', 'tmp', 'usr/local/bin']) mkdirSync(join(root, dir), { recursive: true });
  furnish(root, libraries, {
    passwd: 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    group: 'root:x:0:\nnogroup:x:65534:\n',
  });
  return root;
}

/** What both stand-ins need in their folder: the host's copies of `libraries` at their paths, the accounts, a world-writable /tmp. */
function furnish(root: string, libraries: string[], accounts: { passwd: string; group: string }): void {
  for (const library of libraries) {
    mkdirSync(dirname(root + library), { recursive: true });
    copyFileSync(library, root + library);
  }
  writeFileSync(`${root}/etc/passwd`, accounts.passwd);
  writeFileSync(`${root}/etc/group`, accounts.group);
  chmodSync(`${root}/tmp`, 0o1777);
}

/** The shared libraries `ldd` lists for the given binaries (the loader included). */
export async function librariesOf(binaries: string[]): Promise<string[]> {
  const { stdout } = await run('ldd', binaries);
  return [...new Set(stdout.match(/\/\S+\.so(\.\d+)*/g) ?? [])];
}

/** Imports a folder as the image `name`, with the real image's PATH and CMD. */
export async function importRoot(root: string, name: string, cmd: string): Promise<void> {
  const tarball = join(work, `${root.split('/').at(-1)}.tar`);
  await run('tar', ['-C', root, '-cf', tarball, '.']);
  await podman(
    [
      'import',
      '--change',
      `CMD ${JSON.stringify([cmd])}`,
      '--change',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      tarball,
      name,
    ],
    120_000,
  );
}
