import { createServer, type Server } from 'node:http';
import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NODE_UNDICI_PUBLISHES_BODIES } from '../src/transports/undici';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Edge cases of the fetch transport: credentials in URLs, idle calls, clones, locked bodies,
// streamed Request bodies, and errors inside a successful stream.

let gateway: SimulatedGateway;
let slowGateway: SimulatedGateway;
let errorServer: Server;
let errorPort: number;
let telemetry: TestTelemetry;
let headersSeenAt: number | undefined;

const hosts = () => [
  { host: `127.0.0.1:${gateway.port}` },
  { host: `127.0.0.1:${slowGateway.port}` },
  { host: `127.0.0.1:${errorPort}` },
];

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 10_000, chunkDelayMs: 0 });
  slowGateway = await startSimulatedGateway({ latencyMs: 2500 });
  // A 200 stream whose upstream fails mid-answer, and a server that notes when headers arrive.
  errorServer = createServer((req, res) => {
    headersSeenAt = performance.now();
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"id":"chatcmpl-e","model":"gpt-5","choices":[{"index":0,"delta":{"content":"Par"}}]}\n\n');
      res.end(
        'data: {"error":{"code":"upstream_unavailable","message":"provider went away"},"request_id":"r-err"}\n\n',
      );
    });
  });
  await new Promise<void>((r) => errorServer.listen(0, '127.0.0.1', r));
  errorPort = (errorServer.address() as { port: number }).port;
  telemetry = setupTelemetry(hosts());
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  errorServer.closeAllConnections();
  errorServer.close();
  await Promise.all([gateway.close(), slowGateway.close()]);
});
beforeEach(() => telemetry.reset());

const body = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('fetch edge cases', () => {
  it('keeps URL credentials out of the span status when fetch rejects the URL', async () => {
    const url = `http://user:sk_live_SECRET@127.0.0.1:${gateway.port}/v1/chat/completions?key=sk_live_SECRET`;
    await expect(fetch(url, { method: 'POST', body: body() })).rejects.toThrow();
    const [span] = await telemetry.waitForSpans(1);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(JSON.stringify({ s: span.status, a: span.attributes })).not.toContain('SECRET');
  });

  it('ends a call that gets no response within maxCallDurationMs as a timeout, not a fast success', async () => {
    telemetry.instrumentation.setConfig({ hosts: hosts(), maxCallDurationMs: 400 });
    try {
      const pending = fetch(`${slowGateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'k' },
        body: body(),
      });
      const [span] = await telemetry.waitForSpans(1, 5000);
      expect(span.attributes['error.type']).toBe('timeout');
      const durationMs = span.duration[0] * 1000 + span.duration[1] / 1e6;
      expect(durationMs).toBeGreaterThanOrEqual(390);
      // The application still gets its response, untouched.
      expect((await pending).status).toBe(200);
    } finally {
      telemetry.instrumentation.setConfig({ hosts: hosts() });
    }
  });

  it('does not cut a stream that keeps sending past maxCallDurationMs', async () => {
    telemetry.instrumentation.setConfig({ hosts: hosts(), maxCallDurationMs: 300 });
    try {
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'k' },
        body: body({
          stream: true,
          x_sim: { mode: 'slow' },
          messages: [{ role: 'user', content: 'tell me a long story about the sea and the wind' }],
        }),
      });
      const started = performance.now();
      await res.text();
      expect(performance.now() - started).toBeGreaterThan(300);
      const [span] = await telemetry.waitForSpans(1);
      expect(span.attributes['error.type']).toBeUndefined();
      expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
    } finally {
      telemetry.instrumentation.setConfig({ hosts: hosts() });
    }
  });

  it.runIf(!NODE_UNDICI_PUBLISHES_BODIES)(
    'keeps the span open while the application reads only a clone of a dropped response',
    async () => {
      const copy = await (async () => {
        const res = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: 'k' },
          body: body(),
        });
        return res.clone();
      })();
      for (let i = 0; i < 5; i++) {
        globalThis.gc!();
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(telemetry.spans()).toHaveLength(0);
      const { request_id } = (await copy.json()) as { request_id: string };
      const [span] = await telemetry.waitForSpans(1);
      expect(span.attributes['assemblyai.request_id']).toBe(request_id);
    },
  );

  it.runIf(NODE_UNDICI_PUBLISHES_BODIES)(
    'at the wire, ends the span of a dropped response once its body arrived, and a clone still reads it',
    async () => {
      const copy = await (async () => {
        const res = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: 'k' },
          body: body(),
        });
        return res.clone();
      })();
      for (let i = 0; i < 5; i++) {
        globalThis.gc!();
        await new Promise((r) => setTimeout(r, 10));
      }
      const [span] = await telemetry.waitForSpans(1);
      const { request_id } = (await copy.json()) as { request_id: string };
      expect(span.attributes['assemblyai.request_id']).toBe(request_id);
      expect(span.status.code).not.toBe(2);
    },
  );

  it('rejects text() as native fetch does when the application holds a reader of the body', async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'k' },
      body: body(),
    });
    const reader = res.body!.getReader();
    await expect(res.text()).rejects.toThrow(TypeError);
    const { done } = await reader.read();
    expect(done).toBe(false);
    await reader.cancel();
    await telemetry.waitForSpans(1);
  });

  it('returns a rejected promise, not a throw, when a stream is read whole twice', async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'k' },
      body: body({ stream: true }),
    });
    const first = res.text();
    const second = res.text();
    await expect(second).rejects.toThrow(TypeError);
    expect(await first).toContain('[DONE]');
  });

  it('sends a Request with a streamed body at once, and still learns its model', async () => {
    const encoder = new TextEncoder();
    const upload = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('{"model":"claude-opus-4-6","messages":[{"role":"user","content":"'));
        await new Promise((r) => setTimeout(r, 400));
        controller.enqueue(encoder.encode('hi"}]}'));
        controller.close();
      },
    });
    const request = new Request(`http://127.0.0.1:${errorPort}/v1/chat/completions`, {
      method: 'POST',
      body: upload,
      duplex: 'half',
    });
    const sentAt = performance.now();
    headersSeenAt = undefined;
    const res = await fetch(request);
    expect(headersSeenAt! - sentAt).toBeLessThan(300);
    await res.text();
    const [span] = await telemetry.waitForSpans(1);
    expect(span.attributes['gen_ai.request.model']).toBe('claude-opus-4-6');
    expect(span.name).toBe('chat claude-opus-4-6');
  });

  it('records an error event inside a 200 stream as a failed call', async () => {
    const res = await fetch(`http://127.0.0.1:${errorPort}/v1/chat/completions`, {
      method: 'POST',
      body: body({ stream: true }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const [span] = await telemetry.waitForSpans(1);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes).toMatchObject({
      'error.type': 'upstream_unavailable',
      'assemblyai.error.code': 'upstream_unavailable',
      'assemblyai.error.message': 'provider went away',
      'assemblyai.request_id': 'r-err',
    });
  });
});

describe('json() on a body that is not JSON', () => {
  it('rejects with the same SyntaxError as native json(), and keeps the request_id of a cut body', async () => {
    const read = async () => {
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'k' },
        body: body({ x_sim: { mode: 'truncate' } }),
      });
      return res.json().then(
        () => 'parsed',
        (error: Error) => `${error.name}: ${error.message}`,
      );
    };
    telemetry.instrumentation.disable();
    const native = await read();
    telemetry.instrumentation.enable();
    telemetry.reset();
    const observed = await read();
    expect(native).toMatch(/^SyntaxError/);
    // Each response differs in length (its request_id, its timings): compare the error, not where.
    const where = /\d+/g;
    expect(observed.replace(where, 'N')).toBe(native.replace(where, 'N'));
    const [span] = await telemetry.waitForSpans(1);
    expect(span.attributes['assemblyai.request_id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });
});
