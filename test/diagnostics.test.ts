import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { AssemblyAI } from 'assemblyai';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Each mistake from the gateway's troubleshooting guide, made by a real client against the
// simulated gateway, shows up as a diagnostic event on the call's span, and never with the key.

const API_KEY = 'sim-diagnostics-key-5f2c9a';
let gateway: SimulatedGateway;
let telemetry: TestTelemetry;

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 3 });
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

const chatUrl = () => `${gateway.url}/v1/chat/completions`;
const body = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'Say hi' }], ...extra });

async function post(
  payload: string,
  headers: Record<string, string> = { authorization: API_KEY },
  url = chatUrl(),
): Promise<Response> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: payload,
  });
  await res.text();
  return res;
}

async function diagnosticsOf(): Promise<{ span: ReadableSpan; ids: string[]; messages: string[] }> {
  const [span] = await telemetry.waitForSpans(1);
  const events = span.events.filter((e) => e.name === 'assemblyai.diagnostic');
  return {
    span: span,
    ids: events.map((e) => String(e.attributes!['assemblyai.diagnostic.id'])),
    messages: events.map((e) => String(e.attributes!['assemblyai.diagnostic.message'])),
  };
}

describe('diagnostics from the troubleshooting guide', () => {
  it('flags a request with no Authorization header', async () => {
    expect((await post(body(), {})).status).toBe(401);
    expect((await diagnosticsOf()).ids).toEqual(['auth.header_missing']);
  });

  it('flags a misspelled Authorisation header by name', async () => {
    expect((await post(body(), { Authorisation: API_KEY })).status).toBe(401);
    const { ids, messages } = await diagnosticsOf();
    expect(ids).toEqual(['auth.header_misspelled']);
    expect(messages[0]).toContain('"authorisation"');
  });

  it('flags the key sent as a query parameter', async () => {
    await post(body(), { authorization: API_KEY }, `${chatUrl()}?api_key=${API_KEY}`);
    const { ids, span } = await diagnosticsOf();
    expect(ids).toEqual(['auth.key_in_query']);
    expect(span.attributes['url.full']).toContain('api_key=REDACTED');
  });

  it('says nothing of the Bearer prefix the openai SDK sends when the call succeeds (the gateway accepts it)', async () => {
    const client = new OpenAI({ apiKey: API_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'hi' }] });
    const { span, ids } = await diagnosticsOf();
    expect(ids).toEqual([]);
    expect(span.events).toEqual([]);
  });

  it('warns about a Bearer prefix when authentication failed', async () => {
    const client = new OpenAI({ apiKey: `bad-${API_KEY}`, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await expect(
      client.chat.completions.create({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toThrow();
    const { span, ids } = await diagnosticsOf();
    expect(span.attributes['http.response.status_code']).toBe(401);
    expect(ids).toEqual(['auth.bearer_prefix']);
    expect(span.events[0].attributes!['assemblyai.diagnostic.severity']).toBe('warning');
  });

  it('warns when stream: true was asked but a plain JSON reply came back', async () => {
    await post(body({ stream: true, x_sim: { mode: 'json-instead-of-stream' } }));
    expect((await diagnosticsOf()).ids).toEqual(['request.stream_not_streamed']);
  });

  it('flags messages sent as a string', async () => {
    expect((await post(body({ messages: 'Say hi' }))).status).toBe(400);
    expect((await diagnosticsOf()).ids).toEqual(['request.messages_not_array']);
  });

  it('flags a request without a model', async () => {
    await post(JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }));
    expect((await diagnosticsOf()).ids).toEqual(['request.model_missing']);
  });

  it('flags a request with neither messages nor prompt', async () => {
    await post(JSON.stringify({ model: 'claude-sonnet-4-6' }));
    expect((await diagnosticsOf()).ids).toEqual(['request.messages_or_prompt_missing']);
  });

  it('flags max_tokens out of range', async () => {
    expect((await post(body({ max_tokens: 0 }))).status).toBe(400);
    expect((await diagnosticsOf()).ids).toEqual(['request.max_tokens_out_of_range']);
  });

  it('flags an unknown model (400) and a retired one (404), naming the model', async () => {
    await post(body({ model: 'claude-sonet-4-6' }));
    const unknown = await diagnosticsOf();
    expect(unknown.ids).toEqual(['model.unknown']);
    expect(unknown.messages[0]).toContain('"claude-sonet-4-6"');
    telemetry.reset();
    expect((await post(body({ model: 'claude-3-haiku-20240307' }))).status).toBe(404);
    expect((await diagnosticsOf()).ids).toEqual(['model.unknown']);
  });

  it('flags a 429 with the seconds until the window resets', async () => {
    for (let i = 0; i < 3; i++) await post(body());
    await telemetry.waitForSpans(3);
    telemetry.reset();
    expect((await post(body())).status).toBe(429);
    const { ids, messages } = await diagnosticsOf();
    expect(ids).toEqual(['ratelimit.exceeded']);
    expect(messages[0]).toMatch(/resets in \d+ s/);
    expect(messages[0]).toContain('"claude-sonnet-4-6"');
  });

  it('flags a 5xx with the advice to retry and the request_id to report', async () => {
    const res = await fetch(chatUrl(), {
      method: 'POST',
      headers: { authorization: API_KEY },
      body: body({ x_sim: { status: 503, envelope: 'flat' } }),
    });
    const { request_id } = (await res.json()) as { request_id: string };
    const { ids, messages } = await diagnosticsOf();
    expect(ids).toEqual(['gateway.server_error']);
    expect(messages[0]).toContain(request_id);
    expect(messages[0]).toContain('backoff');
  });

  it('finds nothing to say about a correct call (assemblyai SDK, raw key)', async () => {
    const client = new AssemblyAI({ apiKey: API_KEY, llmGatewayBaseUrl: gateway.url });
    await client.llmGateway.chatCompletions({
      model: 'claude-sonnet-4-6',
      messages: [{ role: 'user', content: 'hi' }],
    } as never);
    const { ids, span } = await diagnosticsOf();
    expect(ids).toEqual([]);
    expect(span.events).toEqual([]);
  });

  it('never puts the key in a diagnostic, a span, an event or a log record, whatever the mistake', async () => {
    await post(body(), { Authorisation: `Bearer ${API_KEY}` });
    await post(body(), { authorization: `Bearer bad-${API_KEY}` }, `${chatUrl()}?key=${API_KEY}&token=${API_KEY}`);
    await post(body({ messages: API_KEY }));
    await telemetry.waitForSpans(3);
    const serialized = JSON.stringify({
      spans: telemetry.spans().map((s) => ({ n: s.name, a: s.attributes, e: s.events, st: s.status })),
      logs: telemetry.logs().map((l) => ({ b: l.body, a: l.attributes })),
      metrics: await telemetry.metrics(),
    });
    expect(serialized).toContain('auth.bearer_prefix');
    expect(serialized).not.toContain(API_KEY);
  });
});
