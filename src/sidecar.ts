/**
 * Assembles the sidecar from a config and what the runtime injects: the proxy and admin apps,
 * the metrics, readiness, and the access-log writer. Runtime adapters call this, then serve.
 */
import type { Context, Hono } from 'hono';
import { createAdmin } from './admin/admin.ts';
import { createAdmission } from './overload/admission.ts';
import { ConfigError, loadConfig } from './config.ts';
import type { Config } from './config.ts';
import { createProxy } from './handler.ts';
import { createRedirect } from './tls/https.ts';
import { createLineWriter, formatterFor } from './logger.ts';
import type { AccessRecord, LineWriter, LogSink } from './logger.ts';
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
import { tunnelThroughFetch } from './websocket/tunnel.ts';
import { Tunnels } from './websocket/upgrade.ts';
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
}

export function createSidecar(config: Config, runtime: RuntimeCapabilities): Sidecar {
  const metrics = new Metrics([...(runtime.processMetrics ?? []), ...(runtime.tls ? tlsMetrics(runtime.tls) : [])]);
  const readiness = new Readiness({ probe: runtime.probe });
  const accessLog = createLineWriter(runtime.stdout, {
    // Up to 20 ms for lines to share a write: invisible to a person tailing the log, and one
    // syscall per batch instead of one per request under load.
    delayMs: 20,
    onError: (error) => runtime.say(`access log write failed: ${String(error)}`),
  });
  metrics.countDroppedLogLines(() => accessLog.dropped);
  metrics.reportReadiness(() => readiness.ready);
  const stats = new StatsHistory({
    metrics,
    version,
    runtime: runtime.runtimeName ?? 'unknown',
    ready: () => readiness.ready,
    config: maskedConfig(config),
  });
  stats.start();
  const format = formatterFor(config.LOG_FORMAT);
  const tracing = createTracing(config, {
    say: runtime.say,
    httpVersion: runtime.httpVersion,
    fetch: runtime.exportFetch,
  });
  metrics.countDroppedSpans(() => tracing?.dropped ?? 0);
  // One record, one log line and, only when export is on, one span: requests, refusals and tunnels alike.
  const log = tracing
    ? (record: AccessRecord) => {
        accessLog.write(format(record));
        tracing.record(record);
      }
    : (record: AccessRecord) => accessLog.write(format(record));
  const proto = runtime.tls ? 'https' : 'http';
  // One limiter for requests and WebSocket handshakes (MAX_CONCURRENT_REQUESTS; undefined: none).
  const admission = createAdmission(config, metrics);
  const tunnels = new Tunnels({
    config,
    metrics,
    log,
    proto,
    admission,
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
    authority: runtime.authority,
    proto,
    log,
    admission,
    metrics,
    tunnel: webSocket ? tunnelThroughFetch(tunnels, webSocket, runtime, onInternalError) : undefined,
    refusal: runtime.refusal,
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
  };
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

export interface DrainOptions {
  sidecar: Sidecar;
  timeoutMs: number;
  say(message: string): void;
  /** Stops accepting connections and closes idle ones; resolves when every connection has ended. */
  stopListening(): Promise<void>;
  /** Cuts whatever is still open once the drain timeout has passed. */
  forceClose(): void;
}

/**
 * SIGTERM/SIGINT: readiness turns 503 at once, the listener stops taking connections, idle
 * keep-alive connections close, in-flight requests finish within the timeout, logs are flushed.
 * Resolves true when nothing was cut off.
 */
export async function drain(options: DrainOptions): Promise<boolean> {
  const { sidecar, say } = options;
  sidecar.readiness.startDraining();
  sidecar.readiness.stop();
  const { tunnels } = sidecar;
  say(
    `sidecar: draining ${sidecar.metrics.activeRequests} in-flight request(s) and ${tunnels.open} tunnel(s), up to ${options.timeoutMs} ms`,
  );
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), options.timeoutMs)));
  // Open tunnels are waited for too: no runtime's server counts them as requests in flight
  // (Node's closeAllConnections() skips upgraded sockets: nodejs.org/api/http.html).
  const clean = await Promise.race([Promise.all([options.stopListening(), tunnels.idle()]).then(() => true), timedOut]);
  clearTimeout(timer);
  if (!clean) {
    say(
      `sidecar: drain timeout reached with ${sidecar.metrics.activeRequests} request(s) and ${tunnels.open} tunnel(s) open; closing them`,
    );
    tunnels.closeAll();
    options.forceClose();
    // Closed tunnels write their log lines as they end (a relay's closing handshake takes up to
    // a second: src/websocket/message-relay.ts): wait for them, bounded.
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([tunnels.idle(), new Promise((resolve) => (grace = setTimeout(resolve, 2000)))]);
    clearTimeout(grace);
  }
  await sidecar.accessLog.flush();
  // Queued spans go out in what is left of the drain timeout.
  await sidecar.tracing?.flush(options.timeoutMs - (performance.now() - started));
  say('sidecar: stopped');
  return clean;
}

/** What the core asks of the process around it: stderr, and a way out. */
export interface ProcessControl {
  say(message: string): void;
  exit(code: number): void;
}

/** The configuration, or the process ends before anything listens: exit 1 and one stderr line naming the variable. */
export function configOrExit(env: Record<string, string | undefined>, process: ProcessControl): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.say(`sidecar: invalid configuration: ${error.message}`);
    process.exit(1);
    throw error;
  }
}

/**
 * The stop sequence every runtime shares, for SIGTERM and SIGINT alike: the first signal drains
 * (see drain()), `release` lets go of what the runtime holds, and the process exits 0 (stderr has
 * said whether the drain timeout cut anything); a second signal exits 1 at once.
 */
export function stopOnSignal(
  options: Omit<DrainOptions, 'say'> & ProcessControl & { release(): Promise<void> | void },
): (signal: string) => void {
  let stopping = false;
  return (signal) => {
    if (stopping) {
      options.say(`sidecar: ${signal} again, exiting now`);
      options.exit(1);
      return;
    }
    stopping = true;
    options.say(`sidecar: ${signal} received`);
    void drain(options)
      .then(() => options.release())
      .finally(() => options.exit(0));
  };
}

/**
 * A listener that cannot start (the port in use, no permission for it): exit 1 with one stderr
 * line, as for a bad configuration, on every runtime. Bun and Deno would otherwise die on an
 * uncaught error, with a stack trace (Deno's in colour, even into a file).
 */
export function listenOrExit<T>(address: { host: string; port: number }, listen: () => T, process: ProcessControl): T {
  try {
    return listen();
  } catch (error) {
    process.say(
      `sidecar: cannot listen on ${address.host}:${address.port}: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exit(1);
    throw error;
  }
}
