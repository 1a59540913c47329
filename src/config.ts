import { z } from 'zod';
import { otelConfigShape, secretVariables } from './tracing/config.ts';
import { compressConfigShape } from './compress/config.ts';
import { limitsConfigShape, limitsTogether } from './limits/config.ts';
import { authConfigShape, authTogether } from './auth/config.ts';
import { webSocketConfigShape } from './websocket/config.ts';

/**
 * The sidecar's whole configuration: one zod schema over environment variables. Types come from
 * it, defaults and their reasons sit beside each field, and the README's table mirrors it
 * (test/unit/config.test.ts holds the two together).
 */

const port = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be between 0 and 65535`)
    .max(65535, `${name} must be between 0 and 65535`);

/** A count of requests: a whole number, 0 or more. */
const count = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be 0 or more`);

const millis = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number of milliseconds` })
    .int(`${name} must be a whole number`)
    .positive(`${name} must be above 0`);

/**
 * `localhost:8080` parses as a URL whose scheme is `localhost:`, and `app` as no URL at all: both
 * are a host (and port) written without a scheme, so the error names the URL that was meant.
 */
function suggestScheme(value: string): string {
  return /^[a-z0-9.-]+(:\d+)?(\/\S*)?$/i.test(value) && !value.includes('://')
    ? ` (did you mean "http://${value}"?)`
    : '';
}

/** TARGET: an http(s) origin with an optional path prefix; nothing that could redirect the request elsewhere. */
const target = z
  .string()
  .trim()
  .transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `not a URL: ${JSON.stringify(value)}${suggestScheme(value)}` });
      return z.NEVER;
    }
    const problems: string[] = [];
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      problems.push(`scheme must be http: or https:, got ${url.protocol}${suggestScheme(value)}`);
    if (url.username || url.password) problems.push('must not carry credentials');
    if (url.search || value.includes('?')) problems.push('must not carry a query');
    if (url.hash || value.includes('#')) problems.push('must not carry a fragment');
    if (problems.length > 0) {
      ctx.addIssue({ code: 'custom', message: problems.join('; ') });
      return z.NEVER;
    }
    // "/base/" and "/base" both mean: prefix every request path with "/base".
    const prefix = url.pathname.replace(/\/+$/, '');
    const secure = url.protocol === 'https:';
    return {
      origin: url.origin,
      prefix,
      href: `${url.origin}${prefix}`,
      secure,
      /** The host to connect to and to name in TLS: an IPv6 address without its brackets. */
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || (secure ? 443 : 80)),
    };
  });

const filePath = (name: string) => z.string().trim().min(1, `${name} must not be empty`);

/** The TLS variables only make sense together: a lone half would silently serve plain HTTP. */
function tlsTogether(
  c: {
    PORT: number;
    ADMIN_PORT: number;
    TLS_CERT_FILE?: string;
    TLS_KEY_FILE?: string;
    HTTP_REDIRECT_PORT?: number;
    HSTS_MAX_AGE?: number;
  },
  ctx: z.RefinementCtx,
): void {
  const tls = c.TLS_CERT_FILE !== undefined && c.TLS_KEY_FILE !== undefined;
  if (c.TLS_CERT_FILE !== undefined && c.TLS_KEY_FILE === undefined)
    ctx.addIssue({ code: 'custom', path: ['TLS_KEY_FILE'], message: 'must be set when TLS_CERT_FILE is' });
  if (c.TLS_KEY_FILE !== undefined && c.TLS_CERT_FILE === undefined)
    ctx.addIssue({ code: 'custom', path: ['TLS_CERT_FILE'], message: 'must be set when TLS_KEY_FILE is' });
  // RFC 6797 §7.2: HSTS is sent over secure transport only; a redirect to https needs an https to go to.
  if (!tls && c.HTTP_REDIRECT_PORT !== undefined)
    ctx.addIssue({ code: 'custom', path: ['HTTP_REDIRECT_PORT'], message: 'needs TLS_CERT_FILE and TLS_KEY_FILE' });
  if (!tls && c.HSTS_MAX_AGE !== undefined)
    ctx.addIssue({ code: 'custom', path: ['HSTS_MAX_AGE'], message: 'needs TLS_CERT_FILE and TLS_KEY_FILE' });
  const redirect = c.HTTP_REDIRECT_PORT;
  if (redirect !== undefined && redirect !== 0 && (redirect === c.PORT || redirect === c.ADMIN_PORT)) {
    ctx.addIssue({ code: 'custom', path: ['HTTP_REDIRECT_PORT'], message: 'must differ from PORT and ADMIN_PORT' });
  }
}

export const configSchema = z
  .object({
    /** The app's origin (and optional path prefix). The pod's app listens on localhost:8080. */
    TARGET: target.prefault('http://localhost:8080'),
    /** Proxied traffic. 8000 is the port the pod's Service sends to. 0 picks a free port (tests). */
    PORT: port('PORT').default(8000),
    /** All interfaces: the pod's Service reaches the sidecar on the pod IP. */
    HOST: z.string().trim().min(1, 'HOST must not be empty').default('0.0.0.0'),
    /** Probes and metrics live apart from the proxied port so they can never be proxied or exposed by the Service. */
    ADMIN_PORT: port('ADMIN_PORT').default(9901),
    /** Written into every access-log line, so logs from several pods' sidecars can be told apart. */
    SRV_NAME: z.string().trim().min(1, 'SRV_NAME must not be empty').default('app'),
    /** JSON for log pipelines; text keeps the seed's line for people who grep it. */
    LOG_FORMAT: z.enum(['json', 'text'], { error: 'LOG_FORMAT must be "json" or "text"' }).default('json'),
    /** Longest wait for the app's response headers; matches common load balancer and nginx defaults (30-60 s). */
    UPSTREAM_TIMEOUT_MS: millis('UPSTREAM_TIMEOUT_MS').default(30_000),
    /** In-flight requests get this long after SIGTERM; kept under Kubernetes' 30 s termination grace period. */
    DRAIN_TIMEOUT_MS: millis('DRAIN_TIMEOUT_MS').default(10_000),
    /**
     * Requests in flight to the app at once (src/overload/admission.ts); set it to what the app can serve at
     * once (its thread or database pool). 0, the default, means no limit: nothing changes for users
     * who don't ask, and the request path has no limiter on it at all.
     */
    MAX_CONCURRENT_REQUESTS: count('MAX_CONCURRENT_REQUESTS').default(0),
    /**
     * Requests that wait for a slot beyond the cap; 0 means no queue (503 at once). 1000 absorbs a
     * burst many times a small app's pool while bounding the memory it costs (a few KiB each).
     */
    MAX_QUEUED_REQUESTS: count('MAX_QUEUED_REQUESTS').default(1000),
    /**
     * Longest wait in the queue, then 503 with Retry-After: 1. A second: a waiter older than that is
     * better told to come back than kept, and client timeouts (often a few seconds) are not yet spent.
     */
    QUEUE_TIMEOUT_MS: millis('QUEUE_TIMEOUT_MS').default(1000),
    /** PEM certificate chain (leaf first) and its key: both set, PORT serves HTTPS only (src/tls/certificate.ts); unset, plain HTTP. */
    TLS_CERT_FILE: filePath('TLS_CERT_FILE').optional(),
    TLS_KEY_FILE: filePath('TLS_KEY_FILE').optional(),
    /** A plain-HTTP listener that only redirects to https (308); off unless set, and only with TLS. */
    HTTP_REDIRECT_PORT: port('HTTP_REDIRECT_PORT').optional(),
    /** Strict-Transport-Security max-age in seconds; off by default, since HSTS is the app's policy to choose (RFC 6797). */
    HSTS_MAX_AGE: z.coerce
      .number({ error: 'HSTS_MAX_AGE must be a number of seconds' })
      .int('HSTS_MAX_AGE must be a whole number')
      .min(0, 'HSTS_MAX_AGE must be 0 or more')
      .optional(),
    /**
     * How long an idle client keep-alive connection stays open: longer than cloud load balancers'
     * 60 s idle timeout (AWS ALB, GCP), so the balancer is never the one to reuse a connection the
     * sidecar has just closed, and bounded, so idle connections do not pile up (75 s, as nginx's
     * keepalive_timeout default).
     */
    CLIENT_IDLE_TIMEOUT_MS: millis('CLIENT_IDLE_TIMEOUT_MS').default(75_000),
    /** Trace export over OTLP/HTTP, off unless an endpoint is set (src/tracing/config.ts). */
    ...otelConfigShape,
    /** Opt-in compression of responses the app sent uncompressed (compress/config.ts). */
    ...compressConfigShape,
    /** Edge limits: body size, per-client rate, allow list, trusted proxies (limits/config.ts); all off by default. */
    ...limitsConfigShape,
    /** Access control: JWT, Basic, OIDC login (auth/config.ts); off unless a method is configured. */
    ...authConfigShape,
    /** The WebSocket relays' memory bounds (websocket/config.ts). */
    ...webSocketConfigShape,
  })
  .superRefine(tlsTogether);

/**
 * The checks across variables: two listeners cannot share a port, so ADMIN_PORT equal to PORT
 * fails here, naming ADMIN_PORT, instead of at listen. 0 (a free port each, as the tests use) is
 * the one value they may share.
 */
const checkedSchema = configSchema.superRefine((config, ctx) => {
  limitsTogether(config, ctx);
  authTogether(config, ctx);
  if (config.PORT !== 0 && config.ADMIN_PORT === config.PORT) {
    ctx.addIssue({
      code: 'custom',
      path: ['ADMIN_PORT'],
      message: `ADMIN_PORT must differ from PORT (both ${config.PORT})`,
    });
  }
});

export type Config = z.infer<typeof configSchema>;

/** The names of every variable the sidecar reads: deploy tests hold manifests against this list. */
export const configVariables = Object.keys(configSchema.shape) as (keyof Config)[];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads the configuration from an environment map. Empty strings count as unset, as they do for
 * most tools (an `env: - name: PORT value: ""` in a manifest means "default"). Unknown variables
 * are ignored. Throws a ConfigError whose message is one line naming the variable.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string> = {};
  for (const name of configVariables) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') input[name] = value;
  }
  // Parsed once, at start-up: zod's eval-compiled fast path for objects (a `new Function` built on
  // the first parse, for parsers that run many times) would cost more to build than it saves here.
  const result = checkedSchema.safeParse(input, { jitless: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = String(issue?.path[0] ?? 'config');
  const message = issue?.message ?? 'invalid';
  // Echo the bad value so the operator sees it, minus any password it carries.
  const value = secretVariables.has(name) ? undefined : input[name]?.replace(/\/\/[^/@]*@/, '//***@');
  const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  throw new ConfigError(`${name}: ${message.replace(/^\w+ must/, 'must')}${shown}`);
}
