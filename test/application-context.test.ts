import { context, propagation, type Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { setLlmGatewayContext, withLlmGatewayContext } from '../src';
import { viaFetch, viaOpenai, type CallTarget } from './support/gateway-calls';
import { freshMetrics, histogramPoints } from './support/metric-points';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Issue 12, Must show 4: withLlmGatewayContext({ conversationId, promptName, promptVersion }, fn)
// puts gen_ai.conversation.id, gen_ai.prompt.name and gen_ai.prompt.version on the spans of the
// calls made inside fn (openai SDK and fetch, after an await too), on none outside; nested
// contexts merge; W3C baggage is read only with readContextFromBaggage: true.

const KEY = 'sim-secret-key-context-5e0f';
const CONVERSATION = 'gen_ai.conversation.id';
const PROMPT_NAME = 'gen_ai.prompt.name';
const PROMPT_VERSION = 'gen_ai.prompt.version';
const KEYS = [CONVERSATION, PROMPT_NAME, PROMPT_VERSION];

let gateway: SimulatedGateway;
let telemetry: TestTelemetry;
const hosts = () => [{ host: `127.0.0.1:${gateway.port}`, region: 'us' }];
const target = (): CallTarget => ({ baseUrl: gateway.url, apiKey: KEY });

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 1000 });
  telemetry = setupTelemetry(hosts());
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
});
beforeEach(() => telemetry.reset());

/** A call whose span is told apart by its model (`chat {model}`). */
const openaiCall = (model: string, stream = false) =>
  viaOpenai(target(), {
    model,
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 20,
    ...(stream ? { stream: true } : {}),
  });
const fetchCall = (model: string) =>
  viaFetch(target(), { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 });

/** Exactly `count` spans, each ended once, by model; with the context attributes each started with. */
async function spansByModel(count: number): Promise<Map<string, { span: ReadableSpan; atStart: Attributes }>> {
  await telemetry.waitForSpans(count);
  await new Promise((r) => setTimeout(r, 20));
  const spans = telemetry.spans();
  expect(spans).toHaveLength(count);
  expect(telemetry.lifecycle.started).toBe(count);
  expect(telemetry.lifecycle.ended).toBe(count);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  const byModel = new Map<string, { span: ReadableSpan; atStart: Attributes }>();
  for (const span of spans) {
    const model = String(span.attributes['gen_ai.request.model']);
    expect(byModel.has(model), `one span for ${model}`).toBe(false);
    byModel.set(model, { span, atStart: telemetry.lifecycle.startAttributes.get(span.spanContext().spanId)! });
  }
  return byModel;
}

/** The three context attributes of a span (absent ones included, as undefined). */
function contextOf(span: ReadableSpan): Attributes {
  return Object.fromEntries(KEYS.map((k) => [k, span.attributes[k]]));
}

const NONE = { [CONVERSATION]: undefined, [PROMPT_NAME]: undefined, [PROMPT_VERSION]: undefined };

describe('withLlmGatewayContext', () => {
  it('puts conversation and prompt on the spans of calls made inside, before and after an await, and on none outside', async () => {
    const values = { conversationId: 'conv-8842', promptName: 'summarise-call', promptVersion: '3' };
    const collect = freshMetrics(telemetry);
    const returned = await withLlmGatewayContext(values, async () => {
      await openaiCall('claude-sonnet-4-6');
      await new Promise((r) => setTimeout(r, 5));
      await fetchCall('gpt-5');
      await openaiCall('gpt-5-mini', true);
      return 'fn result';
    });
    expect(returned).toBe('fn result');
    await fetchCall('gemini-2.5-flash');
    await openaiCall('claude-haiku-4-5-20251001');

    const spans = await spansByModel(5);
    const expected = { [CONVERSATION]: 'conv-8842', [PROMPT_NAME]: 'summarise-call', [PROMPT_VERSION]: '3' };
    for (const model of ['claude-sonnet-4-6', 'gpt-5', 'gpt-5-mini']) {
      const { span, atStart } = spans.get(model)!;
      expect(contextOf(span), model).toEqual(expected);
      // From the start: samplers see them.
      expect(atStart, model).toMatchObject(expected);
    }
    for (const model of ['gemini-2.5-flash', 'claude-haiku-4-5-20251001']) {
      expect(contextOf(spans.get(model)!.span), model).toEqual(NONE);
    }
    // An unbounded id is never a metric attribute.
    for (const point of histogramPoints(await collect(), 'gen_ai.client.operation.duration'))
      for (const key of KEYS) expect(point.attributes).not.toHaveProperty(key);
  });

  it('leaves a call running at the same time outside the context without them', async () => {
    await Promise.all([
      withLlmGatewayContext({ conversationId: 'conv-inside' }, () => openaiCall('claude-sonnet-4-6', true)),
      openaiCall('gpt-5', true),
      fetchCall('gemini-2.5-flash'),
    ]);
    const spans = await spansByModel(3);
    expect(contextOf(spans.get('claude-sonnet-4-6')!.span)).toEqual({ ...NONE, [CONVERSATION]: 'conv-inside' });
    expect(contextOf(spans.get('gpt-5')!.span)).toEqual(NONE);
    expect(contextOf(spans.get('gemini-2.5-flash')!.span)).toEqual(NONE);
  });

  it('merges nested contexts: the inner values over the outer ones, the outer ones again after', async () => {
    await withLlmGatewayContext({ conversationId: 'conv-1', promptName: 'outer-prompt' }, async () => {
      await withLlmGatewayContext({ promptName: 'inner-prompt', promptVersion: '2' }, () =>
        openaiCall('claude-sonnet-4-6'),
      );
      await fetchCall('gpt-5');
    });
    const spans = await spansByModel(2);
    expect(contextOf(spans.get('claude-sonnet-4-6')!.span)).toEqual({
      [CONVERSATION]: 'conv-1',
      [PROMPT_NAME]: 'inner-prompt',
      [PROMPT_VERSION]: '2',
    });
    expect(contextOf(spans.get('gpt-5')!.span)).toEqual({
      [CONVERSATION]: 'conv-1',
      [PROMPT_NAME]: 'outer-prompt',
      [PROMPT_VERSION]: undefined,
    });
  });

  it('is also set by setLlmGatewayContext, for frameworks that manage contexts themselves', async () => {
    const ctx = setLlmGatewayContext(context.active(), { conversationId: 'conv-framework', promptVersion: '7' });
    await context.with(ctx, () => fetchCall('gpt-5'));
    const spans = await spansByModel(1);
    expect(contextOf(spans.get('gpt-5')!.span)).toEqual({
      [CONVERSATION]: 'conv-framework',
      [PROMPT_NAME]: undefined,
      [PROMPT_VERSION]: '7',
    });
  });
});

describe('W3C baggage', () => {
  afterEach(() => telemetry.instrumentation.setConfig({ hosts: hosts() }));

  const withBaggage = <T>(fn: () => T): T => {
    const baggage = propagation.createBaggage({
      [CONVERSATION]: { value: 'conv-from-baggage' },
      [PROMPT_NAME]: { value: 'prompt-from-baggage' },
      [PROMPT_VERSION]: { value: '9' },
    });
    return context.with(propagation.setBaggage(context.active(), baggage), fn);
  };

  it('is not read by default', async () => {
    await withBaggage(() => openaiCall('claude-sonnet-4-6'));
    await withBaggage(() => fetchCall('gpt-5'));
    const spans = await spansByModel(2);
    for (const { span } of spans.values()) expect(contextOf(span)).toEqual(NONE);
  });

  it('fills what the application context does not set, with readContextFromBaggage: true', async () => {
    telemetry.instrumentation.setConfig({ hosts: hosts(), readContextFromBaggage: true });
    await withBaggage(() => openaiCall('claude-sonnet-4-6', true));
    await withBaggage(() => withLlmGatewayContext({ promptName: 'from-app' }, () => fetchCall('gpt-5')));
    await fetchCall('gemini-2.5-flash');
    const spans = await spansByModel(3);
    const fromBaggage = {
      [CONVERSATION]: 'conv-from-baggage',
      [PROMPT_NAME]: 'prompt-from-baggage',
      [PROMPT_VERSION]: '9',
    };
    expect(contextOf(spans.get('claude-sonnet-4-6')!.span)).toEqual(fromBaggage);
    expect(spans.get('claude-sonnet-4-6')!.atStart).toMatchObject(fromBaggage);
    expect(contextOf(spans.get('gpt-5')!.span)).toEqual({ ...fromBaggage, [PROMPT_NAME]: 'from-app' });
    // No baggage, no context: nothing invented.
    expect(contextOf(spans.get('gemini-2.5-flash')!.span)).toEqual(NONE);
  });
});
