// A CommonJS application run by test/nesting.test.ts (`node --import tsx nesting-app.ts <order>`):
// it registers this instrumentation with the undici and http instrumentations in the given
// order, as an application's telemetry setup would, then loads its HTTP clients and calls the
// (simulated) gateway with each. It prints the finished spans and the diag warnings as JSON.
//
// Orders: `gateway-first`, `http-first`, and `gateway-first-sync`, which also makes a call in
// the same tick as the first require of node:http (before any later hook could run).
import { context, diag, DiagLogLevel, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type * as NodeHttp from 'node:http';
import { startSimulatedGateway } from '../../../examples/simulated-gateway/server';
import { LlmGatewayInstrumentation } from '../../../src';

const order = process.argv[2] ?? 'http-first';
const warnings: string[] = [];
diag.setLogger(
  {
    error: () => {},
    warn: (...args: unknown[]) => warnings.push(args.join(' ')),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  },
  DiagLogLevel.WARN,
);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));

const CHAT = JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'Hi' }] });
const HEADERS = { authorization: 'sim-key', 'content-type': 'application/json' };

async function main(): Promise<void> {
  const gateway = await startSimulatedGateway();
  const hosts = [{ host: `127.0.0.1:${gateway.port}` }];
  const create: Record<string, () => Instrumentation> = {
    gateway: () => new LlmGatewayInstrumentation({ hosts }),
    undici: () => new UndiciInstrumentation(),
    http: () => new HttpInstrumentation(),
  };
  const names = order.startsWith('gateway-first') ? ['gateway', 'undici', 'http'] : ['undici', 'http', 'gateway'];
  registerInstrumentations({ instrumentations: names.map((name) => create[name]()) });

  // The application's code, loaded after its telemetry setup.
  const http = require('node:http') as typeof NodeHttp;
  const calls: Promise<unknown>[] = [];
  if (order === 'gateway-first-sync') calls.push(httpRequest(http, gateway.url));
  const axios = require('axios') as typeof import('axios');
  const nodeFetch = require('node-fetch') as typeof import('node-fetch').default;
  await Promise.all(calls);

  await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: HEADERS, body: CHAT }).then((r) =>
    r.text(),
  );
  await axios.post(`${gateway.url}/v1/chat/completions`, CHAT, { headers: HEADERS });
  await nodeFetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: HEADERS, body: CHAT }).then((r) =>
    r.text(),
  );
  await httpRequest(http, gateway.url);
  await new Promise((resolve, reject) =>
    http.get(`${gateway.url}/v1/models`, (res) => res.resume().on('end', resolve)).on('error', reject),
  );
  await gateway.close();

  const spans = exporter.getFinishedSpans().map((span) => ({
    name: span.name,
    kind: span.kind,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    scope: span.instrumentationScope.name,
  }));
  console.log(JSON.stringify({ spans, warnings }));
}

function httpRequest(http: typeof NodeHttp, base: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${base}/v1/chat/completions`, { method: 'POST', headers: HEADERS }, (res) =>
      res.resume().on('end', resolve),
    );
    request.on('error', reject);
    request.end(CHAT);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
