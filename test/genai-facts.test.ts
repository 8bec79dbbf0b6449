import { randomUUID } from 'node:crypto';
import type { Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_MODELS, startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import {
  CLIENTS,
  forClient,
  openaiCutShort,
  sentFacts,
  viaFetch,
  viaOpenai,
  type CallTarget,
  type ChatBody,
  type ClientUnderTest,
} from './support/gateway-calls';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Issue 12, Must show 1: the second release's span attributes, through the openai SDK (streamed
// and not), global fetch (streamed and not) and the assemblyai SDK (which sends extra fields as
// given, and cannot stream), named as design.md names them, with the value the request carried
// or the simulated gateway sent (read from the raw body the client received).

const KEY = 'sim-secret-key-facts-7c1d2e';
/** The default catalog, with top_k allowed on Gemini (no default model lists it: a 400 otherwise). */
const MODELS = DEFAULT_MODELS.map((m) =>
  m.id === 'gemini-2.5-flash' ? { ...m, supported_parameters: [...m.supported_parameters, 'top_k'] } : m,
);

let gateway: SimulatedGateway;
let telemetry: TestTelemetry;
const target = (): CallTarget => ({ baseUrl: gateway.url, apiKey: KEY });

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 1000, models: MODELS });
  telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}`, region: 'us' }]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
});
beforeEach(() => telemetry.reset());

/** Exactly one span for the call, ended exactly once; then the telemetry starts afresh. */
async function theSpan(): Promise<{ span: ReadableSpan; atStart: Attributes }> {
  const [span] = await telemetry.waitForSpans(1);
  await new Promise((r) => setTimeout(r, 20));
  expect(telemetry.spans()).toHaveLength(1);
  expect(telemetry.lifecycle.started).toBe(1);
  expect(telemetry.lifecycle.ended).toBe(1);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  const atStart = telemetry.lifecycle.startAttributes.get(span.spanContext().spanId)!;
  telemetry.reset();
  return { span, atStart };
}

/** The span's value for every key of `expected`; `undefined` means the attribute is absent. */
function attributesOf(span: ReadableSpan, expected: Attributes): Attributes {
  return Object.fromEntries(Object.keys(expected).map((k) => [k, span.attributes[k]]));
}

function spanSeconds(span: ReadableSpan): number {
  return span.duration[0] + span.duration[1] / 1e9;
}

const unique = () => randomUUID().slice(0, 8);
const label = (c: ClientUnderTest) => `${c.name} ${c.stream ? 'streamed' : 'JSON'}`;

describe.each(CLIENTS.map((c) => ({ ...c, label: label(c) })))('$label', (client) => {
  it('puts every request parameter on the span at its start, as the request carried it', async () => {
    const cases: { body: ChatBody; expected: Attributes }[] = [
      {
        body: {
          model: 'gemini-2.5-flash',
          messages: [{ role: 'user', content: `Summarise {{ transcript }} (${unique()})` }],
          max_completion_tokens: 300,
          top_p: 0.9,
          top_k: 40,
          frequency_penalty: 0.5,
          presence_penalty: -0.25,
          seed: 42,
          stop: 'END',
          n: 2,
          response_format: { type: 'json_object' },
          reasoning_effort: 'low',
          fallbacks: [{ model: 'claude-haiku-4-5-20251001' }, { model: 'gpt-5', max_tokens: 100 }],
          model_region: 'global',
          transcript_id: 'tr_5f2c9a81',
        },
        expected: {
          'gen_ai.request.max_tokens': 300,
          'gen_ai.request.top_p': 0.9,
          'gen_ai.request.top_k': 40,
          'gen_ai.request.frequency_penalty': 0.5,
          'gen_ai.request.presence_penalty': -0.25,
          'gen_ai.request.seed': 42,
          'gen_ai.request.stop_sequences': ['END'],
          'gen_ai.request.choice.count': 2,
          'gen_ai.output.type': 'json',
          'gen_ai.request.reasoning.level': 'low',
          'assemblyai.request.fallback_models': ['claude-haiku-4-5-20251001', 'gpt-5'],
          'assemblyai.request.model_region': 'global',
          'assemblyai.transcript_id': 'tr_5f2c9a81',
        },
      },
      {
        // max_tokens wins over max_completion_tokens; stop as an array; n = 1 is not a choice count.
        body: {
          model: 'claude-sonnet-4-6',
          messages: [{ role: 'user', content: `Name a colour (${unique()})` }],
          max_tokens: 50,
          max_completion_tokens: 400,
          stop: ['###', 'END'],
          n: 1,
          response_format: { type: 'text' },
          reasoning: { effort: 'high' },
        },
        expected: {
          'gen_ai.request.max_tokens': 50,
          'gen_ai.request.stop_sequences': ['###', 'END'],
          'gen_ai.request.choice.count': undefined,
          'gen_ai.output.type': 'text',
          'gen_ai.request.reasoning.level': 'high',
          'gen_ai.request.top_p': undefined,
          'gen_ai.request.top_k': undefined,
          'gen_ai.request.seed': undefined,
          'assemblyai.request.fallback_models': undefined,
          'assemblyai.request.model_region': undefined,
          'assemblyai.transcript_id': undefined,
          'assemblyai.fallback.used': undefined,
        },
      },
      {
        // json_schema is json too; nothing else asked, nothing else told.
        body: {
          model: 'gpt-5',
          messages: [{ role: 'user', content: `A city as JSON (${unique()})` }],
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'city', schema: { type: 'object', properties: { city: { type: 'string' } } } },
          },
        },
        expected: {
          'gen_ai.output.type': 'json',
          'gen_ai.request.max_tokens': undefined,
          'gen_ai.request.stop_sequences': undefined,
          'gen_ai.request.choice.count': undefined,
          'gen_ai.request.reasoning.level': undefined,
          'gen_ai.request.frequency_penalty': undefined,
          'gen_ai.request.presence_penalty': undefined,
        },
      },
    ];
    for (const { body, expected } of cases) {
      const result = await client.call(target(), forClient(client, body));
      expect(result.ok, JSON.stringify(result.error ?? result.status)).toBe(true);
      const { span, atStart } = await theSpan();
      expect(attributesOf(span, expected)).toEqual(expected);
      // Set when the span started: samplers see them.
      const definedAtStart = Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== undefined));
      expect(atStart).toMatchObject(definedAtStart);
    }
  });

  it('reports the usage details the gateway sent (OpenAI names), never added to the input and output totals', async () => {
    // A cache_control breakpoint: the first call writes the prefix, the second reads it back.
    const messages = [
      {
        role: 'system',
        content: `House rules ${unique()}: answer in one short line.`,
        cache_control: { type: 'ephemeral' },
      },
      { role: 'user', content: 'What is the capital of France?' },
    ];
    const body = forClient(client, { model: 'claude-sonnet-4-6', messages, reasoning_effort: 'medium' });
    for (const step of ['write', 'read'] as const) {
      const result = await client.call(target(), body);
      expect(result.ok).toBe(true);
      const usage = sentFacts(result.text).usage!;
      const cacheRead = usage.prompt_tokens_details?.cached_tokens;
      const cacheWrite = usage.prompt_tokens_details?.cache_write_tokens;
      const reasoning = usage.completion_tokens_details?.reasoning_tokens;
      // The scenario is what it should be: the numbers below are worth comparing.
      expect(reasoning).toBe(512);
      if (step === 'write') expect(cacheWrite).toBeGreaterThan(0);
      else expect(cacheRead).toBeGreaterThan(0);

      const { span } = await theSpan();
      expect(span.attributes['gen_ai.usage.input_tokens']).toBe(usage.prompt_tokens);
      expect(span.attributes['gen_ai.usage.output_tokens']).toBe(usage.completion_tokens);
      expect(span.attributes['gen_ai.usage.cache_read.input_tokens']).toBe(cacheRead);
      expect(span.attributes['gen_ai.usage.cache_write.input_tokens']).toBe(cacheWrite);
      expect(span.attributes['gen_ai.usage.cache_creation.input_tokens']).toBe(cacheWrite);
      expect(span.attributes['gen_ai.usage.reasoning.output_tokens']).toBe(reasoning);
      // Subsets, never added: input is the body's input count, not input + cached.
      if (step === 'read')
        expect(span.attributes['gen_ai.usage.input_tokens']).not.toBe(usage.prompt_tokens + cacheRead);
    }
  });

  it('reads the Claude-style cache counts (cache_read_input_tokens, cache_creation_input_tokens)', async () => {
    const messages = [
      { role: 'system', content: `Style guide ${unique()}: plain words only.`, cache_control: { type: 'ephemeral' } },
      { role: 'user', content: 'Say hello.' },
    ];
    const body = forClient(client, {
      model: 'claude-haiku-4-5-20251001',
      messages,
      x_sim: { usageNames: 'anthropic' },
    });
    for (const step of ['write', 'read'] as const) {
      const result = await client.call(target(), body);
      expect(result.ok).toBe(true);
      const usage = sentFacts(result.text).usage!;
      expect(usage.prompt_tokens_details).toBeUndefined();
      const read = usage.cache_read_input_tokens;
      const created = usage.cache_creation_input_tokens;
      if (step === 'write') expect(created).toBeGreaterThan(0);
      else expect(read).toBeGreaterThan(0);

      const { span } = await theSpan();
      expect(span.attributes['gen_ai.usage.input_tokens']).toBe(usage.prompt_tokens);
      expect(span.attributes['gen_ai.usage.cache_read.input_tokens']).toBe(read);
      expect(span.attributes['gen_ai.usage.cache_write.input_tokens']).toBe(created);
      expect(span.attributes['gen_ai.usage.cache_creation.input_tokens']).toBe(created);
    }
  });

  it('reports the provider status and the gateway time the body carried, and the time to first chunk of a stream', async () => {
    const body = forClient(client, {
      model: 'gpt-5-mini',
      messages: [{ role: 'user', content: `How far is the moon? (${unique()})` }],
      x_sim: { streamEnvelope: true },
    });
    const result = await client.call(target(), body);
    expect(result.ok).toBe(true);
    const sent = sentFacts(result.text);
    expect(sent.llmStatusCode).toBe(200);
    expect(sent.responseTime).toBeGreaterThan(0);

    const { span } = await theSpan();
    expect(span.attributes['assemblyai.provider.status_code']).toBe(sent.llmStatusCode);
    expect(span.attributes['assemblyai.gateway.duration']).toBe(sent.responseTime! / 1e9);
    expect(span.attributes['assemblyai.gateway.duration']).toBeLessThanOrEqual(spanSeconds(span));
    const ttfc = span.attributes['gen_ai.response.time_to_first_chunk'];
    if (client.stream) expect(ttfc).toBeGreaterThan(0);
    else {
      expect(ttfc).toBeUndefined();
    }
  });

  it('reports the provider status of a failed upstream from the error body', async () => {
    // No working model: the gateway's 503 with the provider's own 529 (Anthropic).
    const body = forClient(client, {
      model: 'claude-opus-4-6',
      messages: [{ role: 'user', content: `Hello (${unique()})` }],
      x_sim: { failModels: ['claude-opus-4-6'] },
    });
    const result = await client.call(target(), body);
    expect(result.status).toBe(503);
    const { span } = await theSpan();
    expect(span.attributes['error.type']).toBe('upstream_unavailable');
    expect(span.attributes['assemblyai.provider.status_code']).toBe(529);
    if (result.text) {
      const sent = JSON.parse(result.text);
      expect(sent.llm_status_code).toBe(529);
      expect(span.attributes['assemblyai.gateway.duration']).toBe(sent.response_time / 1e9);
    } else {
      // The assemblyai SDK reads the error body itself and keeps no copy of it.
      expect(span.attributes['assemblyai.gateway.duration']).toBeGreaterThan(0);
      expect(span.attributes['assemblyai.gateway.duration']).toBeLessThanOrEqual(spanSeconds(span));
    }
    expect(span.attributes['gen_ai.response.time_to_first_chunk']).toBeUndefined();
  });
});

describe('gen_ai.response.time_to_first_chunk', () => {
  it('is never longer than the span itself, even when the whole stream arrives in one piece', async () => {
    // A short stream: its first chunk is also (nearly) its last, so the first chunk comes at the
    // span's very end. Both must be measured from the same start.
    for (const call of [viaOpenai, viaFetch]) {
      await call(target(), {
        model: 'gpt-5',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        max_tokens: 2,
      });
      const { span } = await theSpan();
      const ttfc = span.attributes['gen_ai.response.time_to_first_chunk'] as number;
      expect(ttfc).toBeGreaterThan(0);
      expect(ttfc).toBeLessThanOrEqual(spanSeconds(span));
    }
  });
});

describe('a stream without the envelope', () => {
  it('has no provider status or gateway time: nothing is invented', async () => {
    for (const call of [viaOpenai, viaFetch]) {
      const body = {
        model: 'gpt-5',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      };
      const result = await call(target(), body);
      expect(sentFacts(result.text).llmStatusCode).toBeUndefined();
      const { span } = await theSpan();
      expect(span.attributes).not.toHaveProperty('assemblyai.provider.status_code');
      expect(span.attributes).not.toHaveProperty('assemblyai.gateway.duration');
      expect(span.attributes['gen_ai.response.time_to_first_chunk']).toBeGreaterThan(0);
      // OpenAI-style stream usage without details: no detail attribute either.
      expect(span.attributes).not.toHaveProperty('gen_ai.usage.cache_read.input_tokens');
      expect(span.attributes).not.toHaveProperty('gen_ai.usage.reasoning.output_tokens');
    }
  });
});

describe('gen_ai.response.finish_reasons for choices whose reason never came', () => {
  const slowStream = (extra: ChatBody = {}): ChatBody => ({
    model: 'claude-sonnet-4-6',
    messages: [{ role: 'user', content: 'Tell me a long story about the sea.' }],
    stream: true,
    stream_options: { include_usage: true },
    x_sim: { mode: 'slow' },
    ...extra,
  });

  it('is error when the application breaks out of an openai SDK stream mid-way', async () => {
    const seen = await openaiCutShort(target(), slowStream(), (_chunk, count) => count === 3);
    expect(seen.at(-1)!.choices[0].finish_reason).toBeNull();
    const { span } = await theSpan();
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['error']);
  });

  it('is error when the application cancels a fetch body mid-way', async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: KEY, 'content-type': 'application/json' },
      body: JSON.stringify(slowStream()),
    });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    const { span } = await theSpan();
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['error']);
  });

  it('is error for a stream the gateway cut (no [DONE]), through the openai SDK and fetch', async () => {
    for (const call of [viaOpenai, viaFetch]) {
      const result = await call(target(), { ...slowStream(), x_sim: { mode: 'truncate' } });
      expect(result.text).not.toContain('[DONE]');
      expect(sentFacts(result.text).finishReasons).toEqual([]);
      const { span } = await theSpan();
      expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['error']);
    }
  });

  it('is error only for the choice cut off when n is 2 (the other keeps its own reason)', async () => {
    // One word per choice: role 0, role 1, the finishing chunk of choice 0, then the cut inside choice 1's.
    const body = { ...slowStream({ n: 2, max_tokens: 1 }), x_sim: { mode: 'truncate' } };
    for (const call of [viaOpenai, viaFetch]) {
      const result = await call(target(), body);
      const sent = sentFacts(result.text).finishReasons;
      expect(sent[0]).toBe('length');
      expect(sent[1]).toBeUndefined();
      const { span } = await theSpan();
      expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['length', 'error']);
      expect(span.attributes['gen_ai.request.choice.count']).toBe(2);
    }
  });

  it('is error for the choice the application never saw finish when it breaks out with n = 2', async () => {
    const seen = await openaiCutShort(
      target(),
      slowStream({ n: 2, max_tokens: 1 }),
      (chunk) => chunk.choices[0]?.index === 0 && chunk.choices[0].finish_reason !== null,
    );
    expect(seen.some((c) => c.choices[0]?.index === 1 && c.choices[0].finish_reason !== null)).toBe(false);
    const { span } = await theSpan();
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['length', 'error']);
  });

  it('has no error for a stream of two choices read to its end', async () => {
    const result = await viaOpenai(target(), slowStream({ n: 2, max_tokens: 2, x_sim: {} }));
    const sent = sentFacts(result.text).finishReasons;
    expect(sent).toEqual(['length', 'length']);
    const { span } = await theSpan();
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(sent);
  });
});
