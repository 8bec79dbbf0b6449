import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import type { MessageContentCapture } from '../src/types';
import { CLIENTS, forClient, sentFacts, viaOpenai, type CallTarget, type ChatBody } from './support/gateway-calls';
import { freshMetrics } from './support/metric-points';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Issue 12, Must show 5: tool calls and tool results in the captured messages, streamed tool-call
// arguments reassembled, tool definitions by type and name only, the capture modes (option and
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT), no content anywhere when off, and no
// credential anywhere in any mode.

const KEY = 'sim-secret-key-content-a91f3c77';
const INPUT = 'gen_ai.input.messages';
const OUTPUT = 'gen_ai.output.messages';
const TOOLS_ATTR = 'gen_ai.tool.definitions';
const DETAILS_EVENT = 'gen_ai.client.inference.operation.details';
const ENV = 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT';

const QUESTION = 'What is the weather in Paris this afternoon?';
const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather for a city (tool description 5d1e)',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
        required: ['city'],
      },
    },
  },
  { type: 'function', function: { name: 'get_local_time', parameters: { type: 'object', properties: {} } } },
];
const TOOL_RESULT = '{"temperature_c":21,"sky":"clear 77ab"}';
/** The model asks for a tool. */
const askForTool: ChatBody = {
  model: 'claude-sonnet-4-6',
  messages: [{ role: 'user', content: QUESTION }],
  tools: TOOLS,
  x_sim: { toolCall: true },
};
/** The application hands the tool's result back; the model answers in text. */
const answerToolResult: ChatBody = {
  model: 'claude-sonnet-4-6',
  messages: [
    { role: 'user', content: QUESTION },
    {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_prev_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'call_prev_1', content: TOOL_RESULT },
  ],
  tools: TOOLS,
};

let gateway: SimulatedGateway;
let telemetry: TestTelemetry;
const hosts = () => [{ host: `127.0.0.1:${gateway.port}`, region: 'us' }];
const target = (apiKey = KEY): CallTarget => ({ baseUrl: gateway.url, apiKey });

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 1000 });
  telemetry = setupTelemetry(hosts());
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
});
beforeEach(() => telemetry.reset());
afterEach(() => {
  delete process.env[ENV];
  telemetry.instrumentation.setConfig({ hosts: hosts() });
});

function capture(mode: MessageContentCapture | undefined, env?: string): void {
  if (env === undefined) delete process.env[ENV];
  else process.env[ENV] = env;
  telemetry.instrumentation.setConfig({ hosts: hosts(), captureMessageContent: mode });
}

/** Exactly `count` spans, each ended once. */
async function spans(count: number): Promise<ReadableSpan[]> {
  await telemetry.waitForSpans(count);
  await new Promise((r) => setTimeout(r, 20));
  const all = telemetry.spans();
  expect(all).toHaveLength(count);
  expect(telemetry.lifecycle.started).toBe(count);
  expect(telemetry.lifecycle.ended).toBe(count);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  return all;
}

const detailRecords = (): ReadableLogRecord[] => telemetry.logs().filter((l) => l.eventName === DETAILS_EVENT);
const parsed = (value: unknown): any => JSON.parse(String(value));

/** The tool calls the client received: from the JSON reply, or assembled from the stream's deltas. */
function receivedToolCalls(text: string): { id: string; name: string; arguments: string }[] {
  const sent = sentFacts(text);
  if (sent.json) {
    const choice = sent.json.choices[0];
    return (choice.message.tool_calls ?? choice.tool_calls).map((c: any) => ({
      id: c.id,
      name: c.function.name,
      arguments: c.function.arguments,
    }));
  }
  const calls: { id: string; name: string; arguments: string }[] = [];
  for (const chunk of sent.chunks)
    for (const delta of chunk.choices?.[0]?.delta?.tool_calls ?? []) {
      calls[delta.index] ??= { id: '', name: '', arguments: '' };
      if (delta.id) calls[delta.index].id = delta.id;
      if (delta.function?.name) calls[delta.index].name = delta.function.name;
      calls[delta.index].arguments += delta.function?.arguments ?? '';
    }
  return calls;
}

describe('tool calls in captured content', () => {
  it('records the tool call the model made as a tool_call part, the same streamed (reassembled) or not', async () => {
    capture(true);
    const argumentsByClient: unknown[] = [];
    for (const client of CLIENTS) {
      telemetry.reset();
      const result = await client.call(target(), forClient(client, askForTool));
      expect(result.ok).toBe(true);
      const [call] = receivedToolCalls(result.text);
      expect(call.name).toBe('get_weather');
      if (client.stream) expect(sentFacts(result.text).chunks.length).toBeGreaterThan(4); // arguments in pieces

      const [span] = await spans(1);
      const output = parsed(span.attributes[OUTPUT]);
      expect(output).toEqual([
        {
          role: 'assistant',
          parts: [{ type: 'tool_call', id: call.id, name: 'get_weather', arguments: JSON.parse(call.arguments) }],
          finish_reason: 'tool_calls',
        },
      ]);
      argumentsByClient.push(output[0].parts[0].arguments);
    }
    // Same request, streamed or not, any client: the same arguments.
    expect(argumentsByClient[0]).toMatchObject({ city: expect.any(String) });
    for (const args of argumentsByClient) expect(args).toEqual(argumentsByClient[0]);
  });

  it('records the assistant tool call and the tool result of the request as tool_call and tool_call_response parts', async () => {
    capture(true);
    for (const client of CLIENTS) {
      telemetry.reset();
      const result = await client.call(target(), forClient(client, answerToolResult));
      expect(result.ok).toBe(true);
      const [span] = await spans(1);
      expect(parsed(span.attributes[INPUT])).toEqual([
        { role: 'user', parts: [{ type: 'text', content: QUESTION }] },
        {
          role: 'assistant',
          parts: [{ type: 'tool_call', id: 'call_prev_1', name: 'get_weather', arguments: { city: 'Paris' } }],
        },
        { role: 'tool', parts: [{ type: 'tool_call_response', id: 'call_prev_1', response: TOOL_RESULT }] },
      ]);
      // The model answers the result in text.
      const output = parsed(span.attributes[OUTPUT]);
      expect(output[0].parts).toEqual([{ type: 'text', content: expect.stringContaining('Simulated reply') }]);
    }
  });

  it('records the tool definitions with their type and name only', async () => {
    capture(true);
    await viaOpenai(target(), askForTool);
    const [span] = await spans(1);
    expect(parsed(span.attributes[TOOLS_ATTR])).toEqual([
      { type: 'function', name: 'get_weather' },
      { type: 'function', name: 'get_local_time' },
    ]);
    expect(String(span.attributes[TOOLS_ATTR])).not.toContain('description');
    expect(String(span.attributes[TOOLS_ATTR])).not.toContain('properties');
  });
});

describe('capture modes', () => {
  /** What span_only puts on the span: the reference the other modes are compared with. */
  async function reference(): Promise<Record<string, string>> {
    capture('span_only');
    await viaOpenai(target(), answerToolResult);
    const [span] = await spans(1);
    telemetry.reset();
    return {
      [INPUT]: String(span.attributes[INPUT]),
      [OUTPUT]: String(span.attributes[OUTPUT]),
      [TOOLS_ATTR]: String(span.attributes[TOOLS_ATTR]),
    };
  }

  it.each([
    { how: 'option true', mode: true, env: undefined, onSpan: true, inEvent: false },
    { how: 'option span_only', mode: 'span_only', env: undefined, onSpan: true, inEvent: false },
    { how: 'option event_only', mode: 'event_only', env: undefined, onSpan: false, inEvent: true },
    { how: 'option span_and_event', mode: 'span_and_event', env: undefined, onSpan: true, inEvent: true },
    { how: 'env true', mode: undefined, env: 'true', onSpan: true, inEvent: false },
    { how: 'env span_only', mode: undefined, env: 'span_only', onSpan: true, inEvent: false },
    { how: 'env event_only', mode: undefined, env: 'event_only', onSpan: false, inEvent: true },
    { how: 'env span_and_event', mode: undefined, env: 'span_and_event', onSpan: true, inEvent: true },
    {
      how: 'option span_only over env span_and_event',
      mode: 'span_only',
      env: 'span_and_event',
      onSpan: true,
      inEvent: false,
    },
    { how: 'option event_only over env span_only', mode: 'event_only', env: 'span_only', onSpan: false, inEvent: true },
  ] as const)(
    '$how: content on the span $onSpan, in the details event $inEvent',
    async ({ mode, env, onSpan, inEvent }) => {
      const expected = await reference();
      capture(mode, env);
      await viaOpenai(target(), answerToolResult);
      const [span] = await spans(1);
      const content = [INPUT, OUTPUT, TOOLS_ATTR] as const;
      for (const key of content) {
        if (onSpan) expect(span.attributes[key], key).toBe(expected[key]);
        else expect(span.attributes, key).not.toHaveProperty(key);
      }
      const details = detailRecords();
      if (!inEvent) {
        expect(details).toHaveLength(0);
        return;
      }
      expect(details).toHaveLength(1);
      const [record] = details;
      // Correlated with the call's span.
      expect(record.spanContext?.traceId).toBe(span.spanContext().traceId);
      expect(record.spanContext?.spanId).toBe(span.spanContext().spanId);
      for (const key of content) expect(record.attributes[key], key).toBe(expected[key]);
      expect(record.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'assemblyai',
        'gen_ai.request.model': 'claude-sonnet-4-6',
        'gen_ai.response.model': 'claude-sonnet-4-6',
        'gen_ai.response.finish_reasons': span.attributes['gen_ai.response.finish_reasons'],
      });
    },
  );
});

/** Everything a backend would receive: span names, attributes, events, status; log bodies and attributes; metrics. */
async function everythingExported(collect: () => Promise<unknown>): Promise<string> {
  return JSON.stringify({
    spans: telemetry.spans().map((s) => ({
      name: s.name,
      attributes: s.attributes,
      events: s.events,
      status: s.status,
      links: s.links,
    })),
    logs: telemetry.logs().map((l) => ({
      eventName: l.eventName,
      body: l.body,
      attributes: l.attributes,
      severity: l.severityText,
    })),
    metrics: await collect(),
  });
}

describe('capture off', () => {
  it.each([
    { how: 'the default', mode: undefined, env: undefined },
    { how: 'option false over env true', mode: false, env: 'true' },
    { how: 'env false', mode: undefined, env: 'false' },
  ] as const)('leaves no content in spans, events, log records or metrics ($how)', async ({ mode, env }) => {
    capture(mode, env);
    const collect = freshMetrics(telemetry);
    const replies: string[] = [];
    for (const client of CLIENTS) {
      const asked = await client.call(target(), forClient(client, askForTool));
      replies.push(receivedToolCalls(asked.text)[0].arguments);
      const answered = await client.call(target(), forClient(client, answerToolResult));
      const sent = sentFacts(answered.text);
      replies.push(
        sent.json?.choices[0].message.content ?? sent.chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''),
      );
    }
    await spans(CLIENTS.length * 2);
    const all = await everythingExported(collect);
    for (const key of [INPUT, OUTPUT, TOOLS_ATTR]) expect(all).not.toContain(key);
    expect(detailRecords()).toHaveLength(0);
    for (const secret of [
      QUESTION,
      'Paris',
      TOOL_RESULT,
      '77ab',
      'get_weather',
      'get_local_time',
      '5d1e',
      'Simulated reply',
    ])
      expect(all, secret).not.toContain(secret);
    for (const reply of replies) expect(all).not.toContain(reply.slice(0, 24));
  });
});

describe('credentials', () => {
  it.each([undefined, 'span_only', 'event_only', 'span_and_event'] as const)(
    'never appear in anything exported, capture %s',
    async (mode) => {
      capture(mode);
      const collect = freshMetrics(telemetry);
      let calls = 0;
      for (const client of CLIENTS) {
        await client.call(target(), forClient(client, answerToolResult));
        await client.call(target(), forClient(client, { ...askForTool, x_sim: { toolCall: true, status: 500 } }));
        // A rejected key is a credential too.
        await client.call(target(`bad-${KEY}`), forClient(client, askForTool));
        calls += 3;
      }
      await spans(calls);
      const all = await everythingExported(collect);
      if (mode !== undefined) expect(all).toContain(INPUT);
      expect(all).not.toContain(KEY);
      // Not even a part of it (the diagnostics may name the `Bearer` prefix, never what follows).
      expect(all).not.toContain(KEY.slice(-8));
    },
  );
});
