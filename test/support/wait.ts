/**
 * The only ways the conformance suite waits: for an event-driven condition, or for a promise, each
 * bounded so that a missing behaviour fails with a message instead of hanging. Never a sleep.
 */
import type { EventEmitter } from 'node:events';

export const DEFAULT_WAIT_MS = 10_000;

/** Resolves with `check()`'s first defined value, re-checked on every 'change' event of `events`. */
export function waitUntil<T>(
  events: EventEmitter,
  check: () => T | undefined,
  what: string,
  timeoutMs = DEFAULT_WAIT_MS,
  describe: () => string = () => '',
): Promise<T> {
  const now = check();
  if (now !== undefined) return Promise.resolve(now);
  return new Promise<T>((resolve, reject) => {
    const onChange = () => {
      const value = check();
      if (value === undefined) return;
      clearTimeout(timer);
      events.off('change', onChange);
      resolve(value);
    };
    const timer = setTimeout(() => {
      events.off('change', onChange);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}. ${describe()}`));
    }, timeoutMs);
    events.on('change', onChange);
  });
}

export function withTimeout<T>(promise: Promise<T>, what: string, ms = DEFAULT_WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `probe` until `done` accepts its value, bounded: for state that changes with no event to
 * wait on (a scraped metric, a certificate a watcher picks up). `tolerateErrors` counts a probe
 * that throws (a connection refused while a listener swaps) as a value `done` rejects.
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs = DEFAULT_WAIT_MS,
  options: { everyMs?: number; tolerateErrors?: boolean } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = options.tolerateErrors ? await probe().catch((error: unknown) => error as T) : await probe();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}; last: ${value instanceof Error ? value.message : JSON.stringify(value)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 50));
  }
}
