/**
 * The OpenTelemetry SDK's built-in samplers (open-telemetry/opentelemetry-specification
 * specification/trace/sdk.md "Built-in samplers"), chosen by OTEL_TRACES_SAMPLER. The decision is
 * made once, when the request arrives, and travels in the sampled flag of the traceparent the app
 * receives (src/tracing/trace-context.ts), so the app's own spans follow it.
 */
import type { Config } from '../config.ts';

/** Whether the span is sampled; `parentSampled` is the incoming traceparent's flag, undefined for a new trace. */
export type Sampler = (traceId: string, parentSampled: boolean | undefined) => boolean;

const alwaysOn = (): boolean => true;
const alwaysOff = (): boolean => false;

/**
 * TraceIdRatioBased. sdk.md leaves its algorithm unspecified beyond two rules: a deterministic
 * function of the trace id, and every trace a lower ratio samples is sampled by a higher one.
 * This uses the algorithm the specification gives its successor, ProbabilitySampler (sdk.md
 * "ProbabilitySampler sampler algorithm", tracestate-probability-sampling.md): the randomness R
 * is the trace id's rightmost 56 bits (W3C Trace Context Level 2 §randomness-of-trace-id), the
 * rejection threshold T = (1 - ratio) * 2^56, and the span is sampled when R >= T. Both rules
 * hold, and the decision agrees with any SDK that implements ProbabilitySampler.
 */
export function traceIdRatio(ratio: number): Sampler {
  if (ratio >= 1) return alwaysOn;
  if (ratio <= 0) return alwaysOff;
  const threshold = BigInt(Math.round((1 - ratio) * 2 ** 56));
  return (traceId) => BigInt(`0x${traceId.slice(18)}`) >= threshold;
}

/** ParentBased(root): the caller's decision when there is one (remote parent sampled or not), else root's. */
export function parentBased(root: Sampler): Sampler {
  return (traceId, parentSampled) => (parentSampled === undefined ? root(traceId, undefined) : parentSampled);
}

/** The sampler OTEL_TRACES_SAMPLER names, with OTEL_TRACES_SAMPLER_ARG (default 1.0) for the ratio ones. */
export function samplerFor(config: Pick<Config, 'OTEL_TRACES_SAMPLER' | 'OTEL_TRACES_SAMPLER_ARG'>): Sampler {
  const ratio = config.OTEL_TRACES_SAMPLER_ARG ?? 1;
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return alwaysOn;
    case 'always_off':
      return alwaysOff;
    case 'traceidratio':
      return traceIdRatio(ratio);
    case 'parentbased_always_off':
      return parentBased(alwaysOff);
    case 'parentbased_traceidratio':
      return parentBased(traceIdRatio(ratio));
    case 'parentbased_always_on':
      return parentBasedAlwaysOn;
  }
}

/** The default: what the sidecar did before it had samplers (keep the caller's flag, sample new traces). */
export const parentBasedAlwaysOn: Sampler = parentBased(alwaysOn);
