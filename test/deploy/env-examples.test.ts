/**
 * The commented examples in the sidecar's env (deploy/k8s/base/deployment.yaml), "Protecting the
 * app", the edge limits and the OTLP endpoint, must work when a user uncomments them: every name a variable
 * src/config.ts reads, every value one it accepts, and a limit and an endpoint actually set.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvVar } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configVariables, loadConfig } from '../../src/config.ts';
import { repoRoot } from './project.ts';

describe('the commented env examples in the Deployment (MAX_CONCURRENT_REQUESTS, the edge limits, the OTLP endpoint)', () => {
  it('names only variables the sidecar reads, and loads once uncommented', () => {
    const text = readFileSync(join(repoRoot, 'deploy/k8s/base/deployment.yaml'), 'utf8');
    // The commented env entries: "# - name: X" and the "#   value: ..." lines under them.
    const uncommented = [...text.matchAll(/^\s*# (- name: [A-Z_]+|  value: .*)$/gm)].map((m) => m[1]).join('\n');
    const example = parse(uncommented) as EnvVar[];
    expect(example.map((v) => v.name)).toEqual([
      'MAX_CONCURRENT_REQUESTS',
      'MAX_QUEUED_REQUESTS',
      'QUEUE_TIMEOUT_MS',
      'MAX_REQUEST_BODY_BYTES',
      'RATE_LIMIT_RPS',
      'RATE_LIMIT_BURST',
      'ALLOW_CIDRS',
      'TRUSTED_PROXIES',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
    ]);
    for (const { name } of example) expect(configVariables).toContain(name);
    const config = loadConfig(Object.fromEntries(example.map((v) => [v.name, v.value])));
    expect(config.MAX_CONCURRENT_REQUESTS).toBeGreaterThan(0);
    expect(config.OTEL_EXPORTER_OTLP_ENDPOINT).toBeDefined();
    expect([config.MAX_REQUEST_BODY_BYTES, config.RATE_LIMIT_RPS, config.ALLOW_CIDRS.size]).not.toContain(0);
    // externalTrafficPolicy: Local keeps the client's address: no proxy's X-Forwarded-For to believe.
    expect(config.TRUSTED_PROXIES.size).toBe(0);
  });
});
