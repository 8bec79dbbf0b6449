// The runtime suite: one plain ES module that Node, Bun and Deno all run as it is, against the
// built package (dist/) and a simulated gateway another process serves at LLM_GATEWAY_SIM_URL
// (scripts/runtimes.ts starts one per run, with a rate limit of 2 requests per model).
//
// It enables LlmGatewayInstrumentation with in-memory exporters, makes global-fetch,
// `openai`-SDK and node:http calls (JSON, stream, 429, a stream cancelled, aborted or left
// early) and checks that each call gave exactly one ended span with the contract's attributes.
// Every check prints one line
//   RUNTIME-CHECK {"runtime":"bun 1.4.5","check":"fetch json","ok":true,"problems":[]}
// probes (what the runtime does where the contract promises nothing) print
//   RUNTIME-PROBE {"runtime":"bun 1.4.5","probe":"...","observed":false,"note":"..."}
// and the run ends with
//   RUNTIME-RESULT {"runtime":"bun 1.4.5","passed":12,"failed":0}
// The exit code is 1 when a check failed.
import http from 'node:http';
import { createRequire } from 'node:module';
import process from 'node:process';
import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { LlmGatewayInstrumentation } from '../../dist/esm/index.mjs';

const requireHere = createRequire(import.meta.url);
/** Node's own undici publishes the body channels (Node >= 24.4): fetch is observed at the wire. */
const AT_WIRE = requireHere('../../dist/cjs/transports/undici.js').NODE_UNDICI_PUBLISHES_BODIES;

const API_KEY = 'sim-secret-key-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RATE_LIMIT = 2;

const runtime = globalThis.Deno
  ? `deno ${globalThis.Deno.version.deno}`
  : process.versions.bun
    ? `bun ${process.versions.bun}`
    : `node ${process.versions.node}`;

const gatewayUrl = process.env.LLM_GATEWAY_SIM_URL;
if (!gatewayUrl) {
  console.error('set LLM_GATEWAY_SIM_URL to a simulated gateway (npm run simulated-gateway -- --rate-limit 2)');
  process.exit(2);
}
const gatewayPort = Number(new URL(gatewayUrl).port);

/** Counts spans started and ended: every started span must end, once. */
class LifecycleCounter {
  started = 0;
  ended = 0;
  onStart() {
    this.started++;
  }
  onEnd() {
    this.ended++;
  }
  forceFlush() {
    return Promise.resolve();
  }
  shutdown() {
    return Promise.resolve();
  }
}

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const lifecycle = new LifecycleCounter();
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter }), lifecycle] });
// Taken before the instrumentation is enabled, as a library that keeps a fetch reference would.
const fetchBeforeEnable = globalThis.fetch;
const instrumentation = new LlmGatewayInstrumentation({
  enabled: false,
  hosts: [{ host: `127.0.0.1:${gatewayPort}`, region: 'us' }],
});
instrumentation.setTracerProvider(tracerProvider);
instrumentation.enable();

// Created after enable(): the SDK keeps the global fetch it finds at construction.
const openai = new OpenAI({
  apiKey: API_KEY,
  baseURL: `${gatewayUrl}/v1`,
  maxRetries: 0,
  organization: null,
  project: null,
});

// The simulated gateway's rate limit is per model: counting the calls to each model tells what
// `assemblyai.ratelimit.remaining` must say, whichever checks ran before.
const callsPerModel = new Map();

/** A chat request body; `sim` picks a simulated-gateway scenario (`x_sim`). Counts the call. */
function chatBody(model, { stream = false, sim } = {}) {
  callsPerModel.set(model, (callsPerModel.get(model) ?? 0) + 1);
  return {
    model,
    messages: [{ role: 'user', content: 'What is the capital of France?' }],
    max_tokens: 200,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    ...(sim ? { x_sim: sim } : {}),
  };
}

function fetchChat(model, options = {}, fetchFunction = fetch) {
  return fetchFunction(`${gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: API_KEY, 'content-type': 'application/json' },
    body: JSON.stringify(chatBody(model, options)),
    signal: options.signal,
  });
}

/** `http.request` by hand, the body read with `for await`; resolves with the status and text. */
function httpChat(model, options = {}) {
  const body = JSON.stringify(chatBody(model, options));
  return new Promise((resolve, reject) => {
    const request = http.request(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: API_KEY,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
    });
    request.on('error', reject).on('response', async (response) => {
      try {
        let text = '';
        for await (const chunk of response) text += chunk;
        resolve({ status: response.statusCode, text });
      } catch (error) {
        reject(error);
      }
    });
    request.end(body);
  });
}

function eventsOf(text) {
  return text
    .split('\n\n')
    .filter((event) => event.startsWith('data: {'))
    .map((event) => JSON.parse(event.slice(6)));
}

/** Reads an SSE body through `response.body`, as streaming applications do; returns its JSON events. */
async function readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return eventsOf(text);
}

/** Collects mismatches instead of stopping at the first, so a failed check says all it saw. */
class Expectations {
  problems = [];
  equal(name, actual, expected) {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      this.problems.push(`${name}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
  }
  that(name, condition, actual) {
    if (!condition) this.problems.push(`${name}: got ${JSON.stringify(actual)}`);
  }
}

/** The one span a call produced: waits for it, then a moment for a stray second one. */
async function oneSpan(expect) {
  await waitForSpans(1);
  await sleep(30);
  const spans = exporter.getFinishedSpans();
  expect.equal('ended spans', spans.length, 1);
  expect.equal('spans started = spans ended', lifecycle.started, lifecycle.ended);
  return spans[0];
}

function expectChatSpan(expect, span, model, status) {
  if (!span) return;
  const a = span.attributes;
  expect.equal('span name', span.name, `chat ${model}`);
  expect.equal('span kind', span.kind, SpanKind.CLIENT);
  expect.equal('gen_ai.operation.name', a['gen_ai.operation.name'], 'chat');
  expect.equal('gen_ai.provider.name', a['gen_ai.provider.name'], 'assemblyai');
  expect.equal('gen_ai.request.model', a['gen_ai.request.model'], model);
  expect.equal('server.address', a['server.address'], '127.0.0.1');
  expect.equal('server.port', a['server.port'], gatewayPort);
  expect.equal('http.request.method', a['http.request.method'], 'POST');
  expect.equal('http.response.status_code', a['http.response.status_code'], status);
  expect.equal('assemblyai.region', a['assemblyai.region'], 'us');
  expect.equal('assemblyai.ratelimit.limit', a['assemblyai.ratelimit.limit'], RATE_LIMIT);
  expect.that('assemblyai.ratelimit.reset > 0', a['assemblyai.ratelimit.reset'] > 0, a['assemblyai.ratelimit.reset']);
}

/** JSON bodies carry the gateway's request_id (a stream's chunks do not, on the simulated gateway). */
function expectRequestId(expect, span, requestId) {
  const actual = span.attributes['assemblyai.request_id'];
  expect.that('assemblyai.request_id is a UUID', UUID.test(String(actual)), actual);
  if (requestId !== undefined) expect.equal('assemblyai.request_id', actual, requestId);
}

function expectSuccess(expect, span, model, usage) {
  expectChatSpan(expect, span, model, 200);
  if (!span) return;
  const a = span.attributes;
  expect.equal('span status', span.status.code, SpanStatusCode.UNSET);
  expect.equal('gen_ai.response.model', a['gen_ai.response.model'], model);
  expect.equal('gen_ai.response.finish_reasons', a['gen_ai.response.finish_reasons'], ['stop']);
  expect.equal('gen_ai.usage.input_tokens', a['gen_ai.usage.input_tokens'], usage?.prompt_tokens);
  expect.equal('gen_ai.usage.output_tokens', a['gen_ai.usage.output_tokens'], usage?.completion_tokens);
  expect.equal(
    'assemblyai.ratelimit.remaining',
    a['assemblyai.ratelimit.remaining'],
    RATE_LIMIT - callsPerModel.get(model),
  );
  expect.equal('error.type', a['error.type'], undefined);
}

function expectJson(expect, span, model, body) {
  expectSuccess(expect, span, model, body.usage);
  if (span) expectRequestId(expect, span, body.request_id);
}

function expectStream(expect, span, model, chunks) {
  const lastUsage = chunks.filter((c) => c.usage).at(-1)?.usage;
  expectSuccess(expect, span, model, lastUsage);
  if (!span) return;
  expect.that('stream chunks read', chunks.length > 1, chunks.length);
  expect.equal('gen_ai.request.stream', span.attributes['gen_ai.request.stream'], true);
  expect.equal('gen_ai.response.id', span.attributes['gen_ai.response.id'], chunks[0]?.id);
}

function expectRateLimited(expect, span, model, requestId) {
  expectChatSpan(expect, span, model, 429);
  if (!span) return;
  const a = span.attributes;
  expect.equal('span status', span.status.code, SpanStatusCode.ERROR);
  expect.equal('error.type', a['error.type'], 'rate_limited');
  expect.equal('assemblyai.error.code', a['assemblyai.error.code'], 'rate_limited');
  expect.equal(
    'assemblyai.ratelimit.remaining',
    a['assemblyai.ratelimit.remaining'],
    RATE_LIMIT - callsPerModel.get(model),
  );
  expect.that('assemblyai.retry_after > 0', a['assemblyai.retry_after'] > 0, a['assemblyai.retry_after']);
  expectRequestId(expect, span, requestId);
}

/** A stream the application stopped reading: one span, ended, whatever the reason. */
function expectStoppedStream(expect, span, model) {
  expectChatSpan(expect, span, model, 200);
  if (!span) return;
  expect.equal('gen_ai.request.stream', span.attributes['gen_ai.request.stream'], true);
  expect.equal('gen_ai.response.model', span.attributes['gen_ai.response.model'], model);
}

/** Uses up what is left of a model's rate limit, so that its next call is a 429. */
async function exhaust(model) {
  let calls = 0;
  while ((callsPerModel.get(model) ?? 0) < RATE_LIMIT) {
    await (await fetchChat(model)).text();
    calls++;
  }
  await waitForSpans(calls);
  reset();
}

async function waitForSpans(count) {
  const deadline = Date.now() + 5000;
  while (exporter.getFinishedSpans().length < count && Date.now() < deadline) await sleep(5);
}

// Each check names the model it uses; a model can serve RATE_LIMIT successful calls.
const checks = [
  {
    name: 'fetch json',
    async run(expect) {
      const model = 'claude-sonnet-4-6';
      const response = await fetchChat(model);
      const body = await response.json();
      expect.equal('response status', response.status, 200);
      expectJson(expect, await oneSpan(expect), model, body);
    },
  },
  {
    name: 'fetch stream',
    async run(expect) {
      const model = 'gpt-5-mini';
      const response = await fetchChat(model, { stream: true });
      const chunks = await readEvents(response);
      expect.equal('response status', response.status, 200);
      expectStream(expect, await oneSpan(expect), model, chunks);
    },
  },
  {
    name: 'fetch stream cancelled by the reader',
    async run(expect) {
      const model = 'gpt-5-mini';
      const response = await fetchChat(model, { stream: true, sim: { mode: 'slow' } });
      const reader = response.body.getReader();
      await reader.read();
      await reader.cancel();
      const span = await oneSpan(expect);
      expectStoppedStream(expect, span, model);
      if (span) expect.equal('span status', span.status.code, SpanStatusCode.UNSET);
      if (span) expect.equal('error.type', span.attributes['error.type'], undefined);
    },
  },
  {
    name: 'fetch stream aborted by a signal',
    async run(expect) {
      const model = 'gpt-5';
      const controller = new AbortController();
      const response = await fetchChat(model, { stream: true, sim: { mode: 'slow' }, signal: controller.signal });
      const reader = response.body.getReader();
      await reader.read();
      controller.abort();
      await reader.read().then(
        () => expect.problems.push('the read after abort() resolved'),
        () => {},
      );
      const span = await oneSpan(expect);
      expectStoppedStream(expect, span, model);
      if (span) expect.equal('span status', span.status.code, SpanStatusCode.ERROR);
      if (span) expect.equal('error.type', span.attributes['error.type'], 'aborted');
    },
  },
  {
    name: 'fetch 429',
    async run(expect) {
      const model = 'gemini-2.5-flash';
      await exhaust(model);
      const response = await fetchChat(model);
      const body = await response.json();
      expect.equal('response status', response.status, 429);
      expectRateLimited(expect, await oneSpan(expect), model, body.request_id);
    },
  },
  {
    name: 'openai json',
    async run(expect) {
      const model = 'claude-opus-4-6';
      const completion = await openai.chat.completions.create(chatBody(model));
      expectJson(expect, await oneSpan(expect), model, completion);
    },
  },
  {
    name: 'openai stream',
    async run(expect) {
      const model = 'gpt-5';
      const chunks = [];
      for await (const chunk of await openai.chat.completions.create(chatBody(model, { stream: true })))
        chunks.push(chunk);
      expectStream(expect, await oneSpan(expect), model, chunks);
    },
  },
  {
    name: 'openai stream left with break',
    async run(expect) {
      const model = 'claude-sonnet-4-6';
      const stream = await openai.chat.completions.create(chatBody(model, { stream: true, sim: { mode: 'slow' } }));
      // eslint-disable-next-line no-unused-vars -- left at the first chunk: the break is what this case tests
      for await (const _chunk of stream) break;
      const span = await oneSpan(expect);
      expectStoppedStream(expect, span, model);
      // The SDK aborts its own request on `break`, then cancels the body. Observed at the wire
      // (Node >= 24.4), the abort comes first; through the fetch tap (Node 22, Bun, Deno), the cancel.
      if (span) expect.equal('error.type', span.attributes['error.type'], AT_WIRE ? 'aborted' : undefined);
    },
  },
  {
    name: 'openai 429',
    async run(expect) {
      const model = 'claude-haiku-4-5-20251001';
      await exhaust(model);
      let status;
      try {
        await openai.chat.completions.create(chatBody(model));
      } catch (error) {
        status = error.status;
      }
      expect.equal('OpenAI error status', status, 429);
      // The SDK keeps only the body's `error` member, which the flat 429 envelope has not:
      // the request_id is checked to be a UUID, not against the body.
      expectRateLimited(expect, await oneSpan(expect), model, undefined);
    },
  },
  {
    name: 'node:http json',
    async run(expect) {
      const model = 'gpt-oss-20b';
      const { status, text } = await httpChat(model);
      expect.equal('response status', status, 200);
      expectJson(expect, await oneSpan(expect), model, JSON.parse(text));
    },
  },
  {
    name: 'node:http stream',
    async run(expect) {
      const model = 'claude-opus-4-6';
      const { status, text } = await httpChat(model, { stream: true });
      expect.equal('response status', status, 200);
      expectStream(expect, await oneSpan(expect), model, eventsOf(text));
    },
  },
  {
    name: 'cjs and esm entries are one instrumentation',
    async run(expect) {
      const require = createRequire(import.meta.url);
      const cjs = require('../../dist/cjs/index.js');
      expect.equal(
        'require(dist/cjs).LlmGatewayInstrumentation === import(dist/esm)',
        cjs.LlmGatewayInstrumentation === LlmGatewayInstrumentation,
        true,
      );
    },
  },
];

// Where the contract promises nothing on this runtime: reported, not counted.
const probes = [
  {
    name: 'fetch reference taken before enable()',
    note: 'it bypasses the global fetch wrapper; only observation at the wire (undici diagnostics channels) sees it',
    async run() {
      await (await fetchChat('gpt-oss-20b', {}, fetchBeforeEnable)).text();
      await sleep(50);
      return exporter.getFinishedSpans().length === 1;
    },
  },
];

function reset() {
  exporter.reset();
  lifecycle.started = 0;
  lifecycle.ended = 0;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let passed = 0;
let failed = 0;
for (const check of checks) {
  reset();
  const expect = new Expectations();
  try {
    await check.run(expect);
  } catch (error) {
    expect.problems.push(`threw ${error?.stack ?? error}`);
  }
  const ok = expect.problems.length === 0;
  if (ok) passed++;
  else failed++;
  console.log(`RUNTIME-CHECK ${JSON.stringify({ runtime, check: check.name, ok, problems: expect.problems })}`);
}
for (const probe of probes) {
  reset();
  let observed;
  try {
    observed = await probe.run();
  } catch (error) {
    observed = `threw ${error?.message ?? error}`;
  }
  console.log(`RUNTIME-PROBE ${JSON.stringify({ runtime, probe: probe.name, observed, note: probe.note })}`);
}
instrumentation.disable();
console.log(`RUNTIME-RESULT ${JSON.stringify({ runtime, passed, failed })}`);
process.exitCode = failed === 0 ? 0 : 1;
