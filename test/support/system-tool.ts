/**
 * The system tools some tests need (Prometheus and promtool, Chromium, openssl, htpasswd, nginx, and the
 * pod test's podman), from Debian. A test that needs one calls `requireTool` (or `requireTools`)
 * in its beforeAll, with INSTALL_TIMEOUT_MS as the hook's timeout. On a fresh machine, as root, the
 * tool's package is installed with apt-get and one stderr line says so; not root, or when apt-get
 * fails, the test fails with one line naming the package and the command to run. Never a skip.
 *
 * Test files run in parallel processes, and two apt-gets at once fail on dpkg's lock, so installs
 * are serialised by a lock directory in the temporary folder (mkdir is atomic), shared by every
 * test process on the machine; whoever gets the lock looks again first, since the tool may have
 * been installed while it waited. Installing in each suite rather than in a global setup means a
 * run of one test file installs only what that file needs.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface SystemTool {
  /** The command the tests run, looked up on PATH. */
  command: string;
  /** The Debian package that provides it. */
  package: string;
}

/** Every system tool a test needs; the README names their packages under the test command. */
export const systemTools = {
  prometheus: { command: 'prometheus', package: 'prometheus' },
  promtool: { command: 'promtool', package: 'prometheus' },
  chromium: { command: 'chromium', package: 'chromium' },
  openssl: { command: 'openssl', package: 'openssl' },
  htpasswd: { command: 'htpasswd', package: 'apache2-utils' },
  nginx: { command: 'nginx', package: 'nginx' },
} as const satisfies Record<string, SystemTool>;

/** Long enough for apt-get update and Chromium's download on a slow mirror, and for a wait behind it. */
export const INSTALL_TIMEOUT_MS = 15 * 60_000;

/** What requireTool uses of the machine; tests hand in their own. */
export interface Host {
  /** The directories searched for a command, in order (PATH). */
  path: string[];
  isRoot: boolean;
  /** Installs Debian packages; rejects with apt-get's message. */
  aptInstall(packages: string[]): Promise<void>;
  /** Writes one line for the person running the tests. */
  say(line: string): void;
  /** The lock directory that serialises installs across test processes. */
  lockDir: string;
  /** How often a process waiting for the lock looks again. */
  pollMs: number;
}

/** One line: what is missing, why it was not installed, and the command that installs it. */
export class MissingToolError extends Error {
  override name = 'MissingToolError';
  constructor(tools: readonly SystemTool[], why: string) {
    const packages = [...new Set(tools.map((tool) => tool.package))];
    super(
      `${names(tools)} not installed and ${why}: run \`apt-get install ${packages.join(' ')}\` (Debian's ${packages.join(', ')}) as root, then the tests again`,
    );
  }
}

/** The absolute path of `command` on the host's PATH, if it is there and executable. */
export function findCommand(command: string, path: string[]): string | undefined {
  for (const dir of path) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Resolves to the tool's absolute path, installing its package first when it is missing (as root). */
export async function requireTool(tool: SystemTool, host: Host = thisHost()): Promise<string> {
  const [path = ''] = await requireTools([tool], host);
  return path;
}

/**
 * Resolves to the tools' absolute paths, in order, installing the packages of those missing first,
 * in one apt-get (as root).
 */
export async function requireTools(tools: readonly SystemTool[], host: Host = thisHost()): Promise<string[]> {
  const lookUp = () => tools.map((tool) => findCommand(tool.command, host.path));
  const missingNow = () => tools.filter((_, i) => lookUp()[i] === undefined);
  if (missingNow().length === 0) return lookUp() as string[];
  if (!host.isRoot) throw new MissingToolError(missingNow(), 'the tests are not running as root');
  return withInstallLock(host, async () => {
    const missing = missingNow();
    if (missing.length === 0) return lookUp() as string[];
    const packages = [...new Set(missing.map((tool) => tool.package))];
    host.say(
      `test setup: ${names(missing)} missing; installing Debian's ${packages.join(', ')} with apt-get (as root)`,
    );
    try {
      await host.aptInstall(packages);
    } catch (error) {
      throw new MissingToolError(missing, `apt-get failed (${aptReason(error)})`);
    }
    const still = missingNow();
    if (still.length > 0)
      throw new MissingToolError(still, `apt-get installed ${packages.join(', ')} without it on PATH`);
    return lookUp() as string[];
  });
}

const names = (tools: readonly SystemTool[]) =>
  `${tools.map((tool) => tool.command).join(', ')} ${tools.length === 1 ? 'is' : 'are'}`;

/**
 * Runs `work` holding the install lock. A lock whose owner process is gone (killed mid-install) is
 * taken over; one whose owner lives is waited for, up to INSTALL_TIMEOUT_MS, saying so once.
 */
export async function withInstallLock<T>(host: Host, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  let said = false;
  for (;;) {
    try {
      await mkdir(host.lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await abandoned(host.lockDir)) {
      // Renamed before removal, so that of two processes that saw the same dead owner one removes it.
      const stale = `${host.lockDir}.stale-${process.pid}-${Date.now()}`;
      await rename(host.lockDir, stale).then(
        () => rm(stale, { recursive: true, force: true }),
        () => undefined,
      );
      continue;
    }
    if (Date.now() > deadline) throw new Error(`test setup: another test process held ${host.lockDir} too long`);
    if (!said) host.say(`test setup: waiting for another test process's apt-get (${host.lockDir})`);
    said = true;
    await new Promise((resolve) => setTimeout(resolve, host.pollMs));
  }
  try {
    await writeFile(join(host.lockDir, 'pid'), String(process.pid));
    return await work();
  } finally {
    await rm(host.lockDir, { recursive: true, force: true });
  }
}

/**
 * Whether the lock's owner is gone: its process has exited, or it never wrote its pid (it died
 * between mkdir and writeFile) and the lock is older than any such gap.
 */
async function abandoned(lockDir: string): Promise<boolean> {
  const owner = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => '0'));
  if (owner > 0) {
    try {
      process.kill(owner, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  const since = await stat(lockDir).then(
    (s) => Date.now() - s.mtimeMs,
    () => 0,
  );
  return since > 10_000;
}

/** apt-get's own error line (`E: ...`) when it gave one, else the first line of its message. */
function aptReason(error: unknown): string {
  const lines = (error instanceof Error ? error.message : String(error)).split('\n');
  return (lines.find((line) => line.startsWith('E: ')) ?? lines[0] ?? '').trim();
}

/** This machine: PATH, root or not, Debian's apt-get, stderr. */
export function thisHost(): Host {
  return {
    path: (process.env.PATH ?? '').split(delimiter),
    isRoot: process.getuid?.() === 0,
    aptInstall,
    say: (line) => process.stderr.write(`${line}\n`),
    lockDir: join(tmpdir(), 'sidecar-tests-apt.lock'),
    pollMs: 500,
  };
}

const apt = (args: string[]) =>
  new Promise<void>((resolve, reject) => {
    execFile(
      'apt-get',
      // Wait for dpkg's own lock too, should anything else on the machine be installing.
      ['-o', 'DPkg::Lock::Timeout=300', ...args],
      { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: INSTALL_TIMEOUT_MS / 2 },
      (error, _stdout, stderr) => {
        if (error) reject(new Error(`apt-get ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolve();
      },
    );
  });

async function aptInstall(packages: string[]): Promise<void> {
  await apt(['update', '-qq']);
  await apt(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
}
