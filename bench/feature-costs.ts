// What each opt-in feature costs (issue 21): the rows that run a sidecar with one feature on, each
// against the same runtime's default row of the same run (interleaved rounds, minutes apart),
// beside the target the project set for it.
import type { Row } from './summary.ts';

/** Each feature row, the default row it is measured against, and the least share of that row's req/s it should keep. */
export const FEATURE_TARGETS: Record<string, { base: string; target: number }> = {
  'node-otlp': { base: 'node', target: 0.95 },
  'node-limits': { base: 'node', target: 0.97 },
  'node-jwt': { base: 'node', target: 0.93 },
  'node-session': { base: 'node', target: 0.93 },
  'bun-otlp': { base: 'bun', target: 0.95 },
  'deno-otlp': { base: 'deno', target: 0.95 },
};

export function featureCostTable(rows: Row[], table: (header: string[], body: string[][]) => string): string {
  const ok = (name: string | undefined) => rows.find((r) => r.t.def.name === name && r.t.status === 'ok');
  const features = rows.filter((r) => ok(FEATURE_TARGETS[r.t.def.name]?.base) && r.t.status === 'ok');
  if (features.length === 0) return '';
  const rss = (r: Row) => (r.t.peakRssKiB ?? NaN) / 1024;
  const signed = (n: number, digits: number) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(digits)}` : '–');
  return table(
    ['feature on', '× default req/s', 'target', 'p99 ms vs default', 'peak RSS MiB vs default'],
    features.map((r) => {
      const { base: baseName, target: goal } = FEATURE_TARGETS[r.t.def.name] ?? { base: '', target: NaN };
      const base = ok(baseName) as Row;
      const share = r.rps / base.rps;
      return [
        r.t.def.label,
        share.toFixed(2),
        `≥ ${goal.toFixed(2)}${share >= goal ? '' : ' (missed)'}`,
        signed(r.p99Ms - base.p99Ms, 2),
        signed(rss(r) - rss(base), 1),
      ];
    }),
  );
}
