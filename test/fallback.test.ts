import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import type { LlmGatewayCallRecord } from '../src/types';
import { CLIENTS, forClient, sentFacts, type CallTarget, type ChatBody } from './support/gateway-calls';
import { freshMetrics, histogramPoints } from './support/metric-points';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Issue 12, Must show 2: `assemblyai.fallback.used` is true when a fallback model served, false
// when the primary served a request that named fallbacks, and absent when it named none: on the
// span, on the duration and token metric points, in the onCallEnd record and in the log record.

const KEY = 'sim-secret-key-fallback-4b8e';
const PRIMARY = 'claude-sonnet-4-6';
const FALLBACK = 'gpt-5';
const FALLBACK_USED = 'assemblyai.fallback.used';

let gateway: SimulatedGateway;
let telemetry: TestTelemetry;
const hooked: LlmGatewayCallRecord[] = [];
const target = (): CallTarget => ({ baseUrl: gateway.url, apiKey: KEY });

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 1000 });
  telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}`, region: 'us' }], {
    onCallEnd: (record) => hooked.push(record),
  });
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
});
beforeEach(() => {
  telemetry.reset();
  hooked.length = 0;
});

async function theSpan(): Promise<ReadableSpan> {
  const [span] = await telemetry.waitForSpans(1);
  await new Promise((r) => setTimeout(r, 20));
  expect(telemetry.spans()).toHaveLength(1);
  expect(telemetry.lifecycle.started).toBe(1);
  expect(telemetry.lifecycle.ended).toBe(1);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  return span;
}

function callLog(): ReadableLogRecord {
  const logs = telemetry.logs().filter((l) => l.eventName === 'assemblyai.llm_gateway.call');
  expect(logs).toHaveLength(1);
  return logs[0];
}

const cases: { name: string; extra: ChatBody; responseModel: string; used: boolean | undefined }[] = [
  {
    name: 'a fallback served (the primary provider failed)',
    extra: { fallbacks: [{ model: FALLBACK }], x_sim: { failModels: [PRIMARY] } },
    responseModel: FALLBACK,
    used: true,
  },
  {
    name: 'the primary served a request that named fallbacks',
    extra: { fallbacks: [{ model: FALLBACK }] },
    responseModel: PRIMARY,
    used: false,
  },
  { name: 'the request named no fallbacks', extra: {}, responseModel: PRIMARY, used: undefined },
];

describe.each(CLIENTS.map((c) => ({ ...c, label: `${c.name} ${c.stream ? 'streamed' : 'JSON'}` })))(
  '$label',
  (client) => {
    it.each(cases)('assemblyai.fallback.used when $name', async ({ extra, responseModel, used }) => {
      const collect = freshMetrics(telemetry);
      const body = forClient(client, {
        model: PRIMARY,
        messages: [{ role: 'user', content: 'What is the capital of France?' }],
        max_tokens: 50,
        ...extra,
      });
      const result = await client.call(target(), body);
      expect(result.ok, String(result.error)).toBe(true);
      expect(sentFacts(result.text).model).toBe(responseModel);

      const span = await theSpan();
      expect(span.attributes['gen_ai.request.model']).toBe(PRIMARY);
      expect(span.attributes['gen_ai.response.model']).toBe(responseModel);
      expect(span.attributes[FALLBACK_USED]).toBe(used);
      if (used === undefined) expect(span.attributes).not.toHaveProperty(FALLBACK_USED);

      // Every duration and token point of the call carries it (or lacks the key).
      const all = await collect();
      const points = [
        ...histogramPoints(all, 'gen_ai.client.operation.duration'),
        ...histogramPoints(all, 'gen_ai.client.token.usage'),
        ...histogramPoints(all, 'gen_ai.client.operation.time_to_first_chunk'),
      ];
      expect(histogramPoints(all, 'gen_ai.client.operation.duration')).toHaveLength(1);
      expect(histogramPoints(all, 'gen_ai.client.token.usage')).toHaveLength(2);
      expect(histogramPoints(all, 'gen_ai.client.operation.time_to_first_chunk')).toHaveLength(client.stream ? 1 : 0);
      for (const point of points) {
        expect(point.attributes['gen_ai.response.model']).toBe(responseModel);
        if (used === undefined) expect(point.attributes).not.toHaveProperty(FALLBACK_USED);
        else expect(point.attributes[FALLBACK_USED]).toBe(used);
      }

      // The per-call record: the onCallEnd hook and the log record.
      expect(hooked).toHaveLength(1);
      const record = hooked[0];
      expect(record.responseModel).toBe(responseModel);
      if (used === undefined) expect(record).not.toHaveProperty('fallbackUsed');
      else expect(record.fallbackUsed).toBe(used);
      const log = callLog();
      if (used === undefined) expect(log.attributes).not.toHaveProperty(FALLBACK_USED);
      else expect(log.attributes[FALLBACK_USED]).toBe(used);
      expect(log.spanContext?.spanId).toBe(span.spanContext().spanId);
      if (used) expect(String(log.body)).toContain(`served by fallback ${FALLBACK}`);
      else expect(String(log.body)).not.toContain('served by fallback');
    });
  },
);
