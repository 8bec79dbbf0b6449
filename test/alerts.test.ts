import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { failIfMissingInCi, findTool, run } from './support/prometheus';

// The alert rules users deploy, checked and unit-tested by Prometheus's own promtool.

const ROOT = join(__dirname, '..');
const ALERTS = 'examples/prometheus/alerts.yml';
const CONFIG = 'examples/prometheus/prometheus.yml';
const TEST_DIR = 'test/prometheus';
const testFiles = readdirSync(join(ROOT, TEST_DIR))
  .filter((f) => f.endsWith('.test.yml'))
  .map((f) => `${TEST_DIR}/${f}`);

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[];
}
interface ExprTest {
  expr: string;
  exp_samples?: unknown[];
}
interface TestGroup {
  alert_rule_test?: AlertTest[];
  promql_expr_test?: ExprTest[];
}
const rules: Rule[] = (
  parse(readFileSync(join(ROOT, ALERTS), 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);
const alertRules = rules.filter((r): r is Rule & { alert: string } => r.alert !== undefined);
const recordingRules = rules.filter((r): r is Rule & { record: string } => r.record !== undefined);
const testGroups: TestGroup[] = testFiles.flatMap(
  (file) => (parse(readFileSync(join(ROOT, file), 'utf8')) as { tests: TestGroup[] }).tests,
);
const alertTests: AlertTest[] = testGroups.flatMap((t) => t.alert_rule_test ?? []);
const exprTests: ExprTest[] = testGroups.flatMap((t) => t.promql_expr_test ?? []);

describe('alerts.yml', () => {
  it('covers the gateway failure modes, each alert naming the model and region and carrying a fix', () => {
    expect(alertRules.map((r) => r.alert).sort()).toEqual([
      'LlmGatewayAuthFailures',
      'LlmGatewayFallbacksServing',
      'LlmGatewayHighLatency',
      'LlmGatewayRateLimitNearlyExhausted',
      'LlmGatewayRateLimited',
      'LlmGatewayServerErrors',
      'LlmGatewaySlowFirstChunk',
    ]);
    for (const rule of alertRules) {
      expect(rule.labels?.severity, rule.alert).toMatch(/^(warning|critical)$/);
      for (const field of ['summary', 'description'] as const) {
        expect(rule.annotations?.[field], `${rule.alert} ${field}`).toContain('{{ $labels.gen_ai_request_model }}');
        expect(rule.annotations?.[field], `${rule.alert} ${field}`).toContain('{{ $labels.assemblyai_region }}');
      }
      expect(rule.annotations?.description, rule.alert).toContain('Fix:');
      expect(rule.annotations?.runbook_url, rule.alert).toMatch(/^https:\/\/www\.assemblyai\.com\/docs\/llm-gateway\//);
      // Grouped by model and region, so one alert names one model in one region.
      expect(rule.expr, rule.alert).toMatch(/by \(job, (instance, )?gen_ai_request_model, assemblyai_region/);
    }
  });

  it('records the prompt-cache hit ratio by model and region, under a level:metric:operation name', () => {
    expect(recordingRules.map((r) => r.record)).toEqual([
      'job_model_region:gen_ai_client_cache_read_input_tokens:ratio_rate5m',
    ]);
    for (const rule of recordingRules) {
      expect(rule.record).toMatch(/^[a-z_]+:[a-z_]+:[a-z0-9_]+$/);
      expect(rule.expr, rule.record).toMatch(/by \(job, gen_ai_request_model, assemblyai_region\)/);
      // The counter's Prometheus name: `_total` for a monotonic sum, no unit suffix for `{token}`.
      expect(rule.expr, rule.record).toContain('gen_ai_client_inference_usage_cache_read_input_tokens_total');
      expect(
        exprTests.some((t) => t.expr.includes(rule.record) && (t.exp_samples ?? []).length > 0),
        `${rule.record} is tested`,
      ).toBe(true);
    }
  });

  it('has promtool tests where every alert fires and where it stays quiet', () => {
    for (const rule of alertRules) {
      const cases = alertTests.filter((t) => t.alertname === rule.alert);
      expect(
        cases.some((t) => (t.exp_alerts ?? []).length > 0),
        `${rule.alert} fires somewhere`,
      ).toBe(true);
      expect(
        cases.some((t) => (t.exp_alerts ?? []).length === 0),
        `${rule.alert} is quiet somewhere`,
      ).toBe(true);
    }
  });
});

const promtool = findTool('promtool');
failIfMissingInCi(promtool);

describe.runIf(promtool.path !== undefined)('promtool', () => {
  const bin = promtool.path!;

  it('accepts the rules (promtool check rules)', async () => {
    const { code, output } = await run(bin, ['check', 'rules', ALERTS], ROOT);
    expect(code, output).toBe(0);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('accepts the example scrape configuration and its rule file (promtool check config)', async () => {
    const { code, output } = await run(bin, ['check', 'config', CONFIG], ROOT);
    expect(code, output).toBe(0);
    expect(output).toContain('SUCCESS: 1 rule files found');
  });

  it('passes the rule unit tests (promtool test rules)', async () => {
    expect(testFiles.length).toBeGreaterThan(0);
    const { code, output } = await run(bin, ['test', 'rules', ...testFiles], ROOT);
    expect(code, output).toBe(0);
    expect(output.match(/SUCCESS/g)?.length, output).toBe(testFiles.length);
  });
});
