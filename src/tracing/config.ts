import { z } from 'zod';

/**
 * The standard OpenTelemetry variables the trace exporter reads, as the specification defines them
 * (open-telemetry/opentelemetry-specification: specification/protocol/exporter.md and
 * specification/configuration/sdk-environment-variables.md), spread into the sidecar's schema
 * (config.ts). One deliberate difference: where the specification says to warn about an
 * unrecognised value and ignore it, the sidecar refuses to start, as it does for every other
 * variable: a typo in a sampler or an endpoint must not silently change what is exported.
 */

/**
 * An http(s) URL with a host; the exporter posts to it. No credentials: fetch refuses a URL that
 * carries them (Fetch standard, "Request" constructor), so they go in OTEL_EXPORTER_OTLP_HEADERS.
 */
const endpoint = (name: string) =>
  z
    .string()
    .trim()
    .superRefine((value, ctx) => {
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '')
        ctx.addIssue({ code: 'custom', message: `${name} must be an http:// or https:// URL` });
      else if (url.username || url.password)
        ctx.addIssue({
          code: 'custom',
          message: `${name} must not carry credentials: send them as a header (OTEL_EXPORTER_OTLP_HEADERS=authorization=...)`,
        });
    })
    .optional();

const protocol = (name: string) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .superRefine((value, ctx) => {
      // exporter.md "Specify Protocol": SDKs MUST support grpc or http/protobuf; this one speaks OTLP/HTTP only.
      if (value === 'grpc')
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be http/protobuf or http/json: grpc is not supported (send to the collector's OTLP/HTTP port, 4318)`,
        });
      else if (value !== 'http/protobuf' && value !== 'http/json')
        ctx.addIssue({ code: 'custom', message: `${name} must be http/protobuf or http/json` });
    })
    .transform((value) => value as 'http/protobuf' | 'http/json');

/** common.md "Timeout": a non-negative number of milliseconds, 0 meaning no limit. */
const timeout = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number of milliseconds` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be 0 (no limit) or more`);

const positive = (name: string, what: string) =>
  z.coerce
    .number({ error: `${name} must be ${what}` })
    .int(`${name} must be a whole number`)
    .positive(`${name} must be above 0`);

/** RFC 9110 §5.6.2 token: what a header name (and a W3C Baggage key) may be. */
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * W3C Baggage-like `key=value,key2=value2` lists (https://www.w3.org/TR/baggage/#header-content), values
 * percent-decoded; metadata after `;` is not supported (exporter.md "Specifying headers"). The
 * error names the entry by position only: header values are credentials and are never echoed.
 */
function keyValueList(name: string, keyPattern: RegExp) {
  return z
    .string()
    .transform((value, ctx) => {
      const pairs: [string, string][] = [];
      for (const [index, member] of value.split(',').entries()) {
        if (member.trim() === '') continue;
        const eq = member.indexOf('=');
        const key = eq < 0 ? '' : member.slice(0, eq).trim();
        let decoded: string | undefined;
        try {
          decoded = eq < 0 ? undefined : decodeURIComponent(member.slice(eq + 1).trim());
        } catch {
          decoded = undefined;
        }
        if (decoded === undefined || !keyPattern.test(key) || /[\0\r\n]/.test(decoded)) {
          ctx.addIssue({
            code: 'custom',
            message: `${name} must be a list of key=value pairs: entry ${index + 1} is not one (values are percent-encoded)`,
          });
          return z.NEVER;
        }
        pairs.push([key, decoded]);
      }
      return pairs;
    })
    .optional();
}

export const otelConfigShape = {
  /** exporter.md "Endpoint URLs for OTLP/HTTP": `/v1/traces` is appended. Unset (and no TRACES_ENDPOINT): nothing is exported. */
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint('OTEL_EXPORTER_OTLP_ENDPOINT'),
  /** Used as is; takes precedence over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'),
  /** The specification's SHOULD-default; http/json is the other OTLP/HTTP encoding. */
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol('OTEL_EXPORTER_OTLP_PROTOCOL').default('http/protobuf'),
  /** Every option MUST be overridable per signal (exporter.md). */
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL').optional(),
  /** Sent with every export (an API key, a tenant); never logged. */
  OTEL_EXPORTER_OTLP_HEADERS: keyValueList('OTEL_EXPORTER_OTLP_HEADERS', token),
  /** Merged over OTEL_EXPORTER_OTLP_HEADERS, a key here winning. */
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: keyValueList('OTEL_EXPORTER_OTLP_TRACES_HEADERS', token),
  /** The longest one POST may take (exporter.md: 10 s); retries stay within OTEL_BSP_EXPORT_TIMEOUT. */
  OTEL_EXPORTER_OTLP_TIMEOUT: timeout('OTEL_EXPORTER_OTLP_TIMEOUT').default(10_000),
  OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: timeout('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT').optional(),
  /** The resource's service.name; when unset, service.name from OTEL_RESOURCE_ATTRIBUTES, else SRV_NAME. */
  OTEL_SERVICE_NAME: z.string().trim().optional(),
  /** More resource attributes (in a pod: k8s.pod.name and friends from the downward API). */
  OTEL_RESOURCE_ATTRIBUTES: keyValueList('OTEL_RESOURCE_ATTRIBUTES', /^[^\s=,]+$/),
  /** trace/sdk.md "Built-in samplers"; the default keeps the caller's decision and samples new traces. */
  OTEL_TRACES_SAMPLER: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(
      z.enum(
        [
          'always_on',
          'always_off',
          'traceidratio',
          'parentbased_always_on',
          'parentbased_always_off',
          'parentbased_traceidratio',
        ],
        {
          error:
            'OTEL_TRACES_SAMPLER must be always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio',
        },
      ),
    )
    .default('parentbased_always_on'),
  /** The ratio for the traceidratio samplers; 1.0 when unset (sdk-environment-variables.md). */
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number({ error: 'OTEL_TRACES_SAMPLER_ARG must be a sampling probability from 0 to 1' })
    .min(0, 'OTEL_TRACES_SAMPLER_ARG must be a sampling probability from 0 to 1')
    .max(1, 'OTEL_TRACES_SAMPLER_ARG must be a sampling probability from 0 to 1')
    .optional(),
  /** Batch span processor (sdk-environment-variables.md "Batch Span Processor"): the longest a span waits to be sent. */
  OTEL_BSP_SCHEDULE_DELAY: positive('OTEL_BSP_SCHEDULE_DELAY', 'a number of milliseconds').default(5000),
  /** The longest one export may take, retries included; 0 means no limit. */
  OTEL_BSP_EXPORT_TIMEOUT: timeout('OTEL_BSP_EXPORT_TIMEOUT').default(30_000),
  /** Spans waiting beyond this are dropped and counted: memory stays bounded when the collector is away. */
  OTEL_BSP_MAX_QUEUE_SIZE: positive('OTEL_BSP_MAX_QUEUE_SIZE', 'a number of spans').default(2048),
  /** Spans per export; an export starts as soon as this many wait. At most OTEL_BSP_MAX_QUEUE_SIZE. */
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: positive('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 'a number of spans').default(512),
};

/** Variables whose values are credentials: a config error names them but never shows their value. */
export const secretVariables: ReadonlySet<string> = new Set([
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
]);
