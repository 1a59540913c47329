/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): parse an incoming `traceparent`,
 * make the sidecar's span a child of it, or start a new trace.
 */

export interface TraceContext {
  /** 32 lowercase hex characters, never all zeros. */
  traceId: string;
  /** The sidecar's span id: the parent-id the app receives. */
  spanId: string;
  /** The incoming parent's span id, when there was a valid one. */
  parentSpanId: string | undefined;
  /** Trace flags as two hex characters (01 = sampled). */
  flags: string;
}

// version "-" trace-id "-" parent-id "-" trace-flags; a future version may append fields
// after another "-" (§3.2.4: parse what is known, ignore the rest).
const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const zeros32 = '0'.repeat(32);
const zeros16 = '0'.repeat(16);

/** Parses a traceparent header; undefined when it is missing or invalid (§3.2.2 and §3.2.4). */
export function parseTraceparent(header: string | null): Omit<TraceContext, 'spanId'> | undefined {
  if (header === null) return undefined;
  const match = traceparentPattern.exec(header.trim());
  if (!match) return undefined;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || traceId === zeros32 || parentId === zeros16) return undefined;
  // Version 00 has exactly four fields; only a later version may carry more.
  if (version === '00' && rest !== undefined) return undefined;
  return { traceId, parentSpanId: parentId, flags };
}

/**
 * Random bytes drawn from the platform CSPRNG in blocks: one getRandomValues call per 256 ids
 * rather than per id (it was 5% of a request's CPU time on Node).
 */
const pool = new Uint8Array(4096);
let poolOffset = pool.length;
const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  let out = '';
  for (let i = poolOffset; i < poolOffset + bytes; i++) out += hex[pool[i] as number];
  poolOffset += bytes;
  return out;
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const id = randomHex(bytes);
    if (/[^0]/.test(id)) return id;
  }
}

/** The sidecar's span: a child of a valid incoming traceparent, or the root of a new trace. */
export function startSpan(incoming: string | null): TraceContext {
  const parent = parseTraceparent(incoming);
  const spanId = nonZeroHex(8);
  if (parent) return { ...parent, spanId };
  // A new trace is sampled: the sidecar is the first hop, and the flag lets the app record too.
  return { traceId: nonZeroHex(16), spanId, parentSpanId: undefined, flags: '01' };
}

/** The traceparent the app receives: version 00, the trace id, the sidecar's span as parent. */
export function formatTraceparent(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.flags}`;
}
