/**
 * Assembles the sidecar from a config and what the runtime injects: the proxy and admin apps,
 * the metrics, readiness, and the access-log writer. Runtime adapters call this, then serve.
 */
import type { Context, Hono } from 'hono';
import type { Compressor } from './compress/compress.ts';
import type { Authenticator } from './auth/authenticate.ts';
import { createDoor } from './door.ts';
import { createAdmin } from './admin/admin.ts';
import { createAdmission } from './overload/admission.ts';
import type { Config } from './config.ts';
import { createProxy } from './handler.ts';
import { createRedirect } from './tls/https.ts';
import { createLineWriter, formatterFor } from './logger.ts';
import type { LineWriter, LogSink } from './logger.ts';
import type { AccessRecord } from './exchange.ts';
import { Metrics } from './metrics.ts';
import type { ProcessMetric } from './metrics.ts';
import { maskedConfig } from './admin/config-view.ts';
import { Readiness } from './admin/readiness.ts';
import { StatsHistory } from './admin/stats.ts';
import { version } from './version.ts';
import { createRefusalLog } from './proxy/refusal.ts';
import type { Refusal, RefusalLog } from './proxy/refusal.ts';
import type { UpstreamProbe } from './admin/readiness.ts';
import { tlsMetrics } from './tls/certificate.ts';
import type { CertificateWatcher } from './tls/watcher.ts';
import { Tunnels } from './websocket/tunnels.ts';
import { tunnelThroughFetch } from './websocket/entry.ts';
import type { Handshake } from './websocket/upgrade.ts';
import { samplerFor } from './tracing/sampler.ts';
import { createTracing } from './tracing/tracing.ts';
import type { Tracing } from './tracing/tracing.ts';
import type { HttpVersionOf } from './tracing/span.ts';
import type { UpstreamClient } from './proxy/upstream.ts';

/** What a runtime hands the core: the parts only it can provide. */
export interface RuntimeCapabilities {
  upstream: UpstreamClient;
  probe: UpstreamProbe;
  remoteAddress(c: Context): string | undefined;
  /** The request-target exactly as received, where the runtime exposes it. */
  rawTarget?(c: Context): string | undefined;
  /** The request's header fields exactly as the parser read them (name, value, ...), where the runtime exposes them. */
  rawHeaders?(c: Context): readonly string[];
  /**
   * Whether the runtime's server writes a Response whose headers are a record holding a repeated
   * field as an array (@hono/node-server on node:http does, through writeHead). Without it such an
   * answer goes as pairs, which @hono/node-server turns into a Headers (and labels an untyped body).
   */
  headerArrays?: boolean;
  /** The access log's destination (stdout). */
  stdout: LogSink;
  /** The sidecar's own messages (stderr). */
  say(message: string): void;
  processMetrics?: ProcessMetric[];
  /** The runtime's name and version for the status page, e.g. "node 24.21.0". */
  runtimeName?: string;
  /** With TLS on: the serving certificate's watcher (its metrics; X-Forwarded-Proto https). */
  tls?: Pick<CertificateWatcher, 'current' | 'reloadErrors'>;
  /** HTTP/2's :authority where the runtime gives no Host header (ProxyDeps.authority). */
  authority?(c: Context): string | undefined;
  /**
   * Carries a WebSocket handshake the runtime's server handed to the fetch handler (Bun, Deno):
   * answers the client (101 or the app's refusal) and runs the tunnel. Node's server hands
   * handshakes to its own 'upgrade' listener instead (runtimes/node/tunnel.ts).
   */
  webSocket?(c: Context, handshake: Handshake): Promise<Response>;
  /** Access control, built at start-up with its secret files (runtimes/common/auth-files.ts); undefined when it is off. */
  auth?: Authenticator | undefined;
  /** COMPRESS's compressor (runtimes/common/zlib-compressor.ts); undefined when COMPRESS is off. */
  compressor?: Compressor | undefined;
  /** Whether the runtime's parser refused (and answered) the rest of this request's connection. */
  refusal?(c: Context): Refusal | undefined;
  /** The request's HTTP version as the runtime's parser read it, for spans (Node exposes it). */
  httpVersion?: HttpVersionOf;
  /** How spans are POSTed to the collector, where the runtime has a cheaper way than the global fetch (Node). */
  exportFetch?: typeof fetch;
}

export interface Sidecar {
  proxy: Hono;
  admin: Hono;
  metrics: Metrics;
  readiness: Readiness;
  accessLog: LineWriter;
  /** The HTTP_REDIRECT_PORT listener's app (308 to https), when that port is set. */
  redirect?: Hono;
  /** WebSocket handshakes and open tunnels (upgrade.ts). */
  tunnels: Tunnels;
  /** Logs and counts a request the runtime refused before the handler saw it. */
  refused: RefusalLog;
  /** Trace export; undefined unless an OTLP endpoint is configured. */
  tracing?: Tracing;
  /** Stops its own background work once drained: the status page's sampler and access control's (JWKS refresh, OIDC discovery retries, the htpasswd watch). */
  close(): void;
}

export function createSidecar(config: Config, runtime: RuntimeCapabilities): Sidecar {
  const metrics = new Metrics([...(runtime.processMetrics ?? []), ...(runtime.tls ? tlsMetrics(runtime.tls) : [])]);
  const readiness = new Readiness({ probe: runtime.probe });
  const { accessLog, tracing, log } = exchangeLog(config, runtime, metrics);
  metrics.reportReadiness(() => readiness.ready);
  const stats = new StatsHistory({
    metrics,
    version,
    runtime: runtime.runtimeName ?? 'unknown',
    ready: () => readiness.ready,
    config: maskedConfig(config),
    authReady: runtime.auth && (() => runtime.auth?.ready ?? true),
  });
  stats.start();
  const proto = runtime.tls ? 'https' : 'http';
  // One limiter for requests and WebSocket handshakes (MAX_CONCURRENT_REQUESTS; undefined: none).
  const admission = createAdmission(config, metrics);
  const { auth } = runtime;
  // The edge limits and access control: one door for requests and WebSocket handshakes alike.
  const door = createDoor(config, { metrics, auth, tls: runtime.tls !== undefined });
  const tunnels = new Tunnels({
    config,
    metrics,
    log,
    proto,
    admission,
    door,
    sample: samplerFor(config),
    onUpstreamAnswered: () => readiness.upstreamAnswered(),
  });
  const { webSocket } = runtime;
  const onInternalError = (error: unknown) =>
    runtime.say(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  const proxy = createProxy(config, {
    upstream: runtime.upstream,
    remoteAddress: runtime.remoteAddress,
    rawTarget: runtime.rawTarget,
    rawHeaders: runtime.rawHeaders,
    headerArrays: runtime.headerArrays,
    authority: runtime.authority,
    proto,
    log,
    admission,
    metrics,
    tunnel: webSocket
      ? tunnelThroughFetch((request) => tunnels.begin(request), webSocket, runtime, onInternalError)
      : undefined,
    refusal: runtime.refusal,
    draining: () => readiness.draining,
    httpVersion: runtime.httpVersion,
    compressor: runtime.compressor,
    door,
    onUpstreamAnswered: () => readiness.upstreamAnswered(),
    onInternalError,
  });
  const admin = createAdmin({ metrics, readiness, stats });
  const redirect = config.HTTP_REDIRECT_PORT === undefined ? undefined : createRedirect();
  return {
    proxy,
    admin,
    metrics,
    readiness,
    accessLog,
    redirect,
    tunnels,
    refused: createRefusalLog(config, { log, metrics }),
    tracing,
    close() {
      stats.stop();
      auth?.close();
    },
  };
}

/**
 * Where every finished exchange goes: one access-log line (batched, never blocking a request on
 * stdout) and, only when export is on, one span; requests, refusals and tunnels alike.
 */
function exchangeLog(config: Config, runtime: RuntimeCapabilities, metrics: Metrics) {
  const accessLog = createLineWriter(runtime.stdout, {
    // Up to 20 ms for lines to share a write: invisible to a person tailing the log, and one
    // syscall per batch instead of one per request under load.
    delayMs: 20,
    onError: (error) => runtime.say(`access log write failed: ${String(error)}`),
  });
  metrics.countDroppedLogLines(() => accessLog.dropped);
  const format = formatterFor(config.LOG_FORMAT);
  const tracing = createTracing(config, {
    say: runtime.say,
    httpVersion: runtime.httpVersion,
    fetch: runtime.exportFetch,
  });
  metrics.countDroppedSpans(() => tracing?.dropped ?? 0);
  const log = tracing
    ? (record: AccessRecord) => {
        accessLog.write(format(record));
        tracing.record(record);
      }
    : (record: AccessRecord) => accessLog.write(format(record));
  return { accessLog, tracing, log };
}

/** The line every runtime prints once both listeners are up; tests and tools wait for it. */
export function listeningMessage(
  runtime: string,
  proxy: { host: string; port: number },
  admin: { host: string; port: number },
  config: Config,
): string {
  return `sidecar: listening on ${proxy.host}:${proxy.port} (admin ${admin.host}:${admin.port}), forwarding to ${config.TARGET.href} [${runtime}]`;
}
