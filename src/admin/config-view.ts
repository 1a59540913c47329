/**
 * The configuration as the status page shows it: every variable the sidecar read, as a string,
 * with secrets masked. Masking goes by name, so variables added later are covered without a list
 * to keep in step: OTEL_EXPORTER_OTLP_HEADERS (and any *_HEADERS) keeps its header names and
 * loses every value, as the OpenTelemetry SDKs' own debug output does; names that say PASSWORD,
 * SECRET, TOKEN or CREDENTIAL lose the whole value; credentials in any URL are cut
 * (`//user:pass@` becomes `//***@`; TARGET refuses them anyway).
 */
export const masked = '***';

const secretName = /PASSWORD|SECRET|TOKEN|CREDENTIAL/i;
const headersName = /HEADERS$/i;

function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === undefined || value === null) return '';
  // A list as the operator writes it, comma-separated: COMPRESS_TYPES, and ALLOW_CIDRS' and
  // TRUSTED_PROXIES' parsed sets, which give back their entries as JSON (limits/cidr.ts).
  const json: unknown =
    typeof value === 'object' && 'toJSON' in value && typeof value.toJSON === 'function' ? value.toJSON() : value;
  if (Array.isArray(json) && json.every((item) => typeof item === 'string')) return json.join(',');
  // TARGET after parsing: its origin and prefix, as the operator wrote it.
  if (typeof value === 'object' && 'href' in value && typeof value.href === 'string') return value.href;
  return JSON.stringify(value);
}

/** `key1=value1,key2=value2` (the W3C Baggage-like form OTEL_EXPORTER_OTLP_HEADERS uses) with the values gone. */
function maskHeaderValues(value: unknown): string {
  // As written (`k=v,...`), as parsed by the schema ([name, value] pairs: src/tracing/config.ts), or an object.
  const names =
    typeof value === 'string'
      ? value.split(',').map((pair) => pair.split('=')[0]?.trim() ?? '')
      : Array.isArray(value)
        ? value.map((pair: unknown) => (Array.isArray(pair) ? String(pair[0]) : ''))
        : value !== null && typeof value === 'object'
          ? Object.keys(value)
          : [];
  return names
    .filter((name) => name !== '')
    .map((name) => `${name}=${masked}`)
    .join(',');
}

export function maskedConfig(config: Record<string, unknown>): Record<string, string> {
  const view: Record<string, string> = {};
  for (const [name, value] of Object.entries(config)) {
    if (headersName.test(name)) view[name] = maskHeaderValues(value);
    else if (secretName.test(name)) view[name] = value === undefined || value === '' ? '' : masked;
    else view[name] = asText(value).replace(/\/\/[^/@\s]*@/g, `//${masked}@`);
  }
  return view;
}
