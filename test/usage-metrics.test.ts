import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Attributes } from '@opentelemetry/api';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import {
  CLIENTS,
  forClient,
  sentFacts,
  viaFetch,
  viaOpenai,
  type CallTarget,
  type ClientUnderTest,
} from './support/gateway-calls';
import { freshMetrics, histogramPoints, metric, sumPoints, where, without } from './support/metric-points';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Issue 12, Must show 3: token points only for calls that did not fail (a 200 reporting 0 records
// 0), the usage-detail counters whatever OTEL_SEMCONV_STABILITY_OPT_IN says, and the opt-in
// time_per_output_chunk histogram.

const KEY = 'sim-secret-key-metrics-19ad';
const DURATION = 'gen_ai.client.operation.duration';
const TOKEN_USAGE = 'gen_ai.client.token.usage';
const INFERENCE_DURATION = 'gen_ai.client.inference.duration';
const CACHE_READ = 'gen_ai.client.inference.usage.cache_read.input_tokens';
const CACHE_WRITE = 'gen_ai.client.inference.usage.cache_write.input_tokens';
const REASONING = 'gen_ai.client.inference.usage.reasoning.output_tokens';
const TIME_PER_CHUNK = 'gen_ai.client.operation.time_per_output_chunk';

let gateway: SimulatedGateway;
/** One request per model per window: the second call of a model is a real 429. */
let limited: SimulatedGateway;
/** Answers 200 with 0 output tokens: the simulated gateway always answers at least one token. */
let zero: ZeroTokenGateway;
let telemetry: TestTelemetry;
const hosts = () => [
  { host: `127.0.0.1:${gateway.port}`, region: 'us' },
  { host: `127.0.0.1:${limited.port}`, region: 'us' },
  { host: `127.0.0.1:${zero.port}`, region: 'eu' },
];
const target = (g: { url: string } = gateway): CallTarget => ({ baseUrl: g.url, apiKey: KEY });
const label = (c: ClientUnderTest) => `${c.name} ${c.stream ? 'streamed' : 'JSON'}`;
const WITH_LABELS = CLIENTS.map((c) => ({ ...c, label: label(c) }));

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 1000 });
  limited = await startSimulatedGateway({ rateLimit: 1, windowSeconds: 60 });
  zero = await startZeroTokenGateway();
  telemetry = setupTelemetry(hosts());
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await Promise.all([gateway.close(), limited.close(), zero.close()]);
});
beforeEach(() => {
  telemetry.reset();
  limited.resetRateLimits();
});

/** Waits for `count` spans, each ended once. */
async function spans(count: number): Promise<void> {
  await telemetry.waitForSpans(count);
  await new Promise((r) => setTimeout(r, 20));
  expect(telemetry.spans()).toHaveLength(count);
  expect(telemetry.lifecycle.started).toBe(count);
  expect(telemetry.lifecycle.ended).toBe(count);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
}

describe.each(WITH_LABELS)('token points, $label', (client) => {
  it('a 429 records no token point, only its duration with error.type', async () => {
    const collect = freshMetrics(telemetry);
    const body = forClient(client, { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] });
    expect((await client.call(target(limited), body)).status).toBe(200);
    expect((await client.call(target(limited), body)).status).toBe(429);
    await spans(2);

    const all = await collect();
    const duration = histogramPoints(all, DURATION);
    expect(where(duration, { 'error.type': 'rate_limited' }).map((p) => p.value.count)).toEqual([1]);
    expect(where(duration, { 'error.type': undefined }).map((p) => p.value.count)).toEqual([1]);
    // Only the 200's input and output points: the 429 has no token counts, not zero.
    const tokens = histogramPoints(all, TOKEN_USAGE);
    expect(tokens).toHaveLength(2);
    for (const point of tokens) {
      expect(point.value.count).toBe(1);
      expect(point.attributes).not.toHaveProperty('error.type');
    }
    expect(tokens.map((p) => p.value.sum)).not.toContain(0);
  });

  it('a 200 reporting 0 output tokens records 0', async () => {
    const collect = freshMetrics(telemetry);
    const body = forClient(client, { model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'hi' }] });
    const result = await client.call(target(zero), body);
    expect(result.ok).toBe(true);
    const usage = sentFacts(result.text).usage!;
    expect(usage.completion_tokens).toBe(0);
    await spans(1);
    expect(telemetry.spans()[0].attributes['gen_ai.usage.output_tokens']).toBe(0);

    const tokens = histogramPoints(await collect(), TOKEN_USAGE);
    const output = where(tokens, { 'gen_ai.token.type': 'output' });
    expect(output).toHaveLength(1);
    expect(output[0].value).toMatchObject({ count: 1, sum: 0 });
    expect(where(tokens, { 'gen_ai.token.type': 'input' })[0].value).toMatchObject({
      count: 1,
      sum: usage.prompt_tokens,
    });
  });
});

describe('the usage-detail counters', () => {
  const saved = process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
  afterEach(() => {
    if (saved === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    else process.env.OTEL_SEMCONV_STABILITY_OPT_IN = saved;
    telemetry.instrumentation.setConfig({ hosts: hosts() });
  });

  it.each([
    { optIn: undefined, callPoints: TOKEN_USAGE },
    { optIn: 'gen_ai_latest_experimental', callPoints: INFERENCE_DURATION },
    { optIn: 'gen_ai_latest_experimental/dup', callPoints: TOKEN_USAGE },
  ])(
    'add the cache-read, cache-write and reasoning counts with OTEL_SEMCONV_STABILITY_OPT_IN=$optIn',
    async ({ optIn }) => {
      if (optIn === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
      else process.env.OTEL_SEMCONV_STABILITY_OPT_IN = optIn;
      telemetry.instrumentation.setConfig({ hosts: hosts() });

      for (const client of CLIENTS) {
        telemetry.reset();
        const collect = freshMetrics(telemetry);
        // Write a prefix to the cache, then read it back; reason on both.
        const messages = [
          { role: 'system', content: `Rules ${randomUUID()}: be brief.`, cache_control: { type: 'ephemeral' } },
          { role: 'user', content: 'What is the capital of France?' },
        ];
        const body = forClient(client, { model: 'claude-opus-4-6', messages, reasoning_effort: 'low' });
        const sent = { read: 0, write: 0, reasoning: 0 };
        for (let i = 0; i < 2; i++) {
          const result = await client.call(target(), body);
          expect(result.ok).toBe(true);
          const usage = sentFacts(result.text).usage!;
          sent.read += usage.prompt_tokens_details?.cached_tokens ?? 0;
          sent.write += usage.prompt_tokens_details?.cache_write_tokens ?? 0;
          sent.reasoning += usage.completion_tokens_details?.reasoning_tokens ?? 0;
        }
        expect(sent.read).toBeGreaterThan(0);
        expect(sent.write).toBeGreaterThan(0);
        expect(sent.reasoning).toBe(256);
        await spans(2);

        const all = await collect();
        // The attributes of the call's points: token.usage without gen_ai.token.type (or, when
        // the latest conventions replace it, the inference duration of a call that did not fail).
        const expected: Attributes =
          optIn === 'gen_ai_latest_experimental'
            ? histogramPoints(all, INFERENCE_DURATION)[0].attributes
            : without(histogramPoints(all, TOKEN_USAGE)[0].attributes, 'gen_ai.token.type');
        expect(expected).toMatchObject({ 'gen_ai.request.model': 'claude-opus-4-6', 'assemblyai.region': 'us' });
        for (const [name, sum] of [
          [CACHE_READ, sent.read],
          [CACHE_WRITE, sent.write],
          [REASONING, sent.reasoning],
        ] as const) {
          const found = metric(all, name)!;
          expect(found, `${label(client)} ${name}`).toBeDefined();
          expect(found.dataPointType).toBe(DataPointType.SUM);
          expect(found.descriptor.unit).toBe('{token}');
          const points = sumPoints(all, name);
          expect(points, `${label(client)} ${name}`).toHaveLength(1);
          expect(points[0].value, `${label(client)} ${name}`).toBe(sum);
          expect(points[0].attributes).toEqual(expected);
        }
      }
    },
  );
});

describe('gen_ai.client.operation.time_per_output_chunk', () => {
  afterEach(() => telemetry.instrumentation.setConfig({ hosts: hosts() }));
  const slowStream = {
    model: 'claude-sonnet-4-6',
    messages: [{ role: 'user', content: 'Tell me about the sea.' }],
    max_tokens: 8,
    stream: true,
    x_sim: { mode: 'slow' },
  };

  it('is not recorded by default', async () => {
    const collect = freshMetrics(telemetry);
    await viaFetch(target(), slowStream);
    await viaOpenai(target(), slowStream);
    await spans(2);
    const all = await collect();
    expect(histogramPoints(all, TIME_PER_CHUNK)).toHaveLength(0);
    expect(histogramPoints(all, DURATION)).not.toHaveLength(0);
  });

  it('records one point per body chunk after the first with timePerOutputChunkMetric: true', async () => {
    telemetry.instrumentation.setConfig({ hosts: hosts(), timePerOutputChunkMetric: true });
    const collect = freshMetrics(telemetry);
    const result = await viaFetch(target(), slowStream);
    expect(result.chunks).toBeGreaterThan(3);
    await spans(1);
    const span = telemetry.spans()[0];
    const spanSeconds = span.duration[0] + span.duration[1] / 1e9;

    const all = await collect();
    const points = histogramPoints(all, TIME_PER_CHUNK);
    expect(points).toHaveLength(1);
    expect(points[0].value.count).toBe(result.chunks - 1);
    expect(points[0].value.min).toBeGreaterThan(0);
    // The gaps lie between the first chunk and the end.
    const ttfc = span.attributes['gen_ai.response.time_to_first_chunk'] as number;
    expect(points[0].value.sum!).toBeLessThanOrEqual(spanSeconds - ttfc + 0.005);
    expect(metric(all, TIME_PER_CHUNK)!.descriptor.unit).toBe('s');
    expect(points[0].attributes).toEqual(histogramPoints(all, DURATION)[0].attributes);
  });

  it('records nothing for a JSON reply, however many chunks it came in, even when on', async () => {
    telemetry.instrumentation.setConfig({ hosts: hosts(), timePerOutputChunkMetric: true });
    const collect = freshMetrics(telemetry);
    await viaFetch(target(), {
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'hi' }],
      x_sim: { replyBytes: 200_000 },
    });
    await spans(1);
    expect(histogramPoints(await collect(), TIME_PER_CHUNK)).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------
// A gateway that answers 200 with zero output tokens (JSON, or a stream with its usage chunk).
// ---------------------------------------------------------------------------------------------

interface ZeroTokenGateway {
  url: string;
  port: number;
  close(): Promise<void>;
}

async function startZeroTokenGateway(): Promise<ZeroTokenGateway> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; stream?: boolean };
      const usage = { prompt_tokens: 7, completion_tokens: 0, total_tokens: 7 };
      const base = { id: `chatcmpl-${randomUUID()}`, model: body.model, created: 1 };
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (value: object) =>
          `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', ...value })}\n\n`;
        res.end(
          chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }) +
            chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) +
            chunk({ choices: [], usage }) +
            'data: [DONE]\n\n',
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          ...base,
          object: 'chat.completion',
          request_id: randomUUID(),
          choices: [{ index: 0, message: { role: 'assistant', content: '' }, finish_reason: 'stop' }],
          usage: { ...usage, input_tokens: 7, output_tokens: 0 },
        }),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
