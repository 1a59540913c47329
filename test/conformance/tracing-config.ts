/**
 * Holds docs/behaviour.md#trace-export and docs/behaviour.md#configuration: the OTEL_* variables
 * as the OpenTelemetry specification defines them, and a bad one stops the sidecar like any other
 * (exit 1, one stderr line naming it), never showing a header value, which is a credential.
 */
import { describe, expect, it } from 'vitest';
import { listeningLine, runUntilExit } from '../support/sidecar.ts';
import type { Conformance } from './context.ts';

export function tracingConfigurationTests(t: Conformance): void {
  describe.concurrent('bad trace configuration', () => {
    const cases: [Record<string, string>, string, string | undefined][] = [
      [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc is not supported'],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT', undefined],
      [{ OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER', undefined],
      [{ OTEL_TRACES_SAMPLER_ARG: '2' }, 'OTEL_TRACES_SAMPLER_ARG', undefined],
      [{ OTEL_EXPORTER_OTLP_HEADERS: 'api-key=%zzsecret-value-123' }, 'OTEL_EXPORTER_OTLP_HEADERS', undefined],
      [
        { OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'bad key=secret-value-123' },
        'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
        undefined,
      ],
      [
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:secret-value-123@collector:4318' },
        'OTEL_EXPORTER_OTLP_ENDPOINT',
        'must not carry credentials',
      ],
    ];
    for (const [env, variable, says] of cases) {
      it(`${JSON.stringify(env)} stops it before listening: exit 1, one stderr line naming ${variable}, no secret in it`, async () => {
        const exit = await runUntilExit(t.runtime, { TARGET: 'http://127.0.0.1:9', ...env });
        expect(exit.code, exit.stderr).toBe(1);
        const lines = exit.stderr.split('\n').filter((l) => l.trim() !== '');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(variable);
        if (says) expect(lines[0]).toContain(says);
        expect(exit.stderr).not.toContain('secret-value-123');
        expect(exit.stderr).not.toMatch(listeningLine);
      });
    }
  });
}
