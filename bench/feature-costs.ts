// What each opt-in feature costs (issue 21): the rows that run the Node sidecar with one feature
// on, each against the default `node` row of the same run (interleaved rounds, minutes apart),
// beside the target the project set for it.
import type { Row } from './summary.ts';

/** Each feature row and the least share of the default's req/s it should keep. */
export const FEATURE_TARGETS: Record<string, number> = {
  'node-otlp': 0.95,
  'node-limits': 0.97,
  'node-jwt': 0.93,
  'node-session': 0.93,
};

export function featureCostTable(rows: Row[], table: (header: string[], body: string[][]) => string): string {
  const base = rows.find((r) => r.t.def.name === 'node' && r.t.status === 'ok');
  const features = rows.filter((r) => r.t.def.name in FEATURE_TARGETS && r.t.status === 'ok');
  if (!base || features.length === 0) return '';
  const rss = (r: Row) => (r.t.peakRssKiB ?? NaN) / 1024;
  const signed = (n: number, digits: number) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(digits)}` : '–');
  return table(
    ['feature on (Node)', '× default req/s', 'target', 'p99 ms vs default', 'peak RSS MiB vs default'],
    features.map((r) => {
      const share = r.rps / base.rps;
      const goal = FEATURE_TARGETS[r.t.def.name] ?? NaN;
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
