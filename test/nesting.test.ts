import { SpanKind } from '@opentelemetry/api';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runNode } from './support/child';
import { childEnv, REPO_ROOT } from './support/package-build';

// With @opentelemetry/instrumentation-undici and -http registered too, in either order, each
// gateway call is one GenAI span, and the HTTP span of its request is its child. Each order runs
// in a process of its own: which wrapper of http.request ends up outermost is process-wide.

interface AppSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  scope: string;
}

const APP = join(REPO_ROOT, 'test', 'support', 'apps', 'nesting-app.ts');
const GATEWAY_SCOPE = 'opentelemetry-instrumentation-llm-gateway';
const HTTP_SCOPES = ['@opentelemetry/instrumentation-http', '@opentelemetry/instrumentation-undici'];

async function runApp(order: string): Promise<{ spans: AppSpan[]; warnings: string[] }> {
  const result = await runNode(['--import', 'tsx', APP, order], { cwd: REPO_ROOT, env: childEnv() });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as { spans: AppSpan[]; warnings: string[] };
}

/** Client spans only: the simulated gateway runs in the app, and its server spans are not the point. */
function tree(spans: AppSpan[]) {
  const clients = spans.filter((s) => s.kind === SpanKind.CLIENT);
  const byId = new Map(clients.map((s) => [s.spanId, s]));
  return {
    genAi: clients.filter((s) => s.scope === GATEWAY_SCOPE),
    http: clients.filter((s) => HTTP_SCOPES.includes(s.scope)),
    parentOf: (span: AppSpan) => (span.parentSpanId === undefined ? undefined : byId.get(span.parentSpanId)),
  };
}

describe.each(['gateway-first', 'http-first'])('instrumentations registered %s', (order) => {
  it('gives each call one GenAI span whose child is the HTTP span of its request (fetch, axios, node-fetch, http.request, http.get)', async () => {
    const { spans, warnings } = await runApp(order);
    const { genAi, http, parentOf } = tree(spans);
    expect(genAi.map((s) => s.name).sort()).toEqual([
      'chat gpt-5',
      'chat gpt-5',
      'chat gpt-5',
      'chat gpt-5',
      'list_models',
    ]);
    expect(http).toHaveLength(5);
    for (const span of genAi) expect(parentOf(span)).toBeUndefined();
    for (const span of http) {
      const parent = parentOf(span);
      expect(parent?.scope).toBe(GATEWAY_SCOPE);
      expect(parent?.traceId).toBe(span.traceId);
    }
    // One HTTP child per GenAI span, and undici's is the fetch call's.
    expect(new Set(http.map((s) => s.parentSpanId)).size).toBe(5);
    expect(http.filter((s) => s.scope === '@opentelemetry/instrumentation-undici')).toHaveLength(1);
    expect(warnings).toEqual([]);
  });
});

it('warns, and nests later calls right, when a call is made in the same tick as the require that let the http instrumentation wrap node:http', async () => {
  // Registered first, this instrumentation learns of the http instrumentation's wrapper only
  // after that require returns; a call made before then has its GenAI span under the HTTP span.
  const { spans, warnings } = await runApp('gateway-first-sync');
  const { genAi, parentOf } = tree(spans);
  expect(genAi).toHaveLength(6);
  const underHttp = genAi.filter((s) => parentOf(s) !== undefined);
  expect(underHttp).toHaveLength(1);
  expect(parentOf(underHttp[0])?.scope).toBe('@opentelemetry/instrumentation-http');
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/node:http was wrapped by another instrumentation after this one/);
});
