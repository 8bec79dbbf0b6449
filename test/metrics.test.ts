import type { Attributes } from '@opentelemetry/api';
import {
  DataPointType,
  MeterProvider,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import * as semconv from '../src/semconv';
import { OnDemandReader, setupTelemetry, type TestTelemetry } from './support/telemetry';

// Metric points as an in-memory reader collects them: names, attributes and values are the
// contract users build dashboards and alerts on.

const API_KEY = 'sim-secret-key-0123456789';
const DURATION = 'gen_ai.client.operation.duration';
const TOKEN_USAGE = 'gen_ai.client.token.usage';
const TTFC = 'gen_ai.client.operation.time_to_first_chunk';
const REMAINING = 'assemblyai.ratelimit.remaining';
const LIMIT = 'assemblyai.ratelimit.limit';

let us: SimulatedGateway;
let eu: SimulatedGateway;
let telemetry: TestTelemetry;
let reader: OnDemandReader;

const hosts = () => [
  { host: `127.0.0.1:${us.port}`, region: 'us' },
  { host: `127.0.0.1:${eu.port}`, region: 'eu' },
];

beforeAll(async () => {
  us = await startSimulatedGateway({ rateLimit: 5, windowSeconds: 60 });
  eu = await startSimulatedGateway({ rateLimit: 3, windowSeconds: 60 });
  telemetry = setupTelemetry(hosts());
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await Promise.all([us.close(), eu.close()]);
});
// Every test starts from empty cumulative metrics and full rate-limit windows.
beforeEach(() => {
  telemetry.reset();
  us.resetRateLimits();
  eu.resetRateLimits();
  reader = new OnDemandReader();
  telemetry.instrumentation.setMeterProvider(new MeterProvider({ readers: [reader] }));
});

interface ChatOptions {
  model?: string;
  gateway?: SimulatedGateway;
  stream?: boolean;
  sim?: Record<string, unknown>;
  apiKey?: string;
  content?: string;
  query?: string;
  signal?: AbortSignal;
}

/** A chat call through the global fetch; returns the response with its body read as text. */
async function chat(o: ChatOptions = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(`${(o.gateway ?? us).url}/v1/chat/completions${o.query ?? ''}`, {
    method: 'POST',
    headers: { authorization: o.apiKey ?? API_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: o.model ?? 'gpt-5',
      messages: [{ role: 'user', content: o.content ?? 'What is the capital of France?' }],
      ...(o.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      ...(o.sim ? { x_sim: o.sim } : {}),
    }),
    signal: o.signal,
  });
  return {
    status: response.status,
    headers: response.headers,
    text: o.stream ? await readStream(response) : await response.text(),
  };
}

/** Reads a streamed body chunk by chunk, as streaming clients (the openai SDK) do. */
async function readStream(response: Response): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
    text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** Waits for `calls` spans: a call records its metrics just before its span ends. */
async function collect(calls: number): Promise<MetricData[]> {
  await telemetry.waitForSpans(calls);
  const { resourceMetrics } = await reader.collect();
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
}

function metric(all: MetricData[], name: string): MetricData | undefined {
  return all.find((m) => m.descriptor.name === name);
}

function points<T = number | Histogram>(all: MetricData[], name: string): DataPoint<T>[] {
  return (metric(all, name)?.dataPoints ?? []) as DataPoint<T>[];
}

function histogramPoints(all: MetricData[], name: string): DataPoint<Histogram>[] {
  const found = metric(all, name);
  if (found) expect(found.dataPointType).toBe(DataPointType.HISTOGRAM);
  return points<Histogram>(all, name);
}

function where<T>(list: DataPoint<T>[], attributes: Attributes): DataPoint<T>[] {
  return list.filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
}

/** The usage a body reported, in either naming (`input_tokens` or OpenAI's `prompt_tokens`). */
function usageOf(body: string): { input: number; output: number } {
  const { usage } = JSON.parse(body) as { usage: Record<string, number> };
  return { input: usage.input_tokens ?? usage.prompt_tokens, output: usage.output_tokens ?? usage.completion_tokens };
}

describe('gen_ai.client.operation.duration', () => {
  it('records exactly one point per finished call: success, error, stream and abort', async () => {
    await chat({ model: 'claude-sonnet-4-6' });
    await chat({ model: 'claude-opus-4-6', sim: { status: 500 } });
    await chat({ model: 'gpt-5-mini', stream: true });
    const controller = new AbortController();
    const response = await fetch(`${us.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gemini-2.5-flash',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        x_sim: { mode: 'slow', replyBytes: 20_000 },
      }),
      signal: controller.signal,
    });
    const bodyReader = response.body!.getReader();
    await bodyReader.read();
    controller.abort();
    await expect(bodyReader.read()).rejects.toMatchObject({ name: 'AbortError' });

    const all = await collect(4);
    const duration = histogramPoints(all, DURATION);
    expect(duration.map((p) => p.value.count).reduce((a, b) => a + b, 0)).toBe(4);
    const byModel = (model: string) => where(duration, { 'gen_ai.request.model': model });
    for (const model of ['claude-sonnet-4-6', 'claude-opus-4-6', 'gpt-5-mini', 'gemini-2.5-flash']) {
      expect(byModel(model), model).toHaveLength(1);
      expect(byModel(model)[0].value.count, model).toBe(1);
    }
    expect(byModel('gemini-2.5-flash')[0].attributes['error.type']).toBe('aborted');
    expect(byModel('claude-sonnet-4-6')[0].attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'assemblyai',
      'gen_ai.request.model': 'claude-sonnet-4-6',
      'gen_ai.response.model': 'claude-sonnet-4-6',
      'server.address': '127.0.0.1',
      'server.port': us.port,
      'assemblyai.region': 'us',
    });
    expect(metric(all, DURATION)!.descriptor.unit).toBe('s');
  });

  it('carries error.type rate_limited for a 429, unauthorized for a 401 and internal_error for a 500', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await chat({ model: 'gpt-5', gateway: eu })).status);
    statuses.push((await chat({ model: 'gpt-5', gateway: eu, apiKey: 'bad-key' })).status);
    statuses.push((await chat({ model: 'gpt-5', gateway: eu, sim: { status: 500 } })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 401, 500]);

    const duration = where(histogramPoints(await collect(6), DURATION), { 'assemblyai.region': 'eu' });
    const countBy = (errorType: string | undefined) =>
      duration.filter((p) => p.attributes['error.type'] === errorType).reduce((n, p) => n + p.value.count, 0);
    expect(countBy(undefined)).toBe(3);
    expect(countBy('rate_limited')).toBe(1);
    expect(countBy('unauthorized')).toBe(1);
    expect(countBy('internal_error')).toBe(1);
    // A failed call has no response model; success points carry no error.type key at all.
    expect(where(duration, { 'error.type': 'rate_limited' })[0].attributes).not.toHaveProperty('gen_ai.response.model');
    for (const p of duration.filter((d) => d.attributes['error.type'] === undefined)) {
      expect(Object.keys(p.attributes)).not.toContain('error.type');
    }
  });

  it('uses the semconv bucket boundaries', async () => {
    await chat({ model: 'gpt-5-mini', stream: true });
    const all = await collect(1);
    const advised = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
    expect(histogramPoints(all, DURATION)[0].value.buckets.boundaries).toEqual(advised);
    expect(histogramPoints(all, TTFC)[0].value.buckets.boundaries).toEqual(advised);
    expect(histogramPoints(all, TOKEN_USAGE)[0].value.buckets.boundaries).toEqual([
      1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
    ]);
  });
});

describe('gen_ai.client.token.usage', () => {
  it('records the input and output tokens of the usage, once per call', async () => {
    const json = await chat({ model: 'claude-haiku-4-5-20251001' });
    const expected = usageOf(json.text);
    // The stream repeats a running usage on every chunk: only the last one counts, once.
    const streamed = await chat({ model: 'gpt-5-mini', stream: true });
    const chunks = streamed.text.split('\n\n').filter((e) => e.startsWith('data: {'));
    const lastUsage = usageOf(chunks.at(-1)!.slice('data: '.length));
    expect(chunks.length).toBeGreaterThan(3);

    const tokens = histogramPoints(await collect(2), TOKEN_USAGE);
    const point = (model: string, type: string) => {
      const found = where(tokens, { 'gen_ai.request.model': model, 'gen_ai.token.type': type });
      expect(found, `${model} ${type}`).toHaveLength(1);
      return found[0].value;
    };
    expect(point('claude-haiku-4-5-20251001', 'input')).toMatchObject({ count: 1, sum: expected.input });
    expect(point('claude-haiku-4-5-20251001', 'output')).toMatchObject({ count: 1, sum: expected.output });
    expect(point('gpt-5-mini', 'input')).toMatchObject({ count: 1, sum: lastUsage.input });
    expect(point('gpt-5-mini', 'output')).toMatchObject({ count: 1, sum: lastUsage.output });
    expect(expected.output).toBeGreaterThan(0);
  });

  it('records no token points for a call whose response had no usage', async () => {
    await chat({ model: 'gpt-5', sim: { status: 500 } });
    const all = await collect(1);
    expect(histogramPoints(all, DURATION)).toHaveLength(1);
    expect(histogramPoints(all, TOKEN_USAGE)).toHaveLength(0);
  });
});

describe('gen_ai.client.operation.time_to_first_chunk', () => {
  it('is recorded for streamed calls only', async () => {
    await chat({ model: 'claude-sonnet-4-6' });
    await chat({ model: 'claude-sonnet-4-6', sim: { status: 503 } });
    await chat({ model: 'gpt-5', stream: true });
    const all = await collect(3);
    const ttfc = histogramPoints(all, TTFC);
    expect(ttfc).toHaveLength(1);
    expect(ttfc[0].attributes['gen_ai.request.model']).toBe('gpt-5');
    expect(ttfc[0].value.count).toBe(1);
    const duration = where(histogramPoints(all, DURATION), { 'gen_ai.request.model': 'gpt-5' })[0];
    expect(ttfc[0].value.sum).toBeGreaterThan(0);
    expect(ttfc[0].value.sum).toBeLessThanOrEqual(duration.value.sum!);
  });
});

describe('assemblyai.ratelimit.* gauges', () => {
  it('hold the last X-RateLimit-Limit and X-RateLimit-Remaining seen per model and region', async () => {
    const last = new Map<string, { limit: number; remaining: number }>();
    const call = async (model: string, gateway: SimulatedGateway, region: string) => {
      const { headers } = await chat({ model, gateway });
      last.set(`${model}|${region}`, {
        limit: Number(headers.get('x-ratelimit-limit')),
        remaining: Number(headers.get('x-ratelimit-remaining')),
      });
    };
    for (let i = 0; i < 3; i++) await call('gpt-5', us, 'us');
    await call('claude-sonnet-4-6', us, 'us');
    for (let i = 0; i < 5; i++) await call('gpt-5', eu, 'eu'); // two past the limit of 3: 429s
    const calls = 9;

    expect(last.get('gpt-5|us')).toEqual({ limit: 5, remaining: 2 });
    expect(last.get('claude-sonnet-4-6|us')).toEqual({ limit: 5, remaining: 4 });
    expect(last.get('gpt-5|eu')).toEqual({ limit: 3, remaining: -2 });

    const all = await collect(calls);
    for (const name of [REMAINING, LIMIT]) {
      expect(metric(all, name)!.dataPointType).toBe(DataPointType.GAUGE);
      expect(metric(all, name)!.descriptor.unit).toBe('{request}');
      expect(points<number>(all, name)).toHaveLength(last.size);
    }
    for (const [key, expected] of last) {
      const [model, region] = key.split('|');
      const attributes = { 'gen_ai.request.model': model, 'assemblyai.region': region };
      const remaining = points<number>(all, REMAINING).find((p) => sameAttributes(p.attributes, attributes));
      const limit = points<number>(all, LIMIT).find((p) => sameAttributes(p.attributes, attributes));
      expect(remaining?.value, `${key} remaining`).toBe(expected.remaining);
      expect(limit?.value, `${key} limit`).toBe(expected.limit);
    }
  });

  it('follow the window when it resets: the last value wins, not the lowest', async () => {
    for (let i = 0; i < 4; i++) await chat({ model: 'gpt-5', gateway: eu });
    us.resetRateLimits();
    eu.resetRateLimits();
    await chat({ model: 'gpt-5', gateway: eu });
    const all = await collect(5);
    const remaining = where(points<number>(all, REMAINING), {
      'gen_ai.request.model': 'gpt-5',
      'assemblyai.region': 'eu',
    });
    expect(remaining.map((p) => p.value)).toEqual([2]);
  });
});

describe('metric attributes', () => {
  it('never carry a request id, a URL or query string, message content or the API key', async () => {
    const content = 'Secret prompt text 7f3a9c about the quarterly numbers';
    const requestIds: string[] = [];
    const remember = (r: { headers: Headers; text: string }) => {
      for (const m of r.text.matchAll(/"(?:request_id|id)"\s*:\s*"([^"]+)"/g)) requestIds.push(m[1]);
      const header = r.headers.get('x-request-id');
      if (header) requestIds.push(header);
    };
    const query = '?api_key=query-secret-123&trace=abc';
    remember(await chat({ model: 'gpt-5', content, query, sim: { mode: 'request-id-header' } }));
    remember(await chat({ model: 'gpt-5', content, stream: true, sim: { streamRequestId: true } }));
    remember(await chat({ model: 'gpt-5', content, sim: { status: 500 } }));
    remember(await chat({ model: 'gpt-5', content, apiKey: 'bad-key' }));
    remember(await chat({ model: 'gpt-5', content, sim: { status: 400, envelope: 'flat' } }));
    expect(requestIds.length).toBeGreaterThanOrEqual(5);

    const all = await collect(5);
    const allowedKeys = new Set([
      semconv.ATTR_GEN_AI_OPERATION_NAME,
      semconv.ATTR_GEN_AI_PROVIDER_NAME,
      semconv.ATTR_GEN_AI_REQUEST_MODEL,
      semconv.ATTR_GEN_AI_RESPONSE_MODEL,
      semconv.ATTR_SERVER_ADDRESS,
      semconv.ATTR_SERVER_PORT,
      semconv.ATTR_ASSEMBLYAI_REGION,
      semconv.ATTR_ERROR_TYPE,
      semconv.ATTR_GEN_AI_TOKEN_TYPE,
    ]);
    let scanned = 0;
    for (const m of all) {
      for (const p of m.dataPoints as DataPoint<unknown>[]) {
        scanned++;
        for (const [key, value] of Object.entries(p.attributes)) {
          expect(allowedKeys, `${m.descriptor.name} ${key}`).toContain(key);
          const text = String(value);
          expect(text.length, `${key}=${text}`).toBeLessThanOrEqual(64);
          expect(text).not.toMatch(/[?&=/]|:\/\//);
          for (const id of requestIds) expect(text).not.toContain(id);
          for (const secret of [API_KEY, 'bad-key', 'query-secret-123', content, 'Secret prompt', 'Simulated reply']) {
            expect(text).not.toContain(secret);
          }
        }
      }
    }
    expect(scanned).toBeGreaterThanOrEqual(8);
  });
});

describe('OTEL_SEMCONV_STABILITY_OPT_IN', () => {
  const INFERENCE_DURATION = 'gen_ai.client.inference.duration';
  const INFERENCE_TTFC = 'gen_ai.client.inference.time_to_first_chunk';
  const USAGE_INPUT = 'gen_ai.client.inference.usage.input_tokens';
  const USAGE_OUTPUT = 'gen_ai.client.inference.usage.output_tokens';
  const OPERATION_INPUT = 'gen_ai.client.inference.operation.input_tokens';
  const OPERATION_OUTPUT = 'gen_ai.client.inference.operation.output_tokens';
  const saved = process.env.OTEL_SEMCONV_STABILITY_OPT_IN;

  /** The opt-in is read with the config; new instruments come with the next meter provider. */
  function optIn(value: string | undefined): void {
    if (value === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    else process.env.OTEL_SEMCONV_STABILITY_OPT_IN = value;
    telemetry.instrumentation.setConfig({ hosts: hosts() });
    reader = new OnDemandReader();
    telemetry.instrumentation.setMeterProvider(new MeterProvider({ readers: [reader] }));
  }
  afterEach(() => optIn(saved));

  async function listModels(): Promise<void> {
    await (await fetch(`${us.url}/v1/models`)).text();
  }

  it('emits only the contract names by default', async () => {
    optIn(undefined);
    await chat({ model: 'gpt-5', stream: true });
    const names = (await collect(1)).map((m) => m.descriptor.name).sort();
    expect(names).toEqual([LIMIT, REMAINING, DURATION, TTFC, TOKEN_USAGE].sort());
  });

  it('gen_ai_latest_experimental moves chat to gen_ai.client.inference.* and keeps list_models on operation.duration', async () => {
    optIn('http, gen_ai_latest_experimental');
    const json = await chat({ model: 'gpt-5' });
    await chat({ model: 'gpt-5-mini', stream: true });
    await listModels();
    const all = await collect(3);
    const populated = all.filter((m) => m.dataPoints.length > 0).map((m) => m.descriptor.name);
    expect(populated).not.toContain(TOKEN_USAGE);
    expect(populated).not.toContain(TTFC);
    for (const name of [
      INFERENCE_DURATION,
      INFERENCE_TTFC,
      USAGE_INPUT,
      USAGE_OUTPUT,
      OPERATION_INPUT,
      OPERATION_OUTPUT,
    ]) {
      expect(populated).toContain(name);
    }
    // Only list_models (not an inference operation) stays on the old duration.
    expect(histogramPoints(all, DURATION).map((p) => p.attributes['gen_ai.operation.name'])).toEqual(['list_models']);
    expect(histogramPoints(all, INFERENCE_DURATION).map((p) => p.attributes['gen_ai.operation.name'])).toEqual([
      'chat',
      'chat',
    ]);
    expect(histogramPoints(all, INFERENCE_TTFC).map((p) => p.attributes['gen_ai.request.model'])).toEqual([
      'gpt-5-mini',
    ]);

    const usage = usageOf(json.text);
    const input = where(points<number>(all, USAGE_INPUT), { 'gen_ai.request.model': 'gpt-5' });
    expect(metric(all, USAGE_INPUT)!.dataPointType).toBe(DataPointType.SUM);
    expect(input).toHaveLength(1);
    expect(input[0].value).toBe(usage.input);
    expect(input[0].attributes['gen_ai.token.modality']).toBe('unknown');
    expect(where(points<number>(all, USAGE_OUTPUT), { 'gen_ai.request.model': 'gpt-5' })[0].value).toBe(usage.output);
    expect(where(histogramPoints(all, OPERATION_OUTPUT), { 'gen_ai.request.model': 'gpt-5' })[0].value).toMatchObject({
      count: 1,
      sum: usage.output,
    });
  });

  it('gen_ai_latest_experimental records no tokens for a failed inference call, only its duration with error.type', async () => {
    optIn('gen_ai_latest_experimental');
    await chat({ model: 'gpt-5', sim: { status: 429 } });
    const all = await collect(1);
    expect(histogramPoints(all, INFERENCE_DURATION)[0].attributes['error.type']).toBe('rate_limited');
    // A failed operation has no token counts, not zero (GenAI semconv).
    for (const name of [OPERATION_INPUT, USAGE_INPUT, USAGE_OUTPUT]) expect(points(all, name), name).toHaveLength(0);
  });

  it('gen_ai_latest_experimental counts the tokens of a successful call without error.type, modality unknown', async () => {
    optIn('gen_ai_latest_experimental');
    await chat({ model: 'gpt-5' });
    const all = await collect(1);
    expect(histogramPoints(all, OPERATION_INPUT)[0].value.count).toBe(1);
    for (const name of [USAGE_INPUT, USAGE_OUTPUT]) {
      const [point] = points<number>(all, name);
      expect(point.value).toBeGreaterThan(0);
      expect(point.attributes).not.toHaveProperty('error.type');
      expect(point.attributes['gen_ai.token.modality']).toBe('unknown');
    }
  });

  it('gen_ai_latest_experimental/dup emits both the contract names and the latest ones', async () => {
    optIn('gen_ai_latest_experimental/dup');
    await chat({ model: 'gpt-5', stream: true });
    const all = await collect(1);
    for (const name of [
      DURATION,
      TTFC,
      TOKEN_USAGE,
      INFERENCE_DURATION,
      INFERENCE_TTFC,
      USAGE_INPUT,
      OPERATION_INPUT,
    ]) {
      expect(points(all, name), name).not.toHaveLength(0);
    }
    expect(histogramPoints(all, DURATION)[0].value.count).toBe(1);
    expect(histogramPoints(all, INFERENCE_DURATION)[0].value.count).toBe(1);
  });
});

function sameAttributes(actual: Attributes, expected: Attributes): boolean {
  const keys = Object.keys(actual);
  return keys.length === Object.keys(expected).length && keys.every((k) => actual[k] === expected[k]);
}
