import { z } from 'zod';
import { otelConfigShape, secretVariables } from './config-otel.ts';

/**
 * The sidecar's whole configuration: one zod schema over environment variables. Types come from
 * it, defaults and their reasons sit beside each field, and the README's table mirrors it
 * (test/config.test.ts holds the two together).
 */

const port = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be between 0 and 65535`)
    .max(65535, `${name} must be between 0 and 65535`);

const millis = (name: string) =>
  z.coerce.number({ error: `${name} must be a number of milliseconds` }).int(`${name} must be a whole number`).positive(`${name} must be above 0`);

/** TARGET: an http(s) origin with an optional path prefix; nothing that could redirect the request elsewhere. */
const target = z
  .string()
  .trim()
  .transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `not a URL: ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    const problems: string[] = [];
    if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`scheme must be http: or https:, got ${url.protocol}`);
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

export const configSchema = z.object({
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
  /** Trace export over OTLP/HTTP, off unless an endpoint is set (config-otel.ts). */
  ...otelConfigShape,
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
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = String(issue?.path[0] ?? 'config');
  const message = issue?.message ?? 'invalid';
  // Echo the bad value so the operator sees it, minus any password it carries.
  const value = secretVariables.has(name) ? undefined : input[name]?.replace(/\/\/[^/@]*@/, '//***@');
  const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  throw new ConfigError(`${name}: ${message.replace(/^\w+ must/, 'must')}${shown}`);
}
