import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Every way a fetch call can end must end its span exactly once, with the right error.type.

let gateway: SimulatedGateway;
let telemetry: TestTelemetry;
let deadPort: number; // a port that was just freed: nothing listens there

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 10_000 });
  const closed = await startSimulatedGateway();
  deadPort = closed.port;
  await closed.close();
  telemetry = setupTelemetry([
    { host: `127.0.0.1:${gateway.port}`, region: 'us' },
    { host: `127.0.0.1:${deadPort}`, region: 'us' },
  ]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
});
beforeEach(() => telemetry.reset());

function chat(body: Record<string, unknown>, init: RequestInit = {}, base = gateway.url): Promise<Response> {
  return fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'sim-key', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'count to twenty' }], ...body }),
    ...init,
  });
}

const stream = (sim: Record<string, unknown> = {}) => ({ stream: true, x_sim: { replyBytes: 20_000, ...sim } });

async function theSpan(): Promise<ReadableSpan> {
  const [span] = await telemetry.waitForSpans(1);
  await new Promise((r) => setTimeout(r, 20));
  expect(telemetry.spans()).toHaveLength(1);
  expect(telemetry.lifecycle.started).toBe(1);
  expect(telemetry.lifecycle.ended).toBe(1);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  return span;
}

describe('fetch: every span ends exactly once', () => {
  it('ends the span when the body is read to the end', async () => {
    const res = await chat(stream());
    await res.text();
    const span = await theSpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
  });

  it('ends the span when the reader cancels mid-stream, without marking an error', async () => {
    const res = await chat(stream({ mode: 'slow' }));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    const span = await theSpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['error.type']).toBeUndefined();
  });

  it('ends the span on an early break out of for await', async () => {
    const res = await chat(stream({ mode: 'slow' }));
    for await (const _chunk of res.body as unknown as AsyncIterable<Uint8Array>) break;
    await theSpan();
  });

  it('ends the span with error.type aborted when the signal aborts mid-stream', async () => {
    const controller = new AbortController();
    const res = await chat(stream({ mode: 'slow' }), { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await expect(reader.read()).rejects.toMatchObject({ name: 'AbortError' });
    const span = await theSpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('aborted');
  });

  it('ends the span with error.type aborted when the signal aborts before the response', async () => {
    const slowGateway = await startSimulatedGateway({ latencyMs: 500 });
    telemetry.instrumentation.setConfig({ hosts: [{ host: `127.0.0.1:${slowGateway.port}` }] });
    try {
      const controller = new AbortController();
      const pending = chat({}, { signal: controller.signal }, slowGateway.url);
      setTimeout(() => controller.abort(), 20);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      const span = await theSpan();
      expect(span.attributes['error.type']).toBe('aborted');
      expect(span.attributes['http.response.status_code']).toBeUndefined();
    } finally {
      telemetry.instrumentation.setConfig({
        hosts: [{ host: `127.0.0.1:${gateway.port}` }, { host: `127.0.0.1:${deadPort}` }],
      });
      await slowGateway.close();
    }
  });

  it('ends the span with error.type timeout when AbortSignal.timeout fires on a stalled stream', async () => {
    const res = await chat(stream({ mode: 'stall' }), { signal: AbortSignal.timeout(200) });
    await expect(res.text()).rejects.toMatchObject({ name: 'TimeoutError' });
    const span = await theSpan();
    expect(span.attributes['error.type']).toBe('timeout');
  });

  it('ends the span with the socket error when the connection resets mid-body', async () => {
    const res = await chat(stream({ mode: 'reset' }));
    await expect(res.text()).rejects.toThrow();
    const span = await theSpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('UND_ERR_SOCKET');
  });

  it('ends the span with the connect error when nothing listens', async () => {
    await expect(chat({}, {}, `http://127.0.0.1:${deadPort}`)).rejects.toThrow();
    const span = await theSpan();
    expect(span.attributes['error.type']).toBe('ECONNREFUSED');
  });

  it('ends the span when the response is dropped unread and garbage collected', async () => {
    await (async () => {
      const res = await chat({});
      expect(res.status).toBe(200);
    })();
    for (let i = 0; i < 20 && telemetry.spans().length === 0; i++) {
      globalThis.gc!();
      await new Promise((r) => setTimeout(r, 20));
    }
    const span = await theSpan();
    expect(span.attributes['http.response.status_code']).toBe(200);
  });

  it('ends the span after maxCallDurationMs when a body is held but never read', async () => {
    telemetry.instrumentation.setConfig({
      hosts: [{ host: `127.0.0.1:${gateway.port}` }],
      maxCallDurationMs: 150,
    });
    try {
      const res = await chat({});
      const span = await theSpan();
      expect(span.attributes['http.response.status_code']).toBe(200);
      // The body is still there for the application, untouched.
      expect(JSON.parse(await res.text()).request_id).toBeTypeOf('string');
      expect(telemetry.lifecycle.ended).toBe(1);
    } finally {
      telemetry.instrumentation.setConfig({
        hosts: [{ host: `127.0.0.1:${gateway.port}` }, { host: `127.0.0.1:${deadPort}` }],
      });
    }
  });

  it('ends one span when the application clones the response and reads both', async () => {
    const res = await chat({});
    const copy = res.clone();
    const [a, b] = await Promise.all([res.text(), copy.text()]);
    expect(a).toBe(b);
    const span = await theSpan();
    expect(span.attributes['assemblyai.request_id']).toBe(JSON.parse(a).request_id);
  });

  it('keeps spans started equal to spans ended over many mixed calls', async () => {
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) {
      const kind = i % 5;
      jobs.push(
        (async () => {
          if (kind === 0) return (await chat({})).text();
          if (kind === 1) return (await chat(stream())).arrayBuffer();
          if (kind === 2) {
            const r = await chat(stream({ mode: 'slow' }));
            return r.body!.cancel();
          }
          if (kind === 3) return chat({ x_sim: { status: 503 } }).then((r) => r.json());
          return chat(stream({ mode: 'reset' }))
            .then((r) => r.text())
            .catch(() => undefined);
        })(),
      );
    }
    await Promise.all(jobs);
    await telemetry.waitForSpans(30);
    expect(telemetry.lifecycle.started).toBe(30);
    expect(telemetry.lifecycle.ended).toBe(30);
    expect(telemetry.lifecycle.endedTwice).toEqual([]);
  });
});
