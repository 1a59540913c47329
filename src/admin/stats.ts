/**
 * The status page's figures (GET /stats.json on the admin port): rates, error ratio and latency
 * quantiles computed from two snapshots of the one metrics registry, so the page and /metrics can
 * never disagree, and a ring of recent points for the page's chart.
 *
 * The history is kept here, server-side (a point every 5 s, the last 10 min: 120 small objects),
 * rather than accumulated by the browser: an operator who opens the page during an incident sees
 * the minutes before it, and every viewer sees the same chart.
 */
import { authMethods, authResults, durationBuckets } from '../metrics.ts';
import type { Metrics, MetricsSnapshot } from '../metrics.ts';

export interface StatsPoint {
  /** Unix time in milliseconds at the end of the window. */
  time: number;
  requestsPerSecond: number;
  /** 5xx responses over all responses in the window; 0 when there were none. */
  errorRatio: number;
  /** Estimated from the histogram as Prometheus' histogram_quantile does; null without requests. */
  p50Seconds: number | null;
  p99Seconds: number | null;
}

export interface Stats {
  version: string;
  runtime: string;
  startedAt: string;
  uptimeSeconds: number;
  /** The last minute (or since start, if younger). */
  current: StatsPoint & { windowSeconds: number };
  totals: {
    requests: number;
    byStatusClass: Record<string, number>;
    upstreamErrors: Record<string, number>;
    logLinesDropped: number;
    /** Refused at the door (sidecar_refusals_total), by reason. */
    refusals: MetricsSnapshot['refusals'];
  };
  activeRequests: number;
  tunnelsActive: number;
  ready: boolean;
  /** With access control on: its outcomes since start, and whether the JWT issuer's keys were ever fetched. */
  auth?: AuthStats;
  /** Oldest first, one point per interval. */
  history: StatsPoint[];
  config: Record<string, string>;
}

export interface AuthStats {
  /**
   * False while AUTH_JWT_ISSUER's keys were never fetched (bearer tokens get 503 meanwhile). Not part
   * of /readyz: an IdP outage would otherwise take every replica out of the Service at once, also
   * for skip paths, Basic users and open sessions, which still work.
   */
  ready: boolean;
  /** sidecar_auth_total's non-zero series, `method result` -> count. */
  outcomes: Record<string, number>;
}

interface Sample {
  time: number;
  snapshot: MetricsSnapshot;
}

const sum = (values: Record<string, number>, pick: (key: string) => boolean = () => true) =>
  Object.entries(values).reduce((total, [key, n]) => (pick(key) ? total + n : total), 0);

/**
 * The q-quantile of the requests between two cumulative bucket lists, interpolated linearly inside
 * the bucket, as histogram_quantile() does (prometheus/prometheus promql/quantile.go); above the
 * last finite bound (10 s) it answers that bound.
 */
export function quantile(q: number, before: number[], after: number[]): number | null {
  const counts = after.map((n, i) => n - (before[i] ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let i = counts.findIndex((n) => n >= rank);
  if (i < 0) i = counts.length - 1;
  if (i >= durationBuckets.length) return durationBuckets[durationBuckets.length - 1] as number;
  const lower = i === 0 ? 0 : (durationBuckets[i - 1] as number);
  const upper = durationBuckets[i] as number;
  const below = i === 0 ? 0 : (counts[i - 1] as number);
  const inBucket = (counts[i] as number) - below;
  return inBucket <= 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
}

/** The figures for the window between two samples. */
export function pointBetween(a: Sample, b: Sample): StatsPoint {
  const seconds = Math.max((b.time - a.time) / 1000, 0.001);
  const requests = sum(b.snapshot.requestsByStatus) - sum(a.snapshot.requestsByStatus);
  const is5xx = (status: string) => status.startsWith('5');
  const errors = sum(b.snapshot.requestsByStatus, is5xx) - sum(a.snapshot.requestsByStatus, is5xx);
  return {
    time: b.time,
    requestsPerSecond: requests / seconds,
    errorRatio: requests > 0 ? errors / requests : 0,
    p50Seconds: quantile(0.5, a.snapshot.durationBuckets, b.snapshot.durationBuckets),
    p99Seconds: quantile(0.99, a.snapshot.durationBuckets, b.snapshot.durationBuckets),
  };
}

export function byStatusClass(requestsByStatus: Record<string, number>): Record<string, number> {
  const classes: Record<string, number> = {};
  for (const [status, n] of Object.entries(requestsByStatus))
    classes[`${status[0]}xx`] = (classes[`${status[0]}xx`] ?? 0) + n;
  return classes;
}

export interface StatsOptions {
  metrics: Metrics;
  version: string;
  runtime: string;
  ready: () => boolean;
  config: Record<string, string>;
  /** Access control's readiness (undefined: access control off). */
  authReady?: (() => boolean) | undefined;
  intervalMs?: number;
  keep?: number;
  now?: () => number;
}

export class StatsHistory {
  readonly #samples: Sample[] = [];
  readonly #options: Required<Omit<StatsOptions, 'authReady'>> & Pick<StatsOptions, 'authReady'>;
  readonly #startedAt: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: StatsOptions) {
    this.#options = { intervalMs: 5000, keep: 120, now: () => Date.now(), ...options };
    this.#startedAt = this.#options.now();
    this.sample();
  }

  /** Samples every interval until stop(); never keeps a process alive by itself. */
  start(): void {
    this.#timer ??= setInterval(() => this.sample(), this.#options.intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  sample(): void {
    this.#samples.push({ time: this.#options.now(), snapshot: this.#options.metrics.snapshot() });
    // One more than the points kept: each point is the window between two samples.
    if (this.#samples.length > this.#options.keep + 1) this.#samples.shift();
  }

  stats(): Stats {
    const { metrics, now, version, runtime, config } = this.#options;
    const latest: Sample = { time: now(), snapshot: metrics.snapshot() };
    // The window's start: the newest sample at least a minute old, else the oldest kept.
    const minuteAgo = latest.time - 60_000;
    const start = this.#samples.findLast((s) => s.time <= minuteAgo) ?? (this.#samples[0] as Sample);
    const history = this.#samples.slice(1).map((s, i) => pointBetween(this.#samples[i] as Sample, s));
    return {
      version,
      runtime,
      startedAt: new Date(this.#startedAt).toISOString(),
      uptimeSeconds: (latest.time - this.#startedAt) / 1000,
      current: { ...pointBetween(start, latest), windowSeconds: (latest.time - start.time) / 1000 },
      totals: {
        requests: sum(latest.snapshot.requestsByStatus),
        byStatusClass: byStatusClass(latest.snapshot.requestsByStatus),
        upstreamErrors: latest.snapshot.upstreamErrors,
        logLinesDropped: latest.snapshot.logLinesDropped,
        refusals: latest.snapshot.refusals,
      },
      activeRequests: latest.snapshot.activeRequests,
      tunnelsActive: latest.snapshot.tunnelsActive,
      ready: this.#options.ready(),
      ...(this.#options.authReady && {
        auth: { ready: this.#options.authReady(), outcomes: authOutcomes(metrics) },
      }),
      history,
      config,
    };
  }
}

/** sidecar_auth_total's series that are not 0, as `method result` -> count (the status page's table). */
function authOutcomes(metrics: Metrics): Record<string, number> {
  const outcomes: Record<string, number> = {};
  for (const method of authMethods)
    for (const result of authResults) {
      const value = metrics.auth.get({ method, result });
      if (value > 0) outcomes[`${method} ${result}`] = value;
    }
  return outcomes;
}
