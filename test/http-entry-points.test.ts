import { trace, type Span } from '@opentelemetry/api';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { noteHttpModuleLoaded } from '../src/transports/http';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// The mechanism behind GenAI -> HTTP nesting, in process: when another module wraps
// http.request (as @opentelemetry/instrumentation-http does when node:http is loaded), the
// transport puts its own wrapper above it, so whatever that module starts is a child of the
// GenAI span; and it patches nothing while nobody else wraps node:http.

const nodeRequest = http.request;
let gateway: SimulatedGateway;
let telemetry: TestTelemetry;

beforeAll(async () => {
  gateway = await startSimulatedGateway();
  telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}` }]);
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  http.request = nodeRequest;
  await gateway.close();
});
beforeEach(() => telemetry.reset());

/** A stand-in for the http instrumentation's wrapper: records the span active when it runs. */
function installForeignWrapper(): { activeSpans: (Span | undefined)[]; wrapper: typeof http.request } {
  const activeSpans: (Span | undefined)[] = [];
  const inner = http.request;
  const wrapper = function (this: unknown, ...args: unknown[]) {
    activeSpans.push(trace.getActiveSpan());
    return Reflect.apply(inner, this, args);
  } as typeof http.request;
  Object.defineProperty(wrapper, '__original', { value: inner });
  http.request = wrapper;
  // What the instrumentation's require hook reports when node:http is (re)loaded.
  noteHttpModuleLoaded(http);
  return { activeSpans, wrapper };
}

function chat(model: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${gateway.url}/v1/chat/completions`,
      { method: 'POST', headers: { authorization: 'sim-key' } },
      (res) => res.resume().on('end', resolve),
    );
    request.on('error', reject);
    request.end(JSON.stringify({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 64 }));
  });
}

it('patches nothing while nobody else wraps node:http', () => {
  expect(http.request).toBe(nodeRequest);
});

it('sits above a wrapper installed after it, which then runs inside the GenAI span', async () => {
  const { activeSpans, wrapper } = installForeignWrapper();
  await sleep(0);
  expect(http.request).not.toBe(wrapper);
  expect((http.request as { __original?: unknown }).__original).toBe(wrapper);

  await chat('gpt-5');
  const [span] = await telemetry.waitForSpans(1);
  expect(activeSpans).toHaveLength(1);
  expect(activeSpans[0]?.spanContext().spanId).toBe(span.spanContext().spanId);
  // Started before the body was written; the body then named the model.
  expect(span.name).toBe('chat gpt-5');
  expect(span.attributes).toMatchObject({
    'gen_ai.request.model': 'gpt-5',
    'gen_ai.request.max_tokens': 64,
    'http.response.status_code': 200,
  });

  telemetry.instrumentation.disable();
  expect(http.request).toBe(wrapper);
  telemetry.instrumentation.enable();
  expect((http.request as { __original?: unknown }).__original).toBe(wrapper);
  http.request = nodeRequest;
});

it('lets requests to other hosts through its wrapper without starting anything', async () => {
  const { activeSpans } = installForeignWrapper();
  await sleep(0);
  const other = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const { port } = other.address() as { port: number };
  await new Promise((resolve) =>
    http.request(`http://127.0.0.1:${port}/`, (res) => res.resume().on('end', resolve)).end(),
  );
  await new Promise((resolve) => other.close(resolve));
  expect(activeSpans).toEqual([undefined]);
  expect(telemetry.spans()).toHaveLength(0);
  telemetry.instrumentation.disable();
  http.request = nodeRequest;
  telemetry.instrumentation.enable();
});

it('stops observing node:http on disable()', async () => {
  telemetry.instrumentation.disable();
  await chat('gpt-5');
  await sleep(20);
  expect(telemetry.spans()).toHaveLength(0);
  telemetry.instrumentation.enable();
  await chat('gpt-5');
  await telemetry.waitForSpans(1);
});
