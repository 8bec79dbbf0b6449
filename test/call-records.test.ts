import { SeverityNumber } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import type { LlmGatewayCallRecord } from '../src/types';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// The guide asks users to log request_id, model, endpoint and time for every call: each call
// yields one log record (correlated with its span) and one onCallEnd hook call.

const API_KEY = 'sim-records-key-77aa';
let gateway: SimulatedGateway;
let telemetry: TestTelemetry;
const hooked: LlmGatewayCallRecord[] = [];
let hookThrows = false;

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 1000 });
  telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}`, region: 'eu' }], {
    onCallEnd: (record) => {
      hooked.push(record);
      if (hookThrows) throw new Error('logger exploded');
    },
  });
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
});
beforeEach(() => {
  telemetry.reset();
  hooked.length = 0;
  hookThrows = false;
});

const chat = (extra: Record<string, unknown> = {}) =>
  fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: API_KEY },
    body: JSON.stringify({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });

describe('a record for every call', () => {
  it('emits one log record for a successful call, with the span trace id and the body request_id', async () => {
    const body: any = await (await chat()).json();
    const [span] = await telemetry.waitForSpans(1);
    const logs = telemetry.logs();
    expect(logs).toHaveLength(1);
    const log = logs[0];
    expect(log.eventName).toBe('assemblyai.llm_gateway.call');
    expect(log.severityNumber).toBe(SeverityNumber.INFO);
    expect(log.spanContext?.traceId).toBe(span.spanContext().traceId);
    expect(log.spanContext?.spanId).toBe(span.spanContext().spanId);
    expect(log.attributes).toMatchObject({
      'assemblyai.request_id': body.request_id,
      'gen_ai.request.model': 'claude-sonnet-4-6',
      'gen_ai.operation.name': 'chat',
      'server.address': '127.0.0.1',
      'url.path': '/v1/chat/completions',
      'assemblyai.region': 'eu',
      'http.response.status_code': 200,
    });
    expect(log.attributes['assemblyai.call.duration_ms']).toBeTypeOf('number');
    expect(String(log.body)).toContain(`request_id=${body.request_id}`);
  });

  it('emits an ERROR record with the error code for a failed call', async () => {
    const body: any = await (await chat({ x_sim: { status: 500, envelope: 'seed' } })).json();
    await telemetry.waitForSpans(1);
    const log = telemetry.logs()[0];
    expect(log.severityNumber).toBe(SeverityNumber.ERROR);
    expect(log.attributes).toMatchObject({
      'assemblyai.error.code': 'internal_error',
      'error.type': 'internal_error',
      'assemblyai.request_id': body.error.request_id,
      'assemblyai.diagnostic.ids': ['gateway.server_error'],
    });
  });

  it('emits a record for a streamed call', async () => {
    const res = await chat({ stream: true, stream_options: { include_usage: true } });
    await res.text();
    const [span] = await telemetry.waitForSpans(1);
    const log = telemetry.logs()[0];
    expect(log.attributes['gen_ai.response.model']).toBe('claude-sonnet-4-6');
    expect(log.spanContext?.spanId).toBe(span.spanContext().spanId);
  });

  it('hands the onCallEnd hook the same record', async () => {
    const body: any = await (await chat()).json();
    const [span] = await telemetry.waitForSpans(1);
    expect(hooked).toHaveLength(1);
    expect(hooked[0]).toMatchObject({
      requestId: body.request_id,
      model: 'claude-sonnet-4-6',
      responseModel: 'claude-sonnet-4-6',
      host: '127.0.0.1',
      port: gateway.port,
      path: '/v1/chat/completions',
      region: 'eu',
      status: 200,
      operation: 'chat',
      diagnostics: [],
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
    });
    expect(new Date(hooked[0].timestamp).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(hooked[0].durationMs).toBeGreaterThanOrEqual(0);
  });

  it('keeps a throwing hook away from the application', async () => {
    hookThrows = true;
    const res = await chat();
    expect(res.status).toBe(200);
    await expect(res.json()).resolves.toHaveProperty('request_id');
    await telemetry.waitForSpans(1);
    expect(hooked).toHaveLength(1);
    expect(telemetry.lifecycle.ended).toBe(1);
  });

  it('can turn the log records off and keep the hook', async () => {
    telemetry.instrumentation.setConfig({
      hosts: [{ host: `127.0.0.1:${gateway.port}`, region: 'eu' }],
      emitCallRecords: false,
      onCallEnd: (r) => hooked.push(r),
    });
    try {
      await (await chat()).text();
      await telemetry.waitForSpans(1);
      expect(telemetry.logs()).toHaveLength(0);
      expect(hooked).toHaveLength(1);
    } finally {
      telemetry.instrumentation.setConfig({
        hosts: [{ host: `127.0.0.1:${gateway.port}`, region: 'eu' }],
        onCallEnd: (r) => hooked.push(r),
      });
    }
  });

  it('prints the pino line from the README', async () => {
    const lines: string[] = [];
    const logger = { info: vi.fn((obj: object, msg: string) => lines.push(JSON.stringify({ ...obj, msg }))) };
    telemetry.instrumentation.setConfig({
      hosts: [{ host: `127.0.0.1:${gateway.port}`, region: 'eu' }],
      onCallEnd: (record) => logger.info({ llmGateway: record }, 'LLM Gateway call'),
    });
    try {
      const body: any = await (await chat()).json();
      await telemetry.waitForSpans(1);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(body.request_id);
    } finally {
      telemetry.instrumentation.setConfig({
        hosts: [{ host: `127.0.0.1:${gateway.port}`, region: 'eu' }],
        onCallEnd: (r) => hooked.push(r),
      });
    }
  });
});
