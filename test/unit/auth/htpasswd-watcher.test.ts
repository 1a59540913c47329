import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HtpasswdStore } from '../../../src/auth/basic.ts';
import { HtpasswdWatcher } from '../../../src/auth/htpasswd-watcher.ts';
import type { WatchedFiles } from '../../../src/auth/htpasswd-watcher.ts';
import { authFiles } from '../../../runtimes/common/auth-files.ts';
import { withTimeout } from '../../support/wait.ts';

/** Real `htpasswd -B` entries (Debian apache2-utils), at cost 4 to keep the tests quick. */
function entry(user: string, password: string): string {
  return execFileSync('htpasswd', ['-nbBC', '4', user, password], { encoding: 'utf8' }).trim();
}

let alice: string;
let bob: string;
beforeAll(() => {
  alice = entry('alice', 'alice-password');
  bob = entry('bob', 'bob-password');
});

const watchers: HtpasswdWatcher[] = [];
const directories: string[] = [];
afterEach(() => {
  for (const watcher of watchers.splice(0)) watcher.close();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** A directory laid out as kubelet mounts a Secret: `htpasswd -> ..data/htpasswd`, `..data -> ..<timestamp>`. */
function mountedSecret(text: string) {
  const root = mkdtempSync(join(tmpdir(), 'htpasswd-watch-'));
  directories.push(root);
  let generation = 0;
  const publish = (contents: string) => {
    const version = `..v${++generation}`;
    mkdirSync(join(root, version));
    writeFileSync(join(root, version, 'htpasswd'), `${contents}\n`);
    // The atomic swap: a new link renamed over `..data` (kubernetes/kubernetes atomic_writer.go).
    symlinkSync(version, join(root, '..data_tmp'));
    renameSync(join(root, '..data_tmp'), join(root, '..data'));
  };
  publish(text);
  symlinkSync('..data/htpasswd', join(root, 'htpasswd'));
  return { path: join(root, 'htpasswd'), publish };
}

function start(path: string, initial: string, files: WatchedFiles = authFiles) {
  const store = new HtpasswdStore(initial);
  const lines: string[] = [];
  const listeners: (() => void)[] = [];
  const watcher = new HtpasswdWatcher({
    path,
    files,
    store,
    initial,
    // The poll is not what these tests exercise: checks are asked for, or come from the watch.
    pollMs: 3_600_000,
    say: (line) => {
      lines.push(line);
      for (const listener of listeners.splice(0)) listener();
    },
  });
  watchers.push(watcher);
  const nextLine = () =>
    withTimeout(new Promise<void>((resolve) => listeners.push(resolve)), 'a line from the watcher');
  return { store, watcher, lines, nextLine };
}

describe('AUTH_BASIC_FILE reload', () => {
  it("takes a new file published by a mounted Secret's ..data swap: a new user passes, a removed one no longer does", async () => {
    const secret = mountedSecret(alice);
    const { store, watcher, lines } = start(secret.path, alice);
    expect(await store.check('alice', 'alice-password')).toBe('alice');

    secret.publish(bob);
    await watcher.check();

    expect(await store.check('bob', 'bob-password')).toBe('bob');
    // The cached success for alice is forgotten with the reload.
    expect(await store.check('alice', 'alice-password')).toBeUndefined();
    expect(lines).toEqual(['sidecar: AUTH_BASIC_FILE reloaded: 1 user(s)']);
  });

  it('notices the swap through the directory watch, without being asked', async () => {
    const secret = mountedSecret(alice);
    const { store, lines, nextLine } = start(secret.path, alice);
    const reloaded = nextLine();
    secret.publish(`${alice}\n${bob}`);
    await reloaded;
    expect(lines).toEqual(['sidecar: AUTH_BASIC_FILE reloaded: 2 user(s)']);
    expect(await store.check('bob', 'bob-password')).toBe('bob');
  });

  it('keeps the users in use when the new file is bad, and says so once in one line without the hash', async () => {
    const secret = mountedSecret(alice);
    const { store, watcher, lines } = start(secret.path, alice);
    const bad = 'carol:{SHA}lcsL/Sl3x2EpjZYk5LTUxyo5l0o=';
    secret.publish(bad);
    await watcher.check();
    await watcher.check();

    expect(await store.check('alice', 'alice-password')).toBe('alice');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^sidecar: AUTH_BASIC_FILE reload failed, keeping the 1 user\(s\) in use: line 1: /);
    expect(lines[0]).not.toContain('lcsL');
    expect(watcher.reloadErrors).toBe(1);

    // A good file afterwards is taken.
    secret.publish(bob);
    await watcher.check();
    expect(await store.check('bob', 'bob-password')).toBe('bob');
  });

  it('keeps the users in use while the file cannot be read, reporting it once', async () => {
    const secret = mountedSecret(alice);
    const { store, watcher, lines } = start(secret.path, alice);
    rmSync(secret.path);
    await watcher.check();
    await watcher.check();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^sidecar: AUTH_BASIC_FILE reload failed, keeping the 1 user\(s\) in use: cannot read /);
    expect(await store.check('alice', 'alice-password')).toBe('alice');
  });

  it('does not count an unchanged file (trailing newline and all) as a reload', async () => {
    const secret = mountedSecret(alice);
    const { watcher, lines } = start(secret.path, alice);
    secret.publish(alice);
    await watcher.check();
    expect(lines).toEqual([]);
  });

  it('falls back to the poll, saying so, when the directory cannot be watched', () => {
    const files: WatchedFiles = {
      read: () => Promise.resolve(alice),
      watch: () => {
        throw new Error('ENOSPC: inotify watches exhausted');
      },
    };
    const { lines } = start('/run/secrets/htpasswd', alice, files);
    expect(lines).toEqual([
      'sidecar: cannot watch /run/secrets (ENOSPC: inotify watches exhausted); checking AUTH_BASIC_FILE every 3600 s only',
    ]);
  });
});
