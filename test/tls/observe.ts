/**
 * Watching a sidecar under test: bounded polling, its metrics, its own stderr lines.
 */
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import type { Sidecar } from '../support/sidecar.ts';

/** Polls until `probe` gives a value `done` accepts; bounded (SPEC's 10 s, plus room for a loaded machine). */
export async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch((error: unknown) => error as T);
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${String(value instanceof Error ? value.message : JSON.stringify(value))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function metric(sidecar: Sidecar, name: string): Promise<number | undefined> {
  const response = await fetch(`${sidecar.adminUrl}/metrics`);
  return sampleValue(parsePrometheusText(await response.text()), name);
}

/** The sidecar's stderr lines (`deno task --quiet` adds none of its own). */
export const ownLines = (stderr: string) => stderr.split('\n').filter((line) => line !== '');

