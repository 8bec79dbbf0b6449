import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import axios from 'axios';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Lifecycle of the node:http transport: whatever the application does with the request or the
// response, and whatever the network does, the span ends exactly once, with the right cause.

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const API_KEY = 'sim-secret-key-0123456789';
let gateway: SimulatedGateway;
/** Answers after 500 ms, to act on a request before its response. */
let slowGateway: SimulatedGateway;
/** Accepts connections and destroys them: a socket hang-up before any response. */
let hangUp: net.Server;
let hangUpPort: number;
let telemetry: TestTelemetry;

beforeAll(async () => {
  gateway = await startSimulatedGateway({ chunkDelayMs: 5 });
  slowGateway = await startSimulatedGateway({ latencyMs: 500 });
  hangUp = net.createServer((socket) => socket.on('data', () => socket.destroy()));
  await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
  hangUpPort = (hangUp.address() as net.AddressInfo).port;
  telemetry = setupTelemetry([
    { host: `127.0.0.1:${gateway.port}` },
    { host: `127.0.0.1:${slowGateway.port}` },
    { host: `127.0.0.1:${hangUpPort}` },
  ]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await Promise.all([gateway.close(), slowGateway.close(), new Promise((resolve) => hangUp.close(resolve))]);
});
beforeEach(() => telemetry.reset());

function chatBody(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'Hello' }], ...extra });
}

/** POSTs a chat request with node:http and resolves with the request and its response head. */
function post(
  base: string,
  body: string,
  options: http.RequestOptions = {},
): { request: http.ClientRequest; response: Promise<http.IncomingMessage>; failure: Promise<Error> } {
  const request = http.request(`${base}/v1/chat/completions`, {
    method: 'POST',
    ...options,
    headers: { authorization: API_KEY, 'content-type': 'application/json', ...options.headers },
  });
  const failure = new Promise<Error>((resolve) => request.on('error', resolve));
  const response = new Promise<http.IncomingMessage>((resolve) => request.on('response', resolve));
  request.end(body);
  return { request, response, failure };
}

/** The one span of the test, once it ended; proves it ended exactly once. */
async function endedOnce(): Promise<ReadableSpan> {
  const [span] = await telemetry.waitForSpans(1);
  await sleep(30);
  expect(telemetry.spans()).toHaveLength(1);
  expect(telemetry.lifecycle.started).toBe(1);
  expect(telemetry.lifecycle.ended).toBe(1);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  return span;
}

function firstChunk(response: http.IncomingMessage): Promise<void> {
  return new Promise((resolve) => response.once('data', () => resolve()));
}

describe('the application ends the call early', () => {
  it('ends the span with aborted when an AbortSignal fires before the response', async () => {
    const controller = new AbortController();
    const { failure } = post(slowGateway.url, chatBody(), { signal: controller.signal });
    await sleep(50);
    controller.abort();
    expect((await failure).name).toBe('AbortError');
    const span = await endedOnce();
    expect(span.name).toBe('chat gpt-5-mini');
    expect(span.attributes['error.type']).toBe('aborted');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('ends the span with aborted when an AbortSignal fires mid-stream', async () => {
    const controller = new AbortController();
    const { response, failure } = post(gateway.url, chatBody({ stream: true, x_sim: { mode: 'slow' } }), {
      signal: controller.signal,
    });
    await firstChunk(await response);
    controller.abort();
    expect((await failure).name).toBe('AbortError');
    const span = await endedOnce();
    expect(span.attributes).toMatchObject({
      'error.type': 'aborted',
      'http.response.status_code': 200,
      'gen_ai.request.stream': true,
    });
  });

  it('ends the span with aborted when the application destroys the request mid-body', async () => {
    const { request, response } = post(gateway.url, chatBody({ stream: true, x_sim: { mode: 'slow' } }));
    await firstChunk(await response);
    request.destroy();
    const span = await endedOnce();
    expect(span.attributes['error.type']).toBe('aborted');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('ends the span as cancelled, without an error, when the application destroys the response', async () => {
    const { response } = post(gateway.url, chatBody({ stream: true, x_sim: { mode: 'slow' } }));
    const res = await response;
    await firstChunk(res);
    res.destroy();
    const span = await endedOnce();
    expect(span.attributes['error.type']).toBeUndefined();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['gen_ai.response.id']).toMatch(/^chatcmpl-/);
  });
});

describe('client timeouts', () => {
  it('ends the span with timeout when a request timeout destroys a stalled stream', async () => {
    const { request, response } = post(gateway.url, chatBody({ stream: true, x_sim: { mode: 'stall' } }), {
      timeout: 100,
    });
    request.on('timeout', () => request.destroy());
    (await response).on('data', () => {});
    const span = await endedOnce();
    expect(span.attributes['error.type']).toBe('timeout');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('ends the span with timeout when axios times out waiting for the response (its own timer)', async () => {
    const error = await axios
      .post(`${slowGateway.url}/v1/chat/completions`, JSON.parse(chatBody()), {
        headers: { authorization: API_KEY },
        timeout: 100,
      })
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('ECONNABORTED');
    const span = await endedOnce();
    expect(span.attributes['error.type']).toBe('timeout');
  });
});

describe('network failures', () => {
  it('ends the span with ECONNRESET when the socket hangs up before the response', async () => {
    const { failure } = post(`http://127.0.0.1:${hangUpPort}`, chatBody());
    expect((await failure).message).toBe('socket hang up');
    const span = await endedOnce();
    expect(span.attributes['error.type']).toBe('ECONNRESET');
    expect(span.attributes['http.response.status_code']).toBeUndefined();
  });

  it('ends the span with ECONNRESET when the gateway resets the connection mid-stream', async () => {
    const { response } = post(gateway.url, chatBody({ stream: true, x_sim: { mode: 'reset' } }));
    const res = await response;
    res.resume();
    await new Promise((resolve) => res.on('close', resolve));
    const span = await endedOnce();
    expect(span.attributes).toMatchObject({ 'error.type': 'ECONNRESET', 'http.response.status_code': 200 });
  });

  it('ends the span with ECONNREFUSED when nothing listens', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    telemetry.instrumentation.setConfig({ ...configOf(telemetry), hosts: [{ host: `127.0.0.1:${port}` }] });
    try {
      const { failure } = post(`http://127.0.0.1:${port}`, chatBody());
      expect(((await failure) as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
      const span = await endedOnce();
      expect(span.attributes['error.type']).toBe('ECONNREFUSED');
    } finally {
      telemetry.instrumentation.setConfig(configOf(telemetry));
    }
  });
});

describe('responses nobody reads', () => {
  it('ends the span of a response dropped unread once it is garbage collected', async () => {
    // In a function of its own so that nothing here keeps the request or response reachable.
    await (async () => {
      const { response } = post(gateway.url, chatBody(), { agent: false, headers: { connection: 'close' } });
      const res = await response;
      expect(res.statusCode).toBe(200);
    })();
    const deadline = Date.now() + 5000;
    while (telemetry.spans().length === 0 && Date.now() < deadline) {
      gc();
      await sleep(20);
    }
    const span = await endedOnce();
    expect(span.attributes).toMatchObject({ 'http.response.status_code': 200, 'gen_ai.request.model': 'gpt-5-mini' });
    expect(span.attributes['error.type']).toBeUndefined();
  });

  it('ends the span of an unread response kept past maxCallDurationMs', async () => {
    telemetry.instrumentation.setConfig({ ...configOf(telemetry), maxCallDurationMs: 50 });
    try {
      const { response } = post(gateway.url, chatBody());
      const res = await response;
      const span = await endedOnce();
      expect(span.attributes['http.response.status_code']).toBe(200);
      expect(res.readableFlowing).toBeNull();
      res.resume();
    } finally {
      telemetry.instrumentation.setConfig(configOf(telemetry));
    }
  });
});

it('counts a call once when the global fetch is a polyfill built on node:http', async () => {
  // A fetch over node:http that returns WHATWG Responses: the fetch transport observes the call,
  // and the http transport sees that it runs inside an observed call and stays out.
  const httpFetch = async (url: string, init: RequestInit): Promise<Response> => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = http.request(url, { method: init.method, headers: init.headers as Record<string, string> });
      request.on('response', resolve).on('error', reject);
      request.end(init.body as string);
    });
    const headers = Object.entries(res.headers).map(([name, value]) => [name, String(value)] as [string, string]);
    return new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, { status: res.statusCode, headers });
  };
  const nativeFetch = globalThis.fetch;
  telemetry.instrumentation.disable();
  globalThis.fetch = httpFetch as typeof fetch;
  telemetry.instrumentation.enable();
  try {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: API_KEY, 'content-type': 'application/json' },
      body: chatBody(),
    });
    await response.text();
    const span = await endedOnce();
    expect(span.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  } finally {
    telemetry.instrumentation.disable();
    globalThis.fetch = nativeFetch;
    telemetry.instrumentation.enable();
  }
});

/** The configuration setupTelemetry gave the instrumentation (setConfig replaces all of it). */
function configOf(t: TestTelemetry) {
  return {
    ...t.instrumentation.getConfig(),
    hosts: [gateway.port, slowGateway.port, hangUpPort].map((port) => ({ host: `127.0.0.1:${port}` })),
  };
}
