import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import * as undici from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { NODE_UNDICI_PUBLISHES_BODIES } from '../src/transports/undici';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Issue 10: every undici request to the gateway is observed, whatever the client and the order
// of registration, and (where Node's undici publishes bodies, Node >= 24.4) the application's
// Response is left exactly as fetch made it. On Node 22 the tests state what holds there.

const AT_WIRE = NODE_UNDICI_PUBLISHES_BODIES;
const KEY = 'sim-secret-key-0123456789';
const MODEL = 'claude-sonnet-4-6';

let gateway: SimulatedGateway;
let scripted: ScriptedGateway;
let telemetry: TestTelemetry;

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 30 });
  scripted = await startScriptedGateway();
  telemetry = setupTelemetry([
    { host: `127.0.0.1:${gateway.port}`, region: 'us' },
    { host: `127.0.0.1:${scripted.port}`, region: 'eu' },
  ]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
  await scripted.close();
});
beforeEach(() => {
  telemetry.reset();
  gateway.resetRateLimits();
  scripted.reset();
});

function chatBody(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, ...extra });
}

/** Exactly `count` spans, every one ended once. */
async function spans(count: number): Promise<ReadableSpan[]> {
  const found = await telemetry.waitForSpans(count);
  await new Promise((r) => setTimeout(r, 30));
  expect(telemetry.spans()).toHaveLength(count);
  expect(telemetry.lifecycle.started).toBe(telemetry.lifecycle.ended);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  return found;
}

/** Every design.md attribute a non-streamed chat call to the simulated gateway can tell. */
function expectFullChatSpan(
  span: ReadableSpan,
  body: { request_id: string; usage: { input_tokens: number; output_tokens: number } },
): void {
  expect(span.name).toBe(`chat ${MODEL}`);
  expect(span.status.code).toBe(SpanStatusCode.UNSET);
  expect(span.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'assemblyai',
    'gen_ai.request.model': MODEL,
    'gen_ai.request.max_tokens': 50,
    'gen_ai.response.model': MODEL,
    'gen_ai.response.finish_reasons': ['stop'],
    'gen_ai.usage.input_tokens': body.usage.input_tokens,
    'gen_ai.usage.output_tokens': body.usage.output_tokens,
    'server.address': '127.0.0.1',
    'server.port': gateway.port,
    'http.request.method': 'POST',
    'http.response.status_code': 200,
    'url.full': `${gateway.url}/v1/chat/completions`,
    'assemblyai.region': 'us',
    'assemblyai.request_id': body.request_id,
    'assemblyai.ratelimit.limit': 30,
    'assemblyai.ratelimit.remaining': 29,
  });
}

/** What a request the fetch wrapper did not see gives on Node 22: the head, not the body. */
function expectHeadOnlySpan(span: ReadableSpan): void {
  expect(span.status.code).toBe(SpanStatusCode.UNSET);
  expect(span.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'http.response.status_code': 200,
    'assemblyai.region': 'us',
    'assemblyai.ratelimit.limit': 30,
    'assemblyai.ratelimit.remaining': 29,
  });
  expect(span.attributes['assemblyai.request_id']).toBeUndefined();
}

describe('a fetch the wrapper never sees', () => {
  it('observes an openai client built before enable()', async () => {
    telemetry.instrumentation.disable();
    const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    telemetry.instrumentation.enable();
    const raw = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 50,
    });
    const [span] = await spans(1);
    if (AT_WIRE)
      expectFullChatSpan(
        span,
        raw as unknown as { request_id: string; usage: { input_tokens: number; output_tokens: number } },
      );
    else expectHeadOnlySpan(span);
  });

  it('observes a stream from an openai client built before enable()', async () => {
    telemetry.instrumentation.disable();
    const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    telemetry.instrumentation.enable();
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let lastUsage: { prompt_tokens?: number; completion_tokens?: number } | undefined;
    for await (const chunk of stream) if (chunk.usage) lastUsage = chunk.usage;
    const [span] = await spans(1);
    expect(span.attributes['http.response.status_code']).toBe(200);
    if (AT_WIRE) {
      expect(span.name).toBe(`chat ${MODEL}`);
      expect(span.attributes).toMatchObject({
        'gen_ai.request.stream': true,
        'gen_ai.response.finish_reasons': ['stop'],
        'gen_ai.usage.input_tokens': lastUsage!.prompt_tokens,
        'gen_ai.usage.output_tokens': lastUsage!.completion_tokens,
      });
      expect(span.attributes['gen_ai.response.id']).toMatch(/^chatcmpl-/);
    }
  });

  it('observes a fetch reference captured before enable()', async () => {
    telemetry.instrumentation.disable();
    const captured = globalThis.fetch;
    telemetry.instrumentation.enable();
    expect(captured).not.toBe(globalThis.fetch);
    const res = await captured(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: chatBody(),
    });
    const body = (await res.json()) as never;
    const [span] = await spans(1);
    if (AT_WIRE) expectFullChatSpan(span, body);
    else expectHeadOnlySpan(span);
  });
});

// npm undici's calls go through the global dispatcher, which on Node 22 is the Agent of Node's
// own undici 6 (no body channels): head-only spans there. A dispatcher of npm undici 7 (an Agent,
// a ProxyAgent) publishes the bodies on every Node.
describe("npm undici's own API", () => {
  it('observes undici.fetch', async () => {
    const res = await undici.fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: chatBody(),
    });
    const body = (await res.json()) as never;
    const [span] = await spans(1);
    if (AT_WIRE) expectFullChatSpan(span, body);
    else expectHeadOnlySpan(span);
  });

  it('observes undici.request with the model known at span start', async () => {
    const { body } = await undici.request(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: chatBody(),
    });
    const parsed = (await body.json()) as never;
    const [span] = await spans(1);
    if (AT_WIRE) expectFullChatSpan(span, parsed);
    else expectHeadOnlySpan(span);
    // undici.request() hands its string body to the channel as is: the model is known at once.
    expect(span.attributes['gen_ai.request.model']).toBe(MODEL);
  });

  it('observes every body on Node 22 too when the dispatcher is npm undici 7', async () => {
    const dispatcher = new undici.Agent();
    try {
      const { body } = await undici.request(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: KEY },
        body: chatBody(),
        dispatcher,
      });
      expectFullChatSpan((await spans(1))[0], (await body.json()) as never);
    } finally {
      await dispatcher.close();
    }
  });

  it('observes undici.stream and undici.pipeline', async () => {
    let text = '';
    await undici.stream(
      `${gateway.url}/v1/chat/completions`,
      { method: 'POST', headers: { authorization: KEY }, body: chatBody() },
      () =>
        new Writable({
          write(chunk, _encoding, done) {
            text += String(chunk);
            done();
          },
        }),
    );
    const [streamed] = await spans(1);
    if (AT_WIRE) expectFullChatSpan(streamed, JSON.parse(text));
    else expectHeadOnlySpan(streamed);
    telemetry.reset();
    gateway.resetRateLimits();

    let piped = '';
    await new Promise<void>((resolve, reject) => {
      const duplex = undici.pipeline(
        `${gateway.url}/v1/chat/completions`,
        { method: 'POST', headers: { authorization: KEY } },
        ({ body }) => body,
      );
      duplex.on('data', (chunk: Buffer) => (piped += String(chunk)));
      duplex.on('end', resolve).on('error', reject);
      duplex.end(chatBody());
    });
    const [pipelined] = await spans(1);
    if (AT_WIRE) expectFullChatSpan(pipelined, JSON.parse(piped));
    else expectHeadOnlySpan(pipelined);
  });

  it('gives one span per call through an undici Agent passed as a per-request dispatcher', async () => {
    const dispatcher = new undici.Agent();
    try {
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: KEY },
        body: chatBody(),
        dispatcher,
      } as unknown as RequestInit);
      const body = (await res.json()) as never;
      const [span] = await spans(1);
      if (AT_WIRE) expectFullChatSpan(span, body);
      else expect(span.attributes['assemblyai.request_id']).toBe((body as { request_id: string }).request_id);
    } finally {
      await dispatcher.close();
    }
  });

  it('observes calls through a custom global dispatcher (a proxy agent tunnelling through CONNECT)', async () => {
    const proxy = await startConnectProxy();
    const previous = undici.getGlobalDispatcher();
    const agent = new undici.ProxyAgent(proxy.url);
    undici.setGlobalDispatcher(agent);
    try {
      const viaUndici = (await (
        await undici.fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: KEY },
          body: chatBody(),
        })
      ).json()) as never;
      expectFullChatSpan((await spans(1))[0], viaUndici);
      telemetry.reset();
      gateway.resetRateLimits();
      const viaGlobalFetch = (await (
        await fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: KEY },
          body: chatBody(),
        })
      ).json()) as never;
      expectFullChatSpan((await spans(1))[0], viaGlobalFetch);
      expect(proxy.tunnels).toBeGreaterThanOrEqual(1);
    } finally {
      undici.setGlobalDispatcher(previous);
      await agent.close();
      await proxy.close();
    }
  });
});

describe('leaving a stream early', () => {
  // The openai SDK (5 and later) aborts its own request when a stream is left with `break`,
  // before it cancels the body: at the wire that is an abort like any other (the abort's
  // reason is the signal's). Through the tap (Node 22) the body's cancel arrives first.
  it('ends the span of an openai SDK stream left with break once, every choice unfinished', async () => {
    const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      x_sim: { mode: 'slow' },
    } as OpenAI.Chat.ChatCompletionCreateParamsStreaming);
    for await (const _chunk of stream) break;
    const [span] = await spans(1);
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['error']);
    if (AT_WIRE) expect(span.attributes['error.type']).toBe('aborted');
    else expect(span.attributes['error.type']).toBeUndefined();
  });

  it('gives an abort through the signal handed to the SDK error.type aborted', async () => {
    const controller = new AbortController();
    const client = new OpenAI({ apiKey: KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create(
      {
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        x_sim: { mode: 'slow' },
      } as OpenAI.Chat.ChatCompletionCreateParamsStreaming,
      { signal: controller.signal },
    );
    // The SDK ends the iteration quietly when its request is aborted.
    for await (const _chunk of stream) controller.abort();
    const [span] = await spans(1);
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['error']);
    if (AT_WIRE) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes['error.type']).toBe('aborted');
    }
  });
});

describe('bodies the application never reads', () => {
  it('gives both attempts of an openai SDK retry (429, then 200) their own request_id, status and rate-limit numbers', async () => {
    scripted.script(['rate_limited', 'ok']);
    const client = new OpenAI({ apiKey: KEY, baseURL: `${scripted.url}/v1`, maxRetries: 2 });
    const result = (await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
    })) as unknown as {
      request_id: string;
    };
    const [first, second] = (await spans(2)).sort(
      (a, b) => a.startTime[1] - b.startTime[1] + (a.startTime[0] - b.startTime[0]) * 1e9,
    );
    expect(scripted.requestIds).toHaveLength(2);
    expect(first.attributes).toMatchObject({
      'http.response.status_code': 429,
      'error.type': 'rate_limited',
      'assemblyai.error.code': 'rate_limited',
      'assemblyai.ratelimit.limit': 30,
      'assemblyai.ratelimit.remaining': 0,
      'assemblyai.region': 'eu',
    });
    expect(first.status.code).toBe(SpanStatusCode.ERROR);
    expect(second.attributes).toMatchObject({
      'http.response.status_code': 200,
      'assemblyai.request_id': result.request_id,
      'assemblyai.ratelimit.remaining': 29,
    });
    expect(second.attributes['error.type']).toBeUndefined();
    // The SDK cancels the 429's body unread: only the wire sees its request_id (Node >= 24.4).
    if (AT_WIRE) expect(first.attributes['assemblyai.request_id']).toBe(scripted.requestIds[0]);
    else expect(first.attributes['assemblyai.request_id']).toBeUndefined();
  });

  it('reads the error code and message of an error the application cancels unread', async () => {
    scripted.script(['rate_limited']);
    const res = await fetch(`${scripted.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: chatBody(),
    });
    expect(res.status).toBe(429);
    await res.body!.cancel();
    const [span] = await spans(1);
    expect(span.attributes['assemblyai.error.code']).toBe('rate_limited');
    if (AT_WIRE) {
      expect(span.attributes['assemblyai.request_id']).toBe(scripted.requestIds[0]);
      expect(span.attributes['assemblyai.error.message']).toBe('too many requests for this action');
    }
  });
});

describe.runIf(AT_WIRE)("the application's Response at the wire", () => {
  it('keeps Response.prototype, and the body stream is fetch own', async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: chatBody(),
    });
    expect(Object.getPrototypeOf(res)).toBe(Response.prototype);
    expect(Object.getOwnPropertyNames(res)).toEqual([]);
    expect(res.body!.constructor).toBe(ReadableStream);
    await res.json();
    await spans(1);
  });

  it('returns the very promise fetch returned', async () => {
    const inner: Promise<Response>[] = [];
    telemetry.instrumentation.disable();
    const native = globalThis.fetch;
    globalThis.fetch = function (this: unknown, ...args: Parameters<typeof fetch>) {
      const promise = Reflect.apply(native, this, args);
      inner.push(promise);
      return promise;
    };
    telemetry.instrumentation.enable();
    try {
      const outer = fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: KEY },
        body: chatBody(),
      });
      expect(outer).toBe(inner[0]);
      await (await outer).text();
      await spans(1);
    } finally {
      telemetry.instrumentation.disable();
      globalThis.fetch = native;
      telemetry.instrumentation.enable();
    }
  });

  it('decodes a gzip body on the side', async () => {
    scripted.script(['ok-gzip']);
    const res = await fetch(`${scripted.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: chatBody(),
    });
    const body = (await res.json()) as { request_id: string };
    const [span] = await spans(1);
    expect(span.attributes['assemblyai.request_id']).toBe(body.request_id);
    expect(span.attributes['gen_ai.usage.input_tokens']).toBe(12);
  });

  it('gives a followed redirect one span per request, and a manual redirect one span', async () => {
    scripted.script(['redirect', 'ok']);
    const res = await fetch(`${scripted.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: chatBody(),
    });
    const body = (await res.json()) as { request_id: string };
    const found = await spans(2);
    expect(found.map((s) => s.attributes['http.response.status_code']).sort()).toEqual([200, 307]);
    expect(
      found.find((s) => s.attributes['http.response.status_code'] === 200)!.attributes['assemblyai.request_id'],
    ).toBe(body.request_id);
    telemetry.reset();
    scripted.script(['redirect']);
    const manual = await fetch(`${scripted.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: chatBody(),
      redirect: 'manual',
    });
    expect(manual.status).toBe(307);
    await manual.arrayBuffer();
    const [span] = await spans(1);
    expect(span.attributes['http.response.status_code']).toBe(307);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('tells the application cancelling a stream (no error) from an abort (error.type aborted)', async () => {
    const stream = chatBody({ stream: true, x_sim: { mode: 'slow' } });
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: stream,
    });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    const [cancelled] = await spans(1);
    expect(cancelled.status.code).toBe(SpanStatusCode.UNSET);
    expect(cancelled.attributes['error.type']).toBeUndefined();
    telemetry.reset();

    const controller = new AbortController();
    const aborted = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY },
      body: stream,
      signal: controller.signal,
    });
    const abortedReader = aborted.body!.getReader();
    await abortedReader.read();
    controller.abort();
    await expect(abortedReader.read()).rejects.toThrow();
    const [span] = await spans(1);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('aborted');
  });
});

// ---------------------------------------------------------------------------------------------

interface ScriptedGateway {
  url: string;
  port: number;
  /** What the next requests get, in order; `ok` once the script is used up. */
  script(steps: ('ok' | 'ok-gzip' | 'rate_limited' | 'redirect')[]): void;
  /** The request_id of every response sent since the last reset. */
  requestIds: string[];
  reset(): void;
  close(): Promise<void>;
}

/** A gateway that answers a scripted sequence (the simulated one cannot do "429, then 200"). */
async function startScriptedGateway(): Promise<ScriptedGateway> {
  let steps: string[] = [];
  const requestIds: string[] = [];
  let remaining = 30;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const step = steps.shift() ?? 'ok';
      const requestId = randomUUID();
      requestIds.push(requestId);
      const limits = { 'x-ratelimit-limit': '30', 'x-ratelimit-reset': '42' };
      if (step === 'redirect') {
        res.writeHead(307, { location: '/v1/chat/completions', 'content-length': '0' }).end();
        return;
      }
      if (step === 'rate_limited') {
        const body = JSON.stringify({ request_id: requestId, message: 'too many requests for this action', code: 429 });
        res
          .writeHead(429, {
            ...limits,
            'x-ratelimit-remaining': '0',
            'retry-after-ms': '10',
            'content-type': 'application/json',
          })
          .end(body);
        return;
      }
      remaining--;
      const body = JSON.stringify({
        request_id: requestId,
        model: MODEL,
        request: { model: MODEL },
        choices: [{ message: { role: 'assistant', content: 'Paris.' }, finish_reason: 'stop' }],
        usage: { input_tokens: 12, output_tokens: 2, total_tokens: 14 },
      });
      const headers = { ...limits, 'x-ratelimit-remaining': String(remaining), 'content-type': 'application/json' };
      if (step === 'ok-gzip') res.writeHead(200, { ...headers, 'content-encoding': 'gzip' }).end(gzipSync(body));
      else res.writeHead(200, headers).end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    script: (next) => {
      steps = [...next];
    },
    requestIds,
    reset: () => {
      steps = [];
      requestIds.length = 0;
      remaining = 30;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A forward proxy that only tunnels (CONNECT), as undici's ProxyAgent uses it. */
async function startConnectProxy(): Promise<{ url: string; tunnels: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = { tunnels: 0 };
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    state.tunnels++;
    const [host, port] = String(req.url).split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get tunnels() {
      return state.tunnels;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
