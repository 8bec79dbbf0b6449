import http from 'node:http';
import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { NODE_UNDICI_PUBLISHES_BODIES } from '../src/transports/undici';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Two enabled copies of the instrumentation (say `--import .../register` plus one in code) must
// give one span per call, never a false error from the copy that lost the race.

let gateway: SimulatedGateway;
let first: TestTelemetry;
let second: TestTelemetry;

beforeAll(async () => {
  gateway = await startSimulatedGateway();
  first = setupTelemetry([{ host: `127.0.0.1:${gateway.port}` }]);
  second = setupTelemetry([{ host: `127.0.0.1:${gateway.port}` }]);
});
afterAll(async () => {
  first.instrumentation.disable();
  second.instrumentation.disable();
  await gateway.close();
});

const payload = JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] });

function httpCall(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${gateway.url}/v1/chat/completions`,
      { method: 'POST', headers: { authorization: 'k' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

it('records each node:http and fetch call once, without a false error', async () => {
  const viaHttp = JSON.parse(await httpCall()) as { request_id: string };
  const viaFetch = (await (
    await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'k' },
      body: payload,
    })
  ).json()) as { request_id: string };
  await new Promise((r) => setTimeout(r, 100));
  const spans = [...first.spans(), ...second.spans()];
  expect(spans).toHaveLength(2);
  expect(spans.every((s) => s.status.code !== SpanStatusCode.ERROR)).toBe(true);
  expect(spans.map((s) => s.attributes['assemblyai.request_id']).sort()).toEqual(
    [viaHttp.request_id, viaFetch.request_id].sort(),
  );
  for (const t of [first, second]) expect(t.lifecycle.started).toBe(t.lifecycle.ended);
});

it('records each undici call once: a captured fetch, npm undici fetch and request', async () => {
  for (const t of [first, second]) t.reset();
  first.instrumentation.disable();
  second.instrumentation.disable();
  const captured = globalThis.fetch;
  first.instrumentation.enable();
  second.instrumentation.enable();
  const { fetch: undiciFetch, request: undiciRequest } = await import('undici');
  const url = `${gateway.url}/v1/chat/completions`;
  const init = { method: 'POST', headers: { authorization: 'k' }, body: payload };
  const ids = [
    ((await (await captured(url, init)).json()) as { request_id: string }).request_id,
    ((await (await undiciFetch(url, init)).json()) as { request_id: string }).request_id,
    ((await (await undiciRequest(url, init)).body.json()) as { request_id: string }).request_id,
  ];
  await new Promise((r) => setTimeout(r, 100));
  const spans = [...first.spans(), ...second.spans()];
  expect(spans).toHaveLength(3);
  expect(spans.every((s) => s.status.code !== SpanStatusCode.ERROR)).toBe(true);
  // Node 22 sees no bodies of these (see undici-wire.test.ts): the span count is what holds there.
  if (NODE_UNDICI_PUBLISHES_BODIES)
    expect(spans.map((s) => s.attributes['assemblyai.request_id']).sort()).toEqual(ids.sort());
  for (const t of [first, second]) expect(t.lifecycle.started).toBe(t.lifecycle.ended);
});
