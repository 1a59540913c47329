/**
 * The process around the sidecar, the same on every runtime: the configuration or exit 1, a
 * listener or exit 1, and the stop sequence on SIGTERM/SIGINT (drain, then exit).
 */
import { ConfigError, loadConfig } from './config.ts';
import type { Config } from './config.ts';
import type { Sidecar } from './sidecar.ts';

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
 * (see drain()), the sidecar stops its background work, `release` lets go of what the runtime
 * holds, and the process exits 0 (stderr has said whether the drain timeout cut anything); a
 * second signal exits 1 at once.
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
      .then(() => {
        options.sidecar.close();
        return options.release();
      })
      .finally(() => options.exit(0));
  };
}

/**
 * A listener that cannot start (the port in use, no permission for it): exit 1 with one stderr
 * line, as for a bad configuration, on every runtime. Bun and Deno would otherwise die on an
 * uncaught error, with a stack trace (Deno's in colour, even into a file).
 */
export function listenOrExit<T>(address: ListenAddress, listen: () => T, process: ProcessControl): T {
  try {
    return listen();
  } catch (error) {
    process.say(cannotListenMessage(address, error));
    process.exit(1);
    throw error;
  }
}

/** A listener's address, and the variable its port comes from (PORT, ADMIN_PORT or HTTP_REDIRECT_PORT). */
export interface ListenAddress {
  host: string;
  port: number;
  variable: 'PORT' | 'ADMIN_PORT' | 'HTTP_REDIRECT_PORT';
}

/** The one stderr line for a listener that cannot start: which variable's port, and why (in use, no permission). */
export function cannotListenMessage(address: ListenAddress, error: unknown): string {
  const why = error instanceof Error ? error.message : String(error);
  return `sidecar: cannot listen on ${address.host}:${address.port} (${address.variable}): ${why}`;
}
