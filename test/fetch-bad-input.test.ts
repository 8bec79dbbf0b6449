import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Bad or unusual input yields best-effort attributes and never an exception for the app.

let gateway: SimulatedGateway;
let telemetry: TestTelemetry;

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 10_000 });
  telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}`, region: 'eu' }]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
});
beforeEach(() => telemetry.reset());

const url = () => `${gateway.url}/v1/chat/completions`;
const headers = { authorization: 'sim-key', 'content-type': 'application/json' };
const ask = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'hello' }], ...extra });

async function theSpan(): Promise<ReadableSpan> {
  const [span] = await telemetry.waitForSpans(1);
  expect(telemetry.lifecycle.started).toBe(telemetry.lifecycle.ended);
  return span;
}

describe('fetch with bad or unusual input', () => {
  it('records a call whose request body is not JSON, with no model', async () => {
    const res = await fetch(url(), { method: 'POST', headers, body: 'model=gpt-5&not json{' });
    expect(res.status).toBe(400);
    await res.text();
    const span = await theSpan();
    expect(span.name).toBe('chat');
    expect(span.attributes['gen_ai.request.model']).toBeUndefined();
    expect(span.attributes['assemblyai.error.code']).toBe('invalid_request');
    expect(span.attributes['assemblyai.region']).toBe('eu');
  });

  it('reads the model from a Uint8Array body and from a Request object', async () => {
    await (await fetch(url(), { method: 'POST', headers, body: new TextEncoder().encode(ask()) })).text();
    await (await fetch(new Request(url(), { method: 'POST', headers, body: ask({ model: 'gpt-5' }) }))).text();
    const spans = await telemetry.waitForSpans(2);
    expect(spans.map((s) => s.attributes['gen_ai.request.model']).sort()).toEqual(['claude-sonnet-4-6', 'gpt-5']);
  });

  it('reads a gzip-encoded JSON response', async () => {
    const res = await fetch(url(), { method: 'POST', headers, body: ask({ x_sim: { mode: 'gzip' } }) });
    const body: any = await res.json();
    const span = await theSpan();
    expect(span.attributes['assemblyai.request_id']).toBe(body.request_id);
    expect(span.attributes['gen_ai.usage.output_tokens']).toBe(body.usage.output_tokens);
  });

  it('records an HTML 502 page from a proxy as bad_gateway, and the app still gets the page', async () => {
    const res = await fetch(url(), {
      method: 'POST',
      headers,
      body: ask({ x_sim: { status: 502, envelope: 'html' } }),
    });
    expect(await res.text()).toContain('502 Bad Gateway');
    const span = await theSpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes).toMatchObject({ 'error.type': 'bad_gateway', 'assemblyai.error.code': 'bad_gateway' });
    expect(span.attributes['assemblyai.request_id']).toBeUndefined();
  });

  it('records each error envelope with its code and message', async () => {
    const cases = [
      { envelope: 'seed', status: 422, code: 'unprocessable' },
      { envelope: 'flat', status: 503, code: 'upstream_unavailable' },
      { envelope: 'auth', status: 403, code: 'forbidden' },
      { envelope: 'documented', status: 404, code: 'not_found' },
      { envelope: 'empty', status: 504, code: 'timeout' },
    ];
    for (const c of cases) {
      telemetry.reset();
      const res = await fetch(url(), {
        method: 'POST',
        headers,
        body: ask({ x_sim: { status: c.status, envelope: c.envelope } }),
      });
      const text = await res.text();
      const span = await theSpan();
      expect(span.attributes['assemblyai.error.code'], c.envelope).toBe(c.code);
      expect(span.attributes['error.type'], c.envelope).toBe(c.code);
      if (c.envelope !== 'empty') expect(span.attributes['assemblyai.error.message'], c.envelope).toBeTypeOf('string');
      const bodyId = text ? (JSON.parse(text).request_id ?? JSON.parse(text).error?.request_id) : undefined;
      expect(span.attributes['assemblyai.request_id'], c.envelope).toBe(bodyId);
    }
  });

  it('keeps what a truncated stream told before it stopped', async () => {
    const res = await fetch(url(), {
      method: 'POST',
      headers,
      body: ask({ stream: true, x_sim: { mode: 'truncate' } }),
    });
    const text = await res.text();
    expect(text).not.toContain('[DONE]');
    const span = await theSpan();
    expect(span.attributes['gen_ai.response.id']).toMatch(/^chatcmpl-/);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('reads a 10 MB JSON response with bounded state and still finds request_id, model and usage', async () => {
    const res = await fetch(url(), { method: 'POST', headers, body: ask({ x_sim: { replyBytes: 10_000_000 } }) });
    const body: any = await res.json();
    expect(body.choices[0].message.content.length).toBe(10_000_000);
    const span = await theSpan();
    expect(span.attributes['assemblyai.request_id']).toBe(body.request_id);
    expect(span.attributes['gen_ai.response.model']).toBe('claude-sonnet-4-6');
    expect(span.attributes['gen_ai.usage.input_tokens']).toBe(body.usage.input_tokens);
    expect(span.attributes['gen_ai.usage.output_tokens']).toBe(body.usage.output_tokens);
  });

  it('records the stream-requested-but-JSON-returned reply as a normal JSON call', async () => {
    const res = await fetch(url(), {
      method: 'POST',
      headers,
      body: ask({ stream: true, x_sim: { mode: 'json-instead-of-stream' } }),
    });
    const body: any = await res.json();
    const span = await theSpan();
    expect(span.attributes['gen_ai.request.stream']).toBe(true);
    expect(span.attributes['assemblyai.request_id']).toBe(body.request_id);
  });

  it('takes request_id from an x-request-id header when the body has none', async () => {
    const res = await fetch(url(), {
      method: 'POST',
      headers,
      body: ask({ stream: true, x_sim: { mode: 'request-id-header' } }),
    });
    const id = res.headers.get('x-request-id');
    await res.text();
    const span = await theSpan();
    expect(id).toBeTruthy();
    expect(span.attributes['assemblyai.request_id']).toBe(id);
  });

  it('records list_models and understanding calls with their operation names', async () => {
    await (await fetch(`${gateway.url}/v1/models`)).json();
    await (
      await fetch(`${gateway.url}/v1/understanding`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          transcript_id: 't1',
          speech_understanding: { request: { translation: { target_languages: ['de'] } } },
        }),
      })
    ).text();
    const spans = await telemetry.waitForSpans(2);
    expect(spans.map((s) => [s.name, s.attributes['gen_ai.operation.name']])).toEqual([
      ['list_models', 'list_models'],
      ['understanding', 'understanding'],
    ]);
  });

  it('redacts query string values in url.full', async () => {
    await (await fetch(`${gateway.url}/v1/models?api_key=sk-secret-123&x=1`)).text();
    const span = await theSpan();
    expect(span.attributes['url.full']).toBe(`${gateway.url}/v1/models?api_key=REDACTED&x=REDACTED`);
  });
});
