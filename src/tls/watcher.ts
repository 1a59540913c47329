/**
 * Keeps the serving certificate pair current (docs/behaviour.md, TLS termination: rotation without
 * a restart). The runtime applies each good new pair to its listener (Node's setSecureContext,
 * Bun's and Deno's listener swap).
 *
 * Kubernetes updates a mounted Secret by swapping the `..data` symlink in its directory; an
 * inotify watch on the file itself sees only IN_DELETE_SELF and then nothing
 * (kubernetes/kubernetes#111947), so the directory is watched, as Envoy does
 * (envoyproxy/envoy#10979), and the contents are also compared on a timer, which catches what no
 * watch reports (network filesystems, a watch the runtime dropped).
 */
import { describe, describePairError, loadPair, oneLine, pairOrExit, warnIfExpired } from './certificate.ts';
import type { CertificatePair, LoadedPair, TlsFilePaths, TlsFiles } from './certificate.ts';

export interface WatchOptions {
  paths: TlsFilePaths;
  files: TlsFiles;
  /** The pair serving now (from loadPair at start-up). */
  initial: LoadedPair;
  /** Puts a new pair into service; a rejection keeps the old one (and counts as a failed reload). */
  apply(pair: LoadedPair): Promise<void> | void;
  say(message: string): void;
  now?: () => number;
  /** How often the files' contents are compared, whatever the watch reports. */
  pollMs?: number;
}

/**
 * Within the promised 10 s (docs/behaviour.md, TLS termination) even when no watch event comes, at
 * the cost of reading two small files.
 */
export const POLL_MS = 2_000;
/** Events come in bursts (kubelet's swap is several renames): one check after the burst. */
const SETTLE_MS = 50;

/**
 * Keeps the serving pair current. A change is checked once the burst of events settles and on
 * every poll; a pair identical to the one serving, or to one that already failed, is not looked
 * at again, so a failing pair writes its stderr line once, not once per check.
 */
export class CertificateWatcher {
  #current: LoadedPair;
  /** The contents last looked at, loaded or not. */
  #seen: string;
  #reloadErrors = 0;
  #checking: Promise<void> | undefined;
  #again = false;
  #settle: ReturnType<typeof setTimeout> | undefined;
  readonly #poll: ReturnType<typeof setInterval>;
  readonly #watches: { close(): void }[] = [];
  readonly #options: WatchOptions;

  constructor(options: WatchOptions) {
    this.#options = options;
    this.#current = options.initial;
    this.#seen = contentsKey(options.initial);
    for (const directory of new Set([dirname(options.paths.TLS_CERT_FILE), dirname(options.paths.TLS_KEY_FILE)])) {
      try {
        this.#watches.push(options.files.watch(directory, () => this.#changed()));
      } catch (error) {
        // The poll still finds the change; say why it will be slower.
        options.say(
          `sidecar: cannot watch ${directory} (${oneLine(error)}); checking the certificate files every ${(options.pollMs ?? POLL_MS) / 1000} s only`,
        );
      }
    }
    this.#poll = setInterval(() => void this.check(), options.pollMs ?? POLL_MS);
  }

  get current(): LoadedPair {
    return this.#current;
  }

  get reloadErrors(): number {
    return this.#reloadErrors;
  }

  /** Looks at the files now; resolves when this look (and one asked for meanwhile) is done. */
  check(): Promise<void> {
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      do {
        this.#again = false;
        await this.#checkOnce();
      } while (this.#again);
    })().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  close(): void {
    clearInterval(this.#poll);
    clearTimeout(this.#settle);
    for (const watch of this.#watches) watch.close();
  }

  #changed(): void {
    clearTimeout(this.#settle);
    this.#settle = setTimeout(() => void this.check(), SETTLE_MS);
  }

  async #checkOnce(): Promise<void> {
    const { paths, files, say } = this.#options;
    let pair: LoadedPair;
    let key: string;
    try {
      pair = await loadPair(paths, files);
      key = contentsKey(pair);
    } catch (error) {
      // Unreadable (a file removed, say): remembered by its message, so it is reported once.
      key = `unreadable ${describePairError(error)}`;
      if (key === this.#seen) return;
      this.#seen = key;
      return this.#failed(error);
    }
    if (key === this.#seen) return;
    this.#seen = key;
    if (key === contentsKey(this.#current)) return;
    try {
      await this.#options.apply(pair);
    } catch (error) {
      return this.#failed(error);
    }
    this.#current = pair;
    say(`sidecar: TLS certificate reloaded: ${describe(pair.facts)}`);
    warnIfExpired(pair.facts, say, this.#options.now?.() ?? Date.now());
  }

  #failed(error: unknown): void {
    this.#reloadErrors++;
    this.#options.say(
      `sidecar: TLS certificate reload failed, still serving ${describe(this.#current.facts)}: ${describePairError(error)}`,
    );
  }
}

function contentsKey(pair: CertificatePair): string {
  return `${pair.cert}\u0000${pair.key}`;
}

function dirname(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '.' : slash === 0 ? '/' : path.slice(0, slash);
}

/**
 * What every runtime calls at start-up: undefined without TLS_CERT_FILE/TLS_KEY_FILE; else the
 * pair loaded (or exit 1) and its watcher, which hands each good new pair to `apply`.
 */
export async function startCertificates(
  config: Partial<TlsFilePaths>,
  files: TlsFiles,
  process: { say(message: string): void; exit(code: number): void },
  apply: WatchOptions['apply'],
): Promise<CertificateWatcher | undefined> {
  const { TLS_CERT_FILE, TLS_KEY_FILE } = config;
  if (TLS_CERT_FILE === undefined || TLS_KEY_FILE === undefined) return undefined;
  const paths = { TLS_CERT_FILE, TLS_KEY_FILE };
  const initial = await pairOrExit(paths, files, process);
  return new CertificateWatcher({ paths, files, initial, apply, say: process.say });
}
