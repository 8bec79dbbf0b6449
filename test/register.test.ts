import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { runNode } from './support/child';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver';
import { buildPackage, childEnv, REPO_ROOT, type PackageBuild } from './support/package-build';

// The zero-code start, end to end: `node --import <built register> app.mjs` exports over real
// OTLP/HTTP to a receiver in this test, which decodes what arrived.

const SPAN_KIND_CLIENT = 3;
const STATUS_UNSET = 0;
const APP = join(REPO_ROOT, 'examples', 'packaging', 'app.mjs');

let build: PackageBuild;
let gateway: SimulatedGateway;
let receiver: OtlpReceiver;

beforeAll(async () => {
  [build, gateway, receiver] = await Promise.all([buildPackage(), startSimulatedGateway(), startOtlpReceiver()]);
});
afterAll(async () => {
  await Promise.all([gateway?.close(), receiver?.close()]);
  build?.remove();
});

function appEnv(serviceName: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return childEnv({
    OTEL_SERVICE_NAME: serviceName,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS: `127.0.0.1:${gateway.port}`,
    GATEWAY_URL: gateway.url,
    ASSEMBLYAI_API_KEY: 'sim-secret-key-0123456789',
    ...extra,
  });
}

const registerEntry = () => join(build.dir, 'dist', 'esm', 'register.mjs');
const spansOf = (service: string) => receiver.spans.filter((s) => s.resource['service.name'] === service);
const genAiSpansOf = (service: string) =>
  spansOf(service).filter((s) => s.attributes['gen_ai.operation.name'] === 'chat');

function childrenOf(parent: ReceivedSpan, service: string): ReceivedSpan[] {
  return spansOf(service).filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);
}

describe.each([
  { protocol: 'http/protobuf', contentType: 'application/x-protobuf' },
  { protocol: 'http/json', contentType: 'application/json' },
])('--import register, exporting $protocol', ({ protocol, contentType }) => {
  const service = `register-${protocol.replace('/', '-')}`;

  it('exports each GenAI span with its attributes and its HTTP child span, and the metrics', async () => {
    const result = await runNode(['--import', registerEntry(), APP], {
      cwd: REPO_ROOT,
      env: appEnv(service, { OTEL_EXPORTER_OTLP_PROTOCOL: protocol, APP_EXIT_CODE: '3' }),
    });
    // The flush on exit keeps the application's exit code.
    expect(result.stderr).toBe('');
    expect(result.code).toBe(3);
    const calls = JSON.parse(result.stdout.trim()) as { fetchRequestId: string; streamResponseId: string };
    await receiver.waitFor(
      () => genAiSpansOf(service).length === 2 && receiver.metrics.some((m) => m.resource['service.name'] === service),
    );

    const paths = new Set(receiver.requests.filter((r) => r.contentType === contentType).map((r) => r.path));
    expect(paths).toContain('/v1/traces');
    expect(paths).toContain('/v1/metrics');

    const [fetchSpan, streamSpan] = ['fetch', 'stream'].map((which) =>
      genAiSpansOf(service).find((s) => (which === 'stream') === (s.attributes['gen_ai.request.stream'] === true)),
    );
    expect(fetchSpan).toMatchObject({
      name: 'chat claude-sonnet-4-6',
      kind: SPAN_KIND_CLIENT,
      status: { code: STATUS_UNSET },
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'assemblyai',
        'gen_ai.request.model': 'claude-sonnet-4-6',
        'gen_ai.request.max_tokens': 100,
        'gen_ai.response.model': 'claude-sonnet-4-6',
        'gen_ai.response.finish_reasons': ['stop'],
        'http.response.status_code': 200,
        'server.address': '127.0.0.1',
        'server.port': gateway.port,
        'assemblyai.region': 'us',
        'assemblyai.request_id': calls.fetchRequestId,
      },
    });
    expect(fetchSpan!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(streamSpan).toMatchObject({
      name: 'chat claude-sonnet-4-6',
      attributes: {
        'gen_ai.request.stream': true,
        'gen_ai.response.id': calls.streamResponseId,
        'http.response.status_code': 200,
      },
    });
    expect(streamSpan!.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);

    // Each GenAI span is the parent of exactly one HTTP client span: undici's for fetch,
    // the http instrumentation's for node:http.
    for (const [span, scope] of [
      [fetchSpan!, '@opentelemetry/instrumentation-undici'],
      [streamSpan!, '@opentelemetry/instrumentation-http'],
    ] as const) {
      const children = childrenOf(span, service);
      expect(children).toHaveLength(1);
      expect(children[0]).toMatchObject({ name: 'POST', kind: SPAN_KIND_CLIENT, scope });
      expect(children[0].attributes['http.response.status_code']).toBe(200);
    }

    const metrics = receiver.metrics.filter((m) => m.resource['service.name'] === service);
    const duration = metrics.find((m) => m.name === 'gen_ai.client.operation.duration');
    expect(duration).toMatchObject({ type: 'histogram', unit: 's' });
    expect(duration!.points.reduce((n, p) => n + (p.count ?? 0), 0)).toBe(2);
    expect(duration!.points[0].attributes).toMatchObject({
      'gen_ai.request.model': 'claude-sonnet-4-6',
      'assemblyai.region': 'us',
    });
    const tokens = metrics.find((m) => m.name === 'gen_ai.client.token.usage');
    expect(new Set(tokens!.points.map((p) => p.attributes['gen_ai.token.type']))).toEqual(new Set(['input', 'output']));
    expect(metrics.find((m) => m.name === 'assemblyai.ratelimit.remaining')?.type).toBe('gauge');
    expect(metrics.some((m) => m.name === 'http.client.request.duration')).toBe(true);
  });
});

it('flushes on SIGTERM and then exits by SIGTERM, as the application would have', async () => {
  const service = 'register-sigterm';
  const result = await runNode(['--import', registerEntry(), APP], {
    cwd: REPO_ROOT,
    env: appEnv(service, { APP_STAY_ALIVE: '1' }),
    // The spans are still in the batch processor (5 s delay) when the signal arrives.
    onFirstLine: (_line, child) => child.kill('SIGTERM'),
  });
  expect(result.signal).toBe('SIGTERM');
  await receiver.waitFor(() => genAiSpansOf(service).length === 2, 5000);
  for (const span of genAiSpansOf(service)) expect(childrenOf(span, service)).toHaveLength(1);
});
