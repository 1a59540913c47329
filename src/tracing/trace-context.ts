/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): parse an incoming `traceparent`,
 * make the sidecar's span a child of it, or start a new trace.
 */
import { parentBasedAlwaysOn } from './sampler.ts';
import type { Sampler } from './sampler.ts';

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
  const [, version, traceId, parentId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
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

/**
 * The sidecar's span: a child of a valid incoming traceparent, or the root of a new trace. The
 * sampler's decision is the sampled flag (bit 0) the app receives; the parent's other flag bits
 * pass on unchanged (W3C Trace Context §3.2.2.5).
 */
export function startSpan(incoming: string | null, sample: Sampler = parentBasedAlwaysOn): TraceContext {
  const parent = parseTraceparent(incoming);
  const spanId = nonZeroHex(8);
  if (parent) {
    const bits = parseInt(parent.flags, 16);
    const sampled = sample(parent.traceId, (bits & 1) === 1);
    const flags = sampled === ((bits & 1) === 1) ? parent.flags : hex[sampled ? bits | 1 : bits & 0xfe];
    return { ...parent, spanId, flags: flags as string };
  }
  const traceId = nonZeroHex(16);
  // The sidecar is the first hop: its decision is the trace's, and the flag lets the app record too.
  return { traceId, spanId, parentSpanId: undefined, flags: sample(traceId, undefined) ? '01' : '00' };
}

/** The traceparent the app receives: version 00, the trace id, the sidecar's span as parent. */
export function formatTraceparent(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.flags}`;
}
