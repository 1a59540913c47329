/**
 * Watching a sidecar under test: bounded polling, its metrics, its own stderr lines.
 */
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import type { Sidecar } from '../support/sidecar.ts';
import { eventually as poll } from '../support/wait.ts';

/**
 * Polls, bounded (the 10 s of docs/behaviour.md#tls-termination, plus room for a loaded machine); a
 * refused connection mid-swap is a miss, not a failure.
 */
export const eventually = <T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<T> => poll(probe, done, what, timeoutMs, { everyMs: 100, tolerateErrors: true });

export async function metric(sidecar: Sidecar, name: string): Promise<number | undefined> {
  const response = await fetch(`${sidecar.adminUrl}/metrics`);
  return sampleValue(parsePrometheusText(await response.text()), name);
}

/** The sidecar's stderr lines (`deno task --quiet` adds none of its own). */
export const ownLines = (stderr: string) => stderr.split('\n').filter((line) => line !== '');
