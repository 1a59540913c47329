/**
 * Prometheus metrics with OpenTelemetry HTTP semantic-convention names, rendered in the text
 * exposition format (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Written here rather than taken from prom-client: prom-client is built on node:* modules
 * (cluster, perf_hooks, v8), and src/ runs unchanged on Node, Bun and Deno with web APIs only.
 * Three metrics with bounded labels need a few dozen lines, not a dependency.
 */
import type { ErrorReason } from './errors.ts';
import { LabeledCounter } from './labeled-counter.ts';
import type { AuthMethod, AuthResult } from './auth/identity.ts';

/** From 1 ms to 10 s: a sidecar's added latency is in the first buckets, the app's in the rest. */
export const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Methods from RFC 9110 and RFC 5789; anything else is `_OTHER`, as OpenTelemetry specifies, so a client cannot mint labels. */
const knownMethods = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

export function methodLabel(method: string): string {
  return knownMethods.has(method) ? method : '_OTHER';
}

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** Extra gauges a runtime can report (resident memory, CPU): name, help, type and a reader. */
export interface ProcessMetric {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  read(): number | undefined;
}

/** Cumulative counts since start; two of them a few seconds apart give rates and quantiles. */
export interface MetricsSnapshot {
  /** Requests finished, by response status code. */
  requestsByStatus: Record<string, number>;
  /** Cumulative bucket counts over every series, one per `durationBuckets` bound, then +Inf. */
  durationBuckets: number[];
  activeRequests: number;
  upstreamErrors: Record<string, number>;
  logLinesDropped: number;
  /** Open tunnels (sidecar_tunnels_active), once the tunnel metrics are in this registry. */
  tunnelsActive: number;
  /** sidecar_refusals_total by reason. */
  refusals: Record<RefusalReason, number>;
}

/** Requests the sidecar refused at its door (edge limits and access control), by the log line's `error`. */
export type RefusalReason = 'forbidden' | 'rate_limited' | 'body_too_large' | 'unauthenticated';
const refusalReasons: readonly RefusalReason[] = ['forbidden', 'rate_limited', 'body_too_large', 'unauthenticated'];
/** `none`: the request carried no credentials at all. */
export const authMethods: readonly (AuthMethod | 'none')[] = ['jwt', 'basic', 'session', 'skip', 'none'];
export const authResults: readonly AuthResult[] = ['ok', 'unauthenticated', 'forbidden'];

export class Metrics {
  /** sidecar_auth_total{method,result}: access control's outcomes. */
  readonly auth = new LabeledCounter<'method' | 'result'>(
    'sidecar_auth_total',
    'Access-control outcomes, by how the request was judged and the result.',
    authMethods.flatMap((method) => authResults.map((result) => ({ method, result }))),
  );
  /** sidecar_refusals_total{reason}: every refusal at the door, one counter the dashboard and status page show. */
  readonly refusals = new LabeledCounter<'reason'>(
    'sidecar_refusals_total',
    'Requests refused before the app: outside ALLOW_CIDRS, over the rate limit, a body over the limit, not authenticated.',
    refusalReasons.map((reason) => ({ reason })),
  );
  /** sidecar_compressed_bytes_total{direction}: the app's bytes into the compressor, and what it sent. */
  readonly compressedBytes = new LabeledCounter<'direction'>(
    'sidecar_compressed_bytes_total',
    'Bytes of responses the sidecar compressed: in (from the app) and out (to the client).',
    [{ direction: 'in' }, { direction: 'out' }],
  );
  #active = 0;
  readonly #durations = new Map<string, Histogram>();
  readonly #errors = new Map<ErrorReason, number>();
  readonly #process: ProcessMetric[];
  #droppedLogLines: () => number = () => 0;
  #queued: () => number = () => 0;
  readonly #overload = { queue_full: 0, queue_timeout: 0 };
  #ready: () => boolean = () => false;
  #tunnelsActive = 0;
  #tunnelsTotal = 0;
  #droppedSpans: () => number = () => 0;

  constructor(processMetrics: ProcessMetric[] = []) {
    this.#process = processMetrics;
  }

  requestStarted(): void {
    this.#active++;
  }

  requestFinished(method: string, status: number, seconds: number): void {
    this.#active--;
    const key = `${methodLabel(method)} ${status}`;
    let h = this.#durations.get(key);
    if (!h) {
      h = { counts: new Array<number>(durationBuckets.length).fill(0), sum: 0, count: 0 };
      this.#durations.set(key, h);
    }
    // Buckets are cumulative in the exposition; store per bucket, sum on render.
    let i = 0;
    while (i < durationBuckets.length && seconds > (durationBuckets[i] as number)) i++;
    if (i < durationBuckets.length) h.counts[i] = (h.counts[i] as number) + 1;
    h.sum += seconds;
    h.count++;
  }

  upstreamError(reason: ErrorReason): void {
    this.#errors.set(reason, (this.#errors.get(reason) ?? 0) + 1);
  }

  /** A WebSocket tunnel opened (its handshake was counted as a 101 request) or closed. */
  tunnelOpened(): void {
    this.#tunnelsActive++;
    this.#tunnelsTotal++;
  }

  tunnelClosed(): void {
    this.#tunnelsActive--;
  }

  countDroppedLogLines(read: () => number): void {
    this.#droppedLogLines = read;
  }

  /** A 503 for overload (admission.ts), by why no slot came. */
  overloadRejected(reason: 'queue_full' | 'queue_timeout'): void {
    this.#overload[reason]++;
  }

  countQueuedRequests(read: () => number): void {
    this.#queued = read;
  }

  reportReadiness(read: () => boolean): void {
    this.#ready = read;
  }

  /** The registry's counts as they stand, for the status page (src/admin/stats.ts): the same numbers /metrics shows. */
  snapshot(): MetricsSnapshot {
    const requestsByStatus: Record<string, number> = {};
    const buckets = new Array<number>(durationBuckets.length + 1).fill(0);
    for (const [key, h] of this.#durations) {
      const status = key.split(' ')[1] as string;
      requestsByStatus[status] = (requestsByStatus[status] ?? 0) + h.count;
      // Cumulative, as in the exposition: bucket i counts every request up to its bound.
      let cumulative = 0;
      for (let i = 0; i < durationBuckets.length; i++) {
        cumulative += h.counts[i] as number;
        buckets[i] = (buckets[i] as number) + cumulative;
      }
      buckets[durationBuckets.length] = (buckets[durationBuckets.length] as number) + h.count;
    }
    return {
      requestsByStatus,
      durationBuckets: buckets,
      activeRequests: this.#active,
      upstreamErrors: Object.fromEntries(this.#errors),
      logLinesDropped: this.#droppedLogLines(),
      tunnelsActive: this.#tunnelsActive,
      refusals: this.refusals.byValue('reason') as Record<RefusalReason, number>,
    };
  }

  countDroppedSpans(read: () => number): void {
    this.#droppedSpans = read;
  }

  get activeRequests(): number {
    return this.#active;
  }

  render(): string {
    const out: string[] = [];
    out.push(
      '# HELP http_server_request_duration_seconds Duration of HTTP server requests.',
      '# TYPE http_server_request_duration_seconds histogram',
    );
    for (const [key, h] of [...this.#durations].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const [method, status] = key.split(' ') as [string, string];
      const labels = `http_request_method="${method}",http_response_status_code="${status}"`;
      let cumulative = 0;
      durationBuckets.forEach((le, i) => {
        cumulative += h.counts[i] as number;
        out.push(`http_server_request_duration_seconds_bucket{${labels},le="${le}"} ${cumulative}`);
      });
      out.push(`http_server_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      out.push(`http_server_request_duration_seconds_sum{${labels}} ${h.sum}`);
      out.push(`http_server_request_duration_seconds_count{${labels}} ${h.count}`);
    }
    out.push(
      '# HELP http_server_active_requests Number of active HTTP server requests.',
      '# TYPE http_server_active_requests gauge',
      `http_server_active_requests ${this.#active}`,
      '# HELP sidecar_upstream_errors_total Requests the sidecar answered itself because the upstream failed, by reason.',
      '# TYPE sidecar_upstream_errors_total counter',
    );
    for (const [reason, count] of [...this.#errors].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out.push(`sidecar_upstream_errors_total{reason="${reason}"} ${count}`);
    }
    out.push(
      '# HELP sidecar_tunnels_active Open WebSocket tunnels (not counted in http_server_active_requests).',
      '# TYPE sidecar_tunnels_active gauge',
      `sidecar_tunnels_active ${this.#tunnelsActive}`,
      '# HELP sidecar_tunnels_total WebSocket tunnels opened (the app answered the handshake with 101).',
      '# TYPE sidecar_tunnels_total counter',
      `sidecar_tunnels_total ${this.#tunnelsTotal}`,
    );
    out.push(
      '# HELP sidecar_log_lines_dropped_total Access-log lines dropped because stdout fell too far behind.',
      '# TYPE sidecar_log_lines_dropped_total counter',
      `sidecar_log_lines_dropped_total ${this.#droppedLogLines()}`,
      '# HELP sidecar_queued_requests Requests waiting for a slot under MAX_CONCURRENT_REQUESTS.',
      '# TYPE sidecar_queued_requests gauge',
      `sidecar_queued_requests ${this.#queued()}`,
      // Both reasons from the start, at 0, so rate() and alerts work before the first rejection.
      '# HELP sidecar_overload_rejections_total Requests answered 503 because the app was at MAX_CONCURRENT_REQUESTS, by reason.',
      '# TYPE sidecar_overload_rejections_total counter',
      `sidecar_overload_rejections_total{reason="queue_full"} ${this.#overload.queue_full}`,
      `sidecar_overload_rejections_total{reason="queue_timeout"} ${this.#overload.queue_timeout}`,
      // What /readyz answers, as a number: alerts cannot read a probe (deploy/k8s/monitoring/rules.yaml).
      '# HELP sidecar_ready 1 when /readyz answers 200 (the app answers and the sidecar is not draining), else 0.',
      '# TYPE sidecar_ready gauge',
      `sidecar_ready ${this.#ready() ? 1 : 0}`,
      '# HELP sidecar_spans_dropped_total Spans not exported: the queue was full, or the collector did not take them in time.',
      '# TYPE sidecar_spans_dropped_total counter',
      `sidecar_spans_dropped_total ${this.#droppedSpans()}`,
    );
    out.push(
      '# HELP sidecar_rate_limited_total Requests answered 429 by the per-client rate limit (RATE_LIMIT_RPS).',
      '# TYPE sidecar_rate_limited_total counter',
      `sidecar_rate_limited_total ${this.refusals.get({ reason: 'rate_limited' })}`,
      ...this.refusals.render(),
      ...this.auth.render(),
      ...this.compressedBytes.render(),
    );
    for (const m of this.#process) {
      const value = m.read();
      if (value === undefined) continue;
      out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, `${m.name} ${value}`);
    }
    return out.join('\n') + '\n';
  }
}
