import nodeFetch from 'node-fetch';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Some apps replace the global fetch with node-fetch before telemetry starts. Its Response is
// not Node's, so the fetch wrapper must not touch it; node:http sees those calls instead.

let gateway: SimulatedGateway;
let telemetry: TestTelemetry;
const nativeFetch = globalThis.fetch;

beforeAll(async () => {
  gateway = await startSimulatedGateway();
  globalThis.fetch = nodeFetch as unknown as typeof fetch;
  telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}` }]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  globalThis.fetch = nativeFetch;
  await gateway.close();
});

it('leaves a polyfilled global fetch working, and records its calls through node:http', async () => {
  const call = async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'k', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] }),
    });
    return JSON.parse(await res.text()) as { request_id: string };
  };
  const first = await call();
  const second = await call();
  const spans = await telemetry.waitForSpans(2);
  expect(telemetry.lifecycle.started).toBe(telemetry.lifecycle.ended);
  expect(spans.every((s) => s.attributes['http.response.status_code'] === 200)).toBe(true);
  // The first call is seen by the fetch wrapper up to its head; from then on node:http sees them whole.
  expect(spans[1].attributes['assemblyai.request_id']).toBe(second.request_id);
  expect(first.request_id).toBeTypeOf('string');
});
