import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../../examples/simulated-gateway/server';
import { requestIdIn, type GatewayClient } from './clients';
import { setupTelemetry, type TestTelemetry } from './telemetry';

// The cases every client must pass against the simulated gateway: a call, a stream, a 429, a
// 401 and no key in telemetry. test/clients.test.ts runs them on the project's own clients,
// test/versions/client.cases.ts on each client version of the matrix.

const API_KEY = 'sim-secret-key-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ClientCaseOptions {
  /** How long to wait for a span; a call the instrumentation does not see fails after it. */
  spanWaitMs?: number;
  /** Skip every case, saying why in the suite's name. */
  skipReason?: string;
}

export function describeClientCases(clients: GatewayClient[], options: ClientCaseOptions = {}): void {
  const { spanWaitMs = 5000, skipReason } = options;
  let gateway: SimulatedGateway;
  let telemetry: TestTelemetry;

  beforeAll(async () => {
    gateway = await startSimulatedGateway({ rateLimit: 2, windowSeconds: 60 });
    telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}`, region: 'us' }]);
  });
  afterAll(async () => {
    telemetry.instrumentation.disable();
    await gateway.close();
  });
  beforeEach(() => {
    telemetry.reset();
    gateway.resetRateLimits();
  });

  async function oneSpan(): Promise<ReadableSpan> {
    const spans = await telemetry.waitForSpans(1, spanWaitMs);
    // Give a stray second span the chance to show up before asserting there is none.
    await new Promise((r) => setTimeout(r, 20));
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.lifecycle.started).toBe(telemetry.lifecycle.ended);
    return spans[0];
  }

  function expectCommon(span: ReadableSpan, model: string): void {
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.name).toBe(`chat ${model}`);
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'assemblyai',
      'gen_ai.request.model': model,
      'server.address': '127.0.0.1',
      'server.port': gateway.port,
      'http.request.method': 'POST',
      'url.full': `${gateway.url}/v1/chat/completions`,
      'assemblyai.region': 'us',
    });
  }

  /** The span's request_id is a UUID, and the one of the body when the client handed the body back. */
  function expectRequestId(span: ReadableSpan, bodies: string[]): void {
    expect(span.attributes['assemblyai.request_id']).toMatch(UUID);
    const fromBody = bodies.length > 0 ? requestIdIn(bodies.at(-1)!) : undefined;
    if (fromBody !== undefined) expect(span.attributes['assemblyai.request_id']).toBe(fromBody);
  }

  describe.skipIf(skipReason !== undefined).each(clients)(
    skipReason ? `$name (skipped: ${skipReason})` : '$name client',
    (client) => {
      it('turns a non-streamed call into one span with the body request_id, usage and rate-limit state', async () => {
        const model = 'claude-sonnet-4-6';
        const result = await client.chat({
          baseUrl: gateway.url,
          apiKey: API_KEY,
          model,
          maxTokens: 300,
          temperature: 0.2,
        });
        expect(result.ok).toBe(true);
        const body = JSON.parse(result.bodies[0]);
        const span = await oneSpan();
        expectCommon(span, model);
        expect(span.status.code).toBe(SpanStatusCode.UNSET);
        expect(span.attributes).toMatchObject({
          'gen_ai.request.max_tokens': 300,
          'gen_ai.request.temperature': 0.2,
          'gen_ai.response.model': model,
          'gen_ai.response.finish_reasons': ['stop'],
          'gen_ai.usage.input_tokens': body.usage.input_tokens ?? body.usage.prompt_tokens,
          'gen_ai.usage.output_tokens': body.usage.output_tokens ?? body.usage.completion_tokens,
          'http.response.status_code': 200,
          'assemblyai.request_id': body.request_id,
          'assemblyai.ratelimit.limit': 2,
          'assemblyai.ratelimit.remaining': 1,
        });
        expect(span.attributes['assemblyai.request_id']).toMatch(UUID);
        expect(span.attributes['assemblyai.ratelimit.reset']).toBeGreaterThan(0);
        expect(span.attributes['gen_ai.request.stream']).toBeUndefined();
        expect(span.attributes['error.type']).toBeUndefined();
      });

      it.runIf(client.canStream)(
        'turns a streamed call into one span with the chunk id, finish reason and last usage',
        async () => {
          const model = 'gpt-5-mini';
          const result = await client.chat({ baseUrl: gateway.url, apiKey: API_KEY, model, stream: true });
          expect(result.ok).toBe(true);
          const events = result.bodies[0].split('\n\n').filter((e) => e.startsWith('data: {'));
          const chunks = events.map((e) => JSON.parse(e.slice(6)));
          const lastUsage = chunks.filter((c) => c.usage).at(-1).usage;
          const span = await oneSpan();
          expectCommon(span, model);
          expect(span.attributes).toMatchObject({
            'gen_ai.request.stream': true,
            'gen_ai.response.id': chunks[0].id,
            'gen_ai.response.model': chunks[0].model,
            'gen_ai.response.finish_reasons': ['stop'],
            'gen_ai.usage.input_tokens': lastUsage.prompt_tokens,
            'gen_ai.usage.output_tokens': lastUsage.completion_tokens,
            'http.response.status_code': 200,
            'assemblyai.ratelimit.limit': 2,
          });
          expect(span.attributes['gen_ai.response.id']).toMatch(/^chatcmpl-/);
          expect(span.status.code).toBe(SpanStatusCode.UNSET);
        },
      );

      it('turns a 429 into one error span with rate_limited, retry-after and the body request_id', async () => {
        const model = 'gemini-2.5-flash';
        await client.chat({ baseUrl: gateway.url, apiKey: API_KEY, model });
        await client.chat({ baseUrl: gateway.url, apiKey: API_KEY, model });
        await telemetry.waitForSpans(2, spanWaitMs);
        telemetry.reset();
        const result = await client.chat({ baseUrl: gateway.url, apiKey: API_KEY, model });
        expect(result.ok).toBe(false);
        expect(result.status).toBe(429);
        const span = await oneSpan();
        expectCommon(span, model);
        expect(span.status.code).toBe(SpanStatusCode.ERROR);
        expect(span.attributes).toMatchObject({
          'http.response.status_code': 429,
          'error.type': 'rate_limited',
          'assemblyai.error.code': 'rate_limited',
          'assemblyai.error.message': 'too many requests for this action',
          'assemblyai.ratelimit.limit': 2,
          'assemblyai.ratelimit.remaining': -1,
        });
        expectRequestId(span, result.bodies);
        expect(span.attributes['assemblyai.retry_after']).toBeGreaterThan(0);
      });

      it('turns a 401 from a bad key into one error span with unauthorized and the body request_id', async () => {
        const model = 'claude-haiku-4-5-20251001';
        const result = await client.chat({ baseUrl: gateway.url, apiKey: 'bad-key-123', model });
        expect(result.status).toBe(401);
        const span = await oneSpan();
        expectCommon(span, model);
        expect(span.status.code).toBe(SpanStatusCode.ERROR);
        expect(span.attributes).toMatchObject({
          'http.response.status_code': 401,
          'error.type': 'unauthorized',
          'assemblyai.error.code': 'unauthorized',
          'assemblyai.error.message': 'Authentication error, API token missing/invalid',
        });
        expectRequestId(span, result.bodies);
      });

      it('never puts the API key in exported spans or metrics', async () => {
        await client.chat({ baseUrl: gateway.url, apiKey: API_KEY, model: 'claude-sonnet-4-6' });
        await client.chat({ baseUrl: gateway.url, apiKey: API_KEY, model: 'claude-sonnet-4-6', sim: { status: 500 } });
        await telemetry.waitForSpans(2, spanWaitMs);
        const serialized = JSON.stringify(
          telemetry.spans().map((s) => ({ a: s.attributes, e: s.events, st: s.status, n: s.name })),
        );
        expect(serialized).not.toContain(API_KEY);
        expect(JSON.stringify(await telemetry.metrics())).not.toContain(API_KEY);
      });
    },
  );
}
