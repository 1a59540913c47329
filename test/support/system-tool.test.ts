/**
 * requireTool, without running apt-get: a host of the test's own (a temporary PATH directory, a
 * fake apt-get that writes the command there or fails, root or not, a private lock directory), so
 * every path a fresh machine can take is seen, and nothing is installed.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MissingToolError, requireTool, requireTools, systemTools, thisHost, withInstallLock } from './system-tool.ts';
import type { Host, SystemTool } from './system-tool.ts';

const missing: SystemTool = { command: 'sidecar-no-such-tool', package: 'sidecar-no-such-package' };

let dir: string;
let bin: string;
let said: string[];
let installs: string[][];

/** A host whose PATH is one empty directory; `apt` decides what an install does. */
function host(options: { isRoot: boolean; apt?: (packages: string[]) => Promise<void> }): Host {
  return {
    path: [bin],
    isRoot: options.isRoot,
    aptInstall: async (packages) => {
      installs.push(packages);
      await (options.apt ?? (() => Promise.reject(new Error('no apt-get in this test'))))(packages);
    },
    say: (line) => said.push(line),
    lockDir: join(dir, 'apt.lock'),
    pollMs: 5,
  };
}

/** What a successful install leaves: the commands, executable, on PATH. */
function provide(...commands: string[]) {
  return async () => {
    for (const command of commands) {
      writeFileSync(join(bin, command), '#!/bin/sh\n');
      chmodSync(join(bin, command), 0o755);
    }
  };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sidecar-system-tool-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
  said = [];
  installs = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('requireTool', () => {
  it('resolves to the command on PATH when it is there, installing and saying nothing', async () => {
    await provide('promtool')();
    expect(await requireTool(systemTools.promtool, host({ isRoot: true }))).toBe(join(bin, 'promtool'));
    expect({ installs, said }).toEqual({ installs: [], said: [] });
  });

  it('not root: fails with one line naming the command, the package and the apt-get command', async () => {
    const error = await requireTool(missing, host({ isRoot: false })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingToolError);
    const message = (error as Error).message;
    expect(message).toBe(
      "sidecar-no-such-tool is not installed and the tests are not running as root: run `apt-get install sidecar-no-such-package` (Debian's sidecar-no-such-package) as root, then the tests again",
    );
    expect(message).not.toContain('\n');
    expect({ installs, said }).toEqual({ installs: [], said: [] });
  });

  it('on this machine, looks a missing tool up on the real PATH and names its package', async () => {
    const error = await requireTool(missing, { ...thisHost(), isRoot: false }).catch((e: unknown) => e);
    expect((error as Error).message).toContain('`apt-get install sidecar-no-such-package`');
  });

  it('as root: installs the package, says so in one line, and resolves to the installed command', async () => {
    const path = await requireTool(systemTools.chromium, host({ isRoot: true, apt: provide('chromium') }));
    expect(path).toBe(join(bin, 'chromium'));
    expect(installs).toEqual([['chromium']]);
    expect(said).toEqual(["test setup: chromium is missing; installing Debian's chromium with apt-get (as root)"]);
  });

  it("as root, when apt-get fails: fails with one line naming the package and apt-get's reason, and frees the lock", async () => {
    const apt = () =>
      Promise.reject(new Error('apt-get install: W: a warning\nE: Unable to locate package sidecar-no-such-package'));
    const error = await requireTool(missing, host({ isRoot: true, apt })).catch((e: unknown) => e);
    const message = (error as Error).message;
    expect(message).toContain('apt-get failed (E: Unable to locate package sidecar-no-such-package)');
    expect(message).toContain('`apt-get install sidecar-no-such-package`');
    expect(message).not.toContain('\n');
    expect(said).toHaveLength(1);
    expect(existsSync(join(dir, 'apt.lock'))).toBe(false);
  });

  it('as root, when the package installs without the command: fails naming both', async () => {
    const error = await requireTool(missing, host({ isRoot: true, apt: provide('something-else') })).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toContain('apt-get installed sidecar-no-such-package without it on PATH');
  });

  it('installs every missing package in one apt-get, each once, and names them all when it cannot', async () => {
    const tools = [systemTools.prometheus, systemTools.promtool, systemTools.openssl];
    const refusal = await requireTools(tools, host({ isRoot: false })).catch((e: unknown) => e);
    expect((refusal as Error).message).toMatch(
      /^prometheus, promtool, openssl are not installed .*`apt-get install prometheus openssl`/,
    );
    await provide('openssl')();
    const paths = await requireTools(tools, host({ isRoot: true, apt: provide('prometheus', 'promtool') }));
    expect(paths).toEqual(['prometheus', 'promtool', 'openssl'].map((command) => join(bin, command)));
    expect(installs).toEqual([['prometheus']]);
  });

  it('runs one apt-get at a time: a second caller waits for the lock, then finds the tool installed', async () => {
    const apt = provide('prometheus', 'promtool');
    const both = host({ isRoot: true, apt });
    const [prometheus, promtool] = await Promise.all([
      requireTool(systemTools.prometheus, both),
      requireTool(systemTools.promtool, both),
    ]);
    expect([prometheus, promtool]).toEqual([join(bin, 'prometheus'), join(bin, 'promtool')]);
    expect(installs).toEqual([['prometheus']]);
    expect(said.filter((line) => line.startsWith('test setup: waiting'))).toHaveLength(1);
  });

  it('waits while a live process holds the lock, and installs nothing once that process installed the tool', async () => {
    const attempt = host({ isRoot: true, apt: provide('openssl') });
    let waiting!: () => void;
    const seenWaiting = new Promise<void>((resolve) => (waiting = resolve));
    const watched: Host = {
      ...attempt,
      say: (line) => {
        said.push(line);
        if (line.startsWith('test setup: waiting')) waiting();
      },
    };
    let result: Promise<string> | undefined;
    await withInstallLock(attempt, async () => {
      result = requireTool(systemTools.openssl, watched);
      await seenWaiting;
      expect(installs).toEqual([]);
      await provide('openssl')();
    });
    expect(await result).toBe(join(bin, 'openssl'));
    expect(installs).toEqual([]);
  });

  it('takes over a lock left by a process that is gone', async () => {
    mkdirSync(join(dir, 'apt.lock'));
    // Above any pid Linux hands out (pid_max is at most 2^22).
    writeFileSync(join(dir, 'apt.lock', 'pid'), String(2 ** 30));
    const path = await requireTool(systemTools.htpasswd, host({ isRoot: true, apt: provide('htpasswd') }));
    expect(path).toBe(join(bin, 'htpasswd'));
    expect(installs).toEqual([['apache2-utils']]);
    expect(existsSync(join(dir, 'apt.lock'))).toBe(false);
  });
});
