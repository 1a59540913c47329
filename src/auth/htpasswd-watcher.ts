/**
 * Keeps AUTH_BASIC_FILE's users current without a restart, the way src/tls/watcher.ts keeps the
 * certificate current: a mounted Secret is updated by swapping the `..data` symlink in its
 * directory, which a watch on the file itself never sees (kubernetes/kubernetes#111947), so the
 * directory is watched, and the contents are also compared on a timer, which catches what no watch
 * reports (network filesystems, a watch the runtime dropped).
 *
 * A good new file replaces the users whole (HtpasswdStore.replace, which also forgets the cached
 * checks, so a removed user stops passing). A bad one keeps the users in use and writes one line,
 * once per distinct contents, never a hash.
 */
import type { HtpasswdStore } from './basic.ts';

/** What the runtime provides (runtimes/common/auth-files.ts): files are runtime APIs. */
export interface WatchedFiles {
  /** The file's text; rejects when it cannot be read. */
  read(path: string): Promise<string>;
  /** Calls `onChange` (maybe spuriously) when something in `directory` changes; throws if it cannot watch. */
  watch(directory: string, onChange: () => void): { close(): void };
}

export interface HtpasswdWatchOptions {
  /** AUTH_BASIC_FILE. */
  path: string;
  files: WatchedFiles;
  store: Pick<HtpasswdStore, 'replace' | 'size'>;
  /** The contents the store was built from at start-up. */
  initial: string;
  say(message: string): void;
  /** How often the contents are compared, whatever the watch reports. */
  pollMs?: number;
}

/** As src/tls/watcher.ts: within seconds even when no watch event comes, for one small read. */
export const HTPASSWD_POLL_MS = 2_000;
/** kubelet's swap is several renames: one look after the burst. */
const SETTLE_MS = 50;

export class HtpasswdWatcher {
  /** The contents last looked at, taken or not: each is judged once. */
  #seen: string;
  #reloadErrors = 0;
  #checking: Promise<void> | undefined;
  #again = false;
  #settle: ReturnType<typeof setTimeout> | undefined;
  readonly #poll: ReturnType<typeof setInterval>;
  readonly #watch: { close(): void } | undefined;
  readonly #options: HtpasswdWatchOptions;

  constructor(options: HtpasswdWatchOptions) {
    this.#options = options;
    this.#seen = options.initial;
    const directory = dirname(options.path);
    const pollMs = options.pollMs ?? HTPASSWD_POLL_MS;
    try {
      this.#watch = options.files.watch(directory, () => this.#changed());
    } catch (error) {
      options.say(
        `sidecar: cannot watch ${directory} (${oneLine(error)}); checking AUTH_BASIC_FILE every ${pollMs / 1000} s only`,
      );
    }
    this.#poll = setInterval(() => void this.check(), pollMs);
  }

  /** Reloads that failed (a bad or unreadable file), for tests and the status page. */
  get reloadErrors(): number {
    return this.#reloadErrors;
  }

  /** Looks at the file now; resolves when this look (and one asked for meanwhile) is done. */
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
    this.#watch?.close();
  }

  #changed(): void {
    clearTimeout(this.#settle);
    this.#settle = setTimeout(() => void this.check(), SETTLE_MS);
  }

  async #checkOnce(): Promise<void> {
    const { path, files, store, say } = this.#options;
    let text: string;
    try {
      // Trailing whitespace dropped as at start-up (secrets.ts), so an unchanged file is not a change.
      text = (await files.read(path)).replace(/\s+$/, '');
    } catch (error) {
      // Mid-swap, or removed: reported once per distinct reason, the users in use stay.
      const key = `\u0000unreadable ${oneLine(error)}`;
      if (key === this.#seen) return;
      this.#seen = key;
      return this.#failed(`cannot read ${JSON.stringify(path)}: ${oneLine(error)}`);
    }
    if (text === this.#seen) return;
    this.#seen = text;
    try {
      store.replace(text);
    } catch (error) {
      return this.#failed(oneLine(error));
    }
    say(`sidecar: AUTH_BASIC_FILE reloaded: ${store.size} user(s)`);
  }

  #failed(why: string): void {
    this.#reloadErrors++;
    this.#options.say(
      `sidecar: AUTH_BASIC_FILE reload failed, keeping the ${this.#options.store.size} user(s) in use: ${why}`,
    );
  }
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n', 1)[0] ?? '';
}

function dirname(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '.' : slash === 0 ? '/' : path.slice(0, slash);
}
