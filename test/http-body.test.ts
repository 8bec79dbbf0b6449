import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import axios from 'axios';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import nodeFetch from 'node-fetch';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// What the node:http transport does to bodies: nothing. The application gets the same bytes at
// its own pace and in its own flow mode, compressed bodies are decoded on the side, and the
// request body is read however it is written.

const API_KEY = 'sim-secret-key-0123456789';

/** A JSON reply larger than the parse window (usage is found in its tail). */
const JSON_REPLY = Buffer.from(
  JSON.stringify({
    request_id: 'req-fixture-0001',
    model: 'fixture-model',
    choices: [{ message: { role: 'assistant', content: 'lorem ipsum '.repeat(30_000) }, finish_reason: 'stop' }],
    usage: { input_tokens: 12, output_tokens: 34_567 },
  }),
);

/** An SSE reply of 400 chunks, each with a running usage, then [DONE]. */
const SSE_REPLY = Buffer.from(
  [
    ...Array.from({ length: 400 }, (_, i) =>
      JSON.stringify({
        id: 'chatcmpl-fixture',
        model: 'fixture-model',
        choices: [{ index: 0, delta: { content: `word${i} ` }, finish_reason: i === 399 ? 'stop' : null }],
        usage: { prompt_tokens: 12, completion_tokens: i + 1 },
      }),
    ),
    '[DONE]',
  ]
    .map((data) => `data: ${data}\n\n`)
    .join(''),
);

const FIXTURES = {
  json: {
    body: JSON_REPLY,
    contentType: 'application/json',
    usage: { input: 12, output: 34_567 },
    responseId: undefined,
  },
  sse: {
    body: SSE_REPLY,
    contentType: 'text/event-stream',
    usage: { input: 12, output: 400 },
    responseId: 'chatcmpl-fixture',
  },
} as const;
type FixtureName = keyof typeof FIXTURES;
type Encoding = 'identity' | 'gzip' | 'br' | 'deflate';

const ENCODERS: Record<Encoding, (body: Buffer) => Buffer> = {
  identity: (body) => body,
  gzip: (body) => zlib.gzipSync(body),
  br: (body) => zlib.brotliCompressSync(body),
  deflate: (body) => zlib.deflateSync(body),
};

/** Serves a fixture, encoded as asked, in 1000-byte writes with pauses: many push() calls. */
async function startFixtureServer(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const serve = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    for await (const _ of req) {
      // drain the request
    }
    const fixture = FIXTURES[req.headers['x-fixture'] as FixtureName];
    const encoding = req.headers['x-encoding'] as Encoding;
    const bytes = ENCODERS[encoding](fixture.body);
    res.writeHead(200, {
      'content-type': fixture.contentType,
      ...(encoding === 'identity' ? {} : { 'content-encoding': encoding }),
    });
    for (let offset = 0, n = 0; offset < bytes.length; offset += 1000, n++) {
      res.write(bytes.subarray(offset, offset + 1000));
      if (n % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
    }
    res.end();
  };
  // A request the server fails to answer (its client went away mid-body) ends its socket.
  const server = http.createServer((req, res) => void serve(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let fixtureServer: Awaited<ReturnType<typeof startFixtureServer>>;
let gateway: SimulatedGateway;
let telemetry: TestTelemetry;

beforeAll(async () => {
  fixtureServer = await startFixtureServer();
  gateway = await startSimulatedGateway({ rateLimit: 1000 });
  telemetry = setupTelemetry([{ host: `127.0.0.1:${fixtureServer.port}` }, { host: `127.0.0.1:${gateway.port}` }]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await Promise.all([fixtureServer.close(), gateway.close()]);
});
beforeEach(() => telemetry.reset());

const CHAT_BODY = JSON.stringify({ model: 'fixture-model', messages: [{ role: 'user', content: 'Hi' }] });

function fixtureHeaders(fixture: FixtureName, encoding: Encoding): Record<string, string> {
  return { authorization: API_KEY, 'content-type': 'application/json', 'x-fixture': fixture, 'x-encoding': encoding };
}

function rawRequest(url: string, headers: Record<string, string>, body: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', headers });
    request.on('response', resolve).on('error', reject);
    request.end(body);
  });
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function oneSpan(): Promise<ReadableSpan> {
  const [span] = await telemetry.waitForSpans(1);
  await sleep(20);
  expect(telemetry.spans()).toHaveLength(1);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  return span;
}

function expectFixtureSpan(span: ReadableSpan, fixture: FixtureName): void {
  const { usage, responseId } = FIXTURES[fixture];
  expect(span.attributes).toMatchObject({
    'gen_ai.response.model': 'fixture-model',
    'gen_ai.response.finish_reasons': ['stop'],
    'gen_ai.usage.input_tokens': usage.input,
    'gen_ai.usage.output_tokens': usage.output,
  });
  expect(span.attributes['gen_ai.response.id']).toBe(responseId);
  expect(span.attributes['error.type']).toBeUndefined();
}

describe('byte identity', () => {
  const cases = (['json', 'sse'] as const).flatMap((fixture) =>
    (['identity', 'gzip', 'br', 'deflate'] as const).map((encoding) => ({ fixture, encoding })),
  );

  it.each(cases)(
    'https.request gets the exact wire bytes of a $encoding $fixture body, and the span its content',
    async ({ fixture, encoding }) => {
      const response = await rawRequest(
        `${fixtureServer.url}/v1/chat/completions`,
        fixtureHeaders(fixture, encoding),
        CHAT_BODY,
      );
      const received = await readAll(response);
      expect(received.equals(ENCODERS[encoding](FIXTURES[fixture].body))).toBe(true);
      expectFixtureSpan(await oneSpan(), fixture);
    },
  );

  const decodingClients = {
    axios: async (fixture: FixtureName, encoding: Encoding) => {
      const response = await axios.post(`${fixtureServer.url}/v1/chat/completions`, CHAT_BODY, {
        headers: fixtureHeaders(fixture, encoding),
        responseType: 'arraybuffer',
      });
      return Buffer.from(response.data as ArrayBuffer);
    },
    'node-fetch': async (fixture: FixtureName, encoding: Encoding) => {
      const response = await nodeFetch(`${fixtureServer.url}/v1/chat/completions`, {
        method: 'POST',
        headers: fixtureHeaders(fixture, encoding),
        body: CHAT_BODY,
      });
      return response.buffer();
    },
  };
  const decodedCases = Object.keys(decodingClients).flatMap((client) =>
    (['json', 'sse'] as const).flatMap((fixture) =>
      (['gzip', 'br'] as const).map((encoding) => ({ client, fixture, encoding })),
    ),
  );

  it.each(decodedCases)(
    '$client decodes a $encoding $fixture body to the original bytes, unaffected',
    async ({ client, fixture, encoding }) => {
      const received = await decodingClients[client as keyof typeof decodingClients](fixture, encoding);
      expect(received.equals(FIXTURES[fixture].body)).toBe(true);
      expectFixtureSpan(await oneSpan(), fixture);
    },
  );
});

describe('flow and pace stay the application’s', () => {
  it('leaves a response paused: a consumer that attaches late gets every byte', async () => {
    const response = await rawRequest(
      `${fixtureServer.url}/v1/chat/completions`,
      fixtureHeaders('sse', 'gzip'),
      CHAT_BODY,
    );
    expect(response.readableFlowing).toBeNull();
    await sleep(100);
    expect(response.readableFlowing).toBeNull();
    expect(telemetry.spans()).toHaveLength(0);
    const received = await readAll(response);
    expect(zlib.gunzipSync(received).equals(SSE_REPLY)).toBe(true);
    expectFixtureSpan(await oneSpan(), 'sse');
  });

  it('keeps backpressure: an unread 2 MB stream stays unread, and the span open, until the application reads', async () => {
    const response = await rawRequest(
      `${gateway.url}/v1/chat/completions`,
      { authorization: API_KEY, 'content-type': 'application/json' },
      JSON.stringify({
        model: 'gpt-5-mini',
        messages: [{ role: 'user', content: 'Hi' }],
        stream: true,
        x_sim: { replyBytes: 2_000_000 },
      }),
    );
    await sleep(150);
    // Node stopped reading the socket once the response's buffer filled: nothing drained it.
    expect(response.readableFlowing).toBeNull();
    expect(response.readableLength).toBeGreaterThan(0);
    expect(response.readableLength).toBeLessThan(1_000_000);
    expect(telemetry.spans()).toHaveLength(0);
    const received = await readAll(response);
    expect(received.length).toBeGreaterThan(2_000_000);
    const span = await oneSpan();
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
  });
});

describe('compressed responses from the simulated gateway', () => {
  it.each([false, true])('gives the same span for gzip as for plain (stream: %s)', async (stream) => {
    const attributesFor = async (mode: string[]) => {
      telemetry.reset();
      const body = JSON.stringify({
        model: 'gpt-5',
        messages: [{ role: 'user', content: 'Hi' }],
        stream,
        stream_options: { include_usage: true },
        x_sim: { mode },
      });
      const response = await rawRequest(
        `${gateway.url}/v1/chat/completions`,
        { authorization: API_KEY, 'content-type': 'application/json', 'accept-encoding': 'gzip' },
        body,
      );
      expect(response.headers['content-encoding']).toBe(mode.includes('gzip') ? 'gzip' : undefined);
      await readAll(response);
      const { attributes } = await oneSpan();
      const {
        'assemblyai.request_id': _id,
        'gen_ai.response.id': _responseId,
        'assemblyai.ratelimit.remaining': _r,
        'assemblyai.ratelimit.reset': _reset,
        'gen_ai.response.time_to_first_chunk': _ttfc,
        'assemblyai.gateway.duration': _gatewayDuration,
        ...rest
      } = attributes;
      return rest;
    };
    const plain = await attributesFor([]);
    const gzipped = await attributesFor(['gzip']);
    expect(gzipped).toEqual(plain);
    expect(plain['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });
});

describe('request bodies', () => {
  it('reads the request from a body written one byte at a time', async () => {
    const body = JSON.stringify({
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 321,
      temperature: 0.5,
    });
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = http.request(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: API_KEY, 'content-type': 'application/json' },
      });
      request.on('response', resolve).on('error', reject);
      for (const byte of Buffer.from(body)) request.write(Buffer.of(byte));
      request.end();
    });
    await readAll(response);
    const span = await oneSpan();
    expect(span.name).toBe('chat gpt-5');
    expect(span.attributes).toMatchObject({
      'gen_ai.request.model': 'gpt-5',
      'gen_ai.request.max_tokens': 321,
      'gen_ai.request.temperature': 0.5,
    });
  });

  it('finds the model of a body far larger than the parse window at its end', async () => {
    const transcript = 'a long transcript '.repeat(20_000);
    const body = `{"messages":[{"role":"user","content":"${transcript}"}],"max_tokens":50,"model":"claude-sonnet-4-6"}`;
    const response = await rawRequest(
      `${gateway.url}/v1/chat/completions`,
      { authorization: API_KEY, 'content-type': 'application/json' },
      body,
    );
    await readAll(response);
    const span = await oneSpan();
    expect(span.attributes).toMatchObject({
      'gen_ai.request.model': 'claude-sonnet-4-6',
      'gen_ai.request.max_tokens': 50,
      'http.response.status_code': 200,
    });
  });

  it('observes http.get of /v1/models as list_models', async () => {
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${gateway.url}/v1/models`, resolve).on('error', reject);
    });
    const models = JSON.parse((await readAll(response)).toString()) as { data: unknown[] };
    expect(models.data.length).toBeGreaterThan(0);
    const span = await oneSpan();
    expect(span.name).toBe('list_models');
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'list_models',
      'http.request.method': 'GET',
      'http.response.status_code': 200,
    });
  });
});
