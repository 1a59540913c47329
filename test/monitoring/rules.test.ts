/**
 * The Prometheus rules (deploy/k8s/monitoring/rules.yaml) as Prometheus' own tool sees them:
 * `promtool check rules` (syntax, types, templates) and `promtool test rules` (rules.test.yaml:
 * each alert fires when it should and stays silent when it should not). A copy with a threshold
 * moved must fail those unit tests, so they are known to look at the thresholds.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';
import { monitoringDir, readRuleGroups, rulesFile, run } from './monitoring.ts';

const dir = mkdtempSync(join(tmpdir(), 'sidecar-rules-'));
beforeAll(() => requireTool(systemTools.promtool), INSTALL_TIMEOUT_MS);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const promtool = (args: string[], cwd = monitoringDir) =>
  run('promtool', args, { cwd, timeout: 30_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code?: number | string; stdout?: string; stderr?: string }) => {
      // Not installed was refused in beforeAll (requireTool): installed as root, else one line naming it.
      if (error.code === 'ENOENT') throw new Error('promtool is not on PATH');
      return { code: Number(error.code), output: `${error.stdout ?? ''}${error.stderr ?? ''}` };
    },
  );

describe('the Prometheus rules', () => {
  it('pass promtool check rules', async () => {
    const { code, output } = await promtool(['check', 'rules', 'rules.yaml']);
    const count = readRuleGroups().reduce((n, group) => n + group.rules.length, 0);
    expect(output).toContain(`SUCCESS: ${count} rules found`);
    expect(code).toBe(0);
  });

  it('pass their unit tests (promtool test rules rules.test.yaml)', async () => {
    const { code, output } = await promtool(['test', 'rules', 'rules.test.yaml']);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  });

  it('have a unit test naming every alert, both firing and silent', () => {
    const tests = parseTests();
    for (const alert of readRuleGroups().flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])))) {
      const cases = tests.filter((t) => t.alertname === alert);
      expect(
        cases.some((t) => (t.exp_alerts?.length ?? 0) > 0),
        `${alert} fires in some test`,
      ).toBe(true);
      expect(
        cases.some((t) => (t.exp_alerts?.length ?? 0) === 0),
        `${alert} stays silent in some test`,
      ).toBe(true);
    }
  });

  it.each([
    ['SidecarUpstreamErrors at 10 % instead of 1 %', '> 0.01\n        for: 10m', '> 0.1\n        for: 10m'],
    [
      'the fast burn without its 5-minute window',
      'and namespace_app:sidecar_request_errors:ratio_rate5m > (14.4 * 0.001)',
      'or namespace_app:sidecar_request_errors:ratio_rate5m > (14.4 * 0.001)',
    ],
    ['certificates alerted at 7 days instead of 14', '< 14 * 24 * 3600', '< 7 * 24 * 3600'],
  ])('the unit tests catch a broken rule: %s', async (_what, from, to) => {
    const original = readFileSync(rulesFile, 'utf8');
    expect(original).toContain(from);
    writeFileSync(join(dir, 'rules.yaml'), original.replace(from, to));
    copyFileSync(join(monitoringDir, 'rules.test.yaml'), join(dir, 'rules.test.yaml'));
    const { code, output } = await promtool(['test', 'rules', 'rules.test.yaml'], dir);
    expect(output).toContain('FAILED');
    expect(code).not.toBe(0);
  });
});

function parseTests(): { alertname: string; exp_alerts?: unknown[] }[] {
  const { tests } = parse(readFileSync(join(monitoringDir, 'rules.test.yaml'), 'utf8')) as {
    tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
  };
  return tests.flatMap((t) => t.alert_rule_test ?? []);
}
