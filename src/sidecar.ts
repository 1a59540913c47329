/**
 * Assembles the sidecar from a config and what the runtime injects: the proxy and admin apps,
 * the metrics, readiness, and the access-log writer. Runtime adapters call this, then serve.
 */
import type { Context, Hono } from 'hono';
import { createAdmin } from './admin.ts';
import { ConfigError, loadConfig } from './config.ts';
import type { Config } from './config.ts';
import { createProxy } from './handler.ts';
import { createLineWriter, formatterFor } from './logger.ts';
import type { LineWriter, LogSink } from './logger.ts';
import { Metrics } from './metrics.ts';
import type { ProcessMetric } from './metrics.ts';
import { Readiness } from './readiness.ts';
import type { UpstreamProbe } from './readiness.ts';
import { createTracing } from './tracing.ts';
import type { Tracing } from './tracing.ts';
import type { HttpVersionOf } from './span.ts';
import type { UpstreamClient } from './upstream.ts';

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
  /** The request's HTTP version as the runtime's parser read it, for spans (Node exposes it). */
  httpVersion?: HttpVersionOf;
}

export interface Sidecar {
  proxy: Hono;
  admin: Hono;
  metrics: Metrics;
  readiness: Readiness;
  accessLog: LineWriter;
  /** Trace export; undefined unless an OTLP endpoint is configured. */
  tracing?: Tracing;
}

export function createSidecar(config: Config, runtime: RuntimeCapabilities): Sidecar {
  const metrics = new Metrics(runtime.processMetrics);
  const readiness = new Readiness({ probe: runtime.probe });
  const accessLog = createLineWriter(runtime.stdout, {
    // Up to 20 ms for lines to share a write: invisible to a person tailing the log, and one
    // syscall per batch instead of one per request under load.
    delayMs: 20,
    onError: (error) => runtime.say(`access log write failed: ${String(error)}`),
  });
  metrics.countDroppedLogLines(() => accessLog.dropped);
  const format = formatterFor(config.LOG_FORMAT);
  const tracing = createTracing(config, { say: runtime.say, httpVersion: runtime.httpVersion });
  metrics.countDroppedSpans(() => tracing?.dropped ?? 0);
  const proxy = createProxy(config, {
    upstream: runtime.upstream,
    remoteAddress: runtime.remoteAddress,
    rawTarget: runtime.rawTarget,
    // A span is made from the same record as the log line, only when export is on.
    log: tracing
      ? (record) => {
          accessLog.write(format(record));
          tracing.record(record);
        }
      : (record) => accessLog.write(format(record)),
    metrics,
    onUpstreamAnswered: () => readiness.upstreamAnswered(),
    onInternalError: (error) => runtime.say(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
  });
  const admin = createAdmin({ metrics, readiness });
  return { proxy, admin, metrics, readiness, accessLog, tracing };
}

/** The line every runtime prints once both listeners are up; tests and tools wait for it. */
export function listeningMessage(runtime: string, proxy: { host: string; port: number }, admin: { host: string; port: number }, config: Config): string {
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
  say(`sidecar: draining ${sidecar.metrics.activeRequests} in-flight request(s), up to ${options.timeoutMs} ms`);
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), options.timeoutMs)));
  const clean = await Promise.race([options.stopListening().then(() => true), timedOut]);
  clearTimeout(timer);
  if (!clean) {
    say(`sidecar: drain timeout reached with ${sidecar.metrics.activeRequests} request(s) in flight; closing them`);
    options.forceClose();
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
export function stopOnSignal(options: Omit<DrainOptions, 'say'> & ProcessControl & { release(): Promise<void> | void }): (signal: string) => void {
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
