import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import axios from 'axios';
import fc from 'fast-check';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import nodeFetch from 'node-fetch';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_CODES, startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { errorCodeForStatus } from '../src/parse/errors';
import { show } from './support/show';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Fault injection against the simulated gateway, through every client: random batches of
// concurrent calls, each with its own fault (a reset mid-body, a stalled stream and a client
// timeout, an abort at a random moment, a slow reader, a body never read, the application
// throwing inside its read loop, a gateway error). Whatever happens, every span ends exactly
// once, its error.type names what the application saw, and spans started == spans ended.
//
// FAULT_RUNS=<n> sets the number of batches (default 12), FAULT_SEED replays one.

const RUNS = Number(process.env.FAULT_RUNS ?? 12);
const SEED = process.env.FAULT_SEED === undefined ? undefined : Number(process.env.FAULT_SEED);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

type ClientName = 'fetch' | 'openai' | 'axios' | 'node-fetch' | 'http.request';
const CLIENTS: readonly ClientName[] = ['fetch', 'openai', 'axios', 'node-fetch', 'http.request'];
const ENVELOPES = ['seed', 'flat', 'auth', 'documented', 'html', 'empty'] as const;

type Fault =
  | { kind: 'none'; stream: boolean }
  | { kind: 'reset'; stream: boolean }
  | { kind: 'stall-then-timeout'; timeoutMs: number }
  | { kind: 'abort'; afterMs: number; stream: boolean }
  | { kind: 'slow-reader'; pauseMs: number }
  | { kind: 'throw-in-read-loop'; afterChunks: number }
  | { kind: 'never-read' }
  | { kind: 'gateway-error'; status: number; envelope: (typeof ENVELOPES)[number]; stream: boolean };

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({ kind: fc.constant('none' as const), stream: fc.boolean() }),
  fc.record({ kind: fc.constant('reset' as const), stream: fc.boolean() }),
  fc.record({ kind: fc.constant('stall-then-timeout' as const), timeoutMs: fc.integer({ min: 20, max: 250 }) }),
  fc.record({ kind: fc.constant('abort' as const), afterMs: fc.integer({ min: 0, max: 250 }), stream: fc.boolean() }),
  fc.record({ kind: fc.constant('slow-reader' as const), pauseMs: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('throw-in-read-loop' as const), afterChunks: fc.integer({ min: 1, max: 8 }) }),
  fc.record({
    kind: fc.constant('gateway-error' as const),
    status: fc.constantFrom(...Object.keys(ERROR_CODES).map(Number)),
    envelope: fc.constantFrom(...ENVELOPES),
    stream: fc.boolean(),
  }),
);

interface FaultyCall {
  client: ClientName;
  fault: Fault;
}

/** What the application saw. */
interface AppResult {
  error?: { name?: string; code?: unknown; message?: string };
  /** The text the application read (stream events, JSON), for the request_id it carried. */
  text: string;
  /** The application cannot tell whether the body was cut just before its end. */
  mayHaveBeenCut?: boolean;
}

const API_KEY = 'sim-fault-key';
let gateway: SimulatedGateway;
let telemetry: TestTelemetry;
let openai: OpenAI;

beforeAll(async () => {
  gateway = await startSimulatedGateway({ rateLimit: 1_000_000 });
  telemetry = setupTelemetry([{ host: `127.0.0.1:${gateway.port}` }]);
  // After the instrumentation: the SDK reads the global fetch when a client is created.
  openai = new OpenAI({
    apiKey: API_KEY,
    baseURL: `${gateway.url}/v1`,
    maxRetries: 0,
    organization: null,
    project: null,
  });
});
afterAll(async () => {
  telemetry.instrumentation.disable();
  await gateway.close();
});
beforeEach(() => telemetry.reset());

// ------------------------------------------------------------------ the calls

/** The request body; max_tokens is the call's tag, so its span can be told apart from the rest. */
function chatRequest(tag: number, fault: Fault): Record<string, unknown> {
  const stream = 'stream' in fault ? fault.stream : fault.kind !== 'never-read';
  const sim: Record<string, unknown> = { streamRequestId: true, replyBytes: 3000 };
  if (fault.kind === 'reset') sim.mode = 'reset';
  if (fault.kind === 'stall-then-timeout') sim.mode = 'stall';
  if (fault.kind === 'abort' && fault.stream) sim.mode = 'slow';
  if (fault.kind === 'gateway-error') Object.assign(sim, { status: fault.status, envelope: fault.envelope });
  return {
    model: 'gpt-5',
    messages: [{ role: 'user', content: 'Tell me a long story.' }],
    max_tokens: tag,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    x_sim: sim,
  };
}

class ApplicationError extends Error {
  override name = 'ApplicationError';
}

/** The application's read loop, as the fault wants it. */
async function readLoop(chunks: AsyncIterable<Uint8Array | string>, fault: Fault, seen: AppResult): Promise<void> {
  const decoder = new TextDecoder();
  let count = 0;
  for await (const chunk of chunks) {
    seen.text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    count++;
    if (fault.kind === 'slow-reader') await sleep(fault.pauseMs);
    if (fault.kind === 'throw-in-read-loop' && count >= fault.afterChunks)
      throw new ApplicationError('the application failed mid-stream');
  }
}

interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

function optionsFor(fault: Fault): CallOptions {
  if (fault.kind === 'abort') {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), fault.afterMs);
    return { signal: controller.signal };
  }
  if (fault.kind === 'stall-then-timeout') return { timeoutMs: fault.timeoutMs };
  return {};
}

const headers = { authorization: API_KEY, 'content-type': 'application/json' };

async function callWith(client: ClientName, tag: number, fault: Fault): Promise<AppResult> {
  const seen: AppResult = { text: '' };
  const body = chatRequest(tag, fault);
  const { signal, timeoutMs } = optionsFor(fault);
  const url = `${gateway.url}/v1/chat/completions`;
  try {
    switch (client) {
      case 'fetch': {
        const timeoutSignal = timeoutMs === undefined ? signal : AbortSignal.timeout(timeoutMs);
        const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: timeoutSignal });
        if (fault.kind === 'never-read') return seen; // dropped: garbage collected later
        await readLoop(res.body as unknown as AsyncIterable<Uint8Array>, fault, seen);
        break;
      }
      case 'openai': {
        // The SDK's `timeout` stops once the response head arrived: a stream is timed with a signal.
        const options = { signal: timeoutMs === undefined ? signal : AbortSignal.timeout(timeoutMs) };
        if (body.stream) {
          const stream = await openai.chat.completions.create(
            body as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming,
            options,
          );
          let last: { choices?: unknown[] } | undefined;
          async function* events() {
            for await (const event of stream) {
              last = event;
              yield JSON.stringify(event);
            }
          }
          await readLoop(events(), fault, seen);
          // The SDK ends a stream quietly when its request is aborted: only the final usage-only
          // chunk tells the application that it got the whole stream.
          // (The SDK hides `[DONE]`, so a stream aborted after the final chunk but before
          // `[DONE]` looks whole to the application: then either answer is right.)
          if (last?.choices?.length !== 0)
            seen.error = { name: 'StreamEndedEarly', message: 'the stream ended without its final chunk' };
          else if (signal !== undefined) seen.mayHaveBeenCut = true;
        } else {
          seen.text = JSON.stringify(
            await openai.chat.completions.create(
              body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
              options,
            ),
          );
        }
        break;
      }
      case 'axios': {
        const res = await axios.post(url, body, {
          headers,
          responseType: 'stream',
          validateStatus: () => true,
          signal,
          timeout: timeoutMs,
        });
        if (fault.kind === 'never-read') return seen;
        await readLoop(res.data as AsyncIterable<Buffer>, fault, seen);
        break;
      }
      case 'node-fetch': {
        // node-fetch's own `timeout` stops at the response head: a stream is timed with a signal.
        const timeoutSignal = timeoutMs === undefined ? signal : AbortSignal.timeout(timeoutMs);
        const res = await nodeFetch(url, {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
          signal: timeoutSignal as never,
        });
        if (fault.kind === 'never-read') return seen;
        await readLoop(res.body as AsyncIterable<Buffer>, fault, seen);
        break;
      }
      case 'http.request': {
        const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
          const request = http.request(url, { method: 'POST', headers, signal, timeout: timeoutMs });
          request.on('timeout', () =>
            request.destroy(Object.assign(new Error('the client timed out'), { code: 'ETIMEDOUT' })),
          );
          request.on('response', resolve).on('error', reject);
          request.end(JSON.stringify(body));
        });
        if (fault.kind === 'never-read') return seen;
        await readLoop(res, fault, seen);
        break;
      }
    }
  } catch (error) {
    const e = error as { name?: string; code?: unknown; message?: string };
    seen.error = { name: e.name, code: e.code, message: e.message };
  }
  return seen;
}

// ------------------------------------------------------------------ what the span must say

const firstRequestId = (text: string) => /"request_id":"([^"]+)"/.exec(text)?.[1];

/**
 * The error.type the span must carry, from what the application saw: a gateway error's code,
 * else the transport cause of the failure the application got, else none (a cancel, a throw
 * in the application's own loop, or a body left unread are not failures of the call).
 */
function expectedErrorType(call: FaultyCall, app: AppResult): string | undefined {
  const { client, fault } = call;
  if (fault.kind === 'gateway-error') {
    // The seed envelope carries a string code; the others leave the status to name it.
    return fault.envelope === 'seed' ? ERROR_CODES[fault.status] : errorCodeForStatus(fault.status);
  }
  if (app.error === undefined || app.error.name === 'ApplicationError') return undefined;
  const viaFetch = client === 'fetch' || client === 'openai';
  switch (fault.kind) {
    case 'reset':
      return viaFetch ? 'UND_ERR_SOCKET' : 'ECONNRESET';
    case 'stall-then-timeout':
      // node-fetch 2 aborts with an AbortError of its own making, whatever the signal's reason:
      // all the transport sees is an abort.
      return client === 'node-fetch' ? 'aborted' : 'timeout';
    case 'abort':
      return 'aborted';
    default:
      return `no error expected, but the application got ${app.error.name}: ${app.error.message}`;
  }
}

const totals = {
  batches: 0,
  calls: 0,
  started: 0,
  ended: 0,
  byFault: new Map<string, number>(),
  errorTypes: new Map<string, number>(),
};

/** Runs calls concurrently, waits until every span ended, and checks each against its call. */
async function runBatch(calls: FaultyCall[], firstTag: number): Promise<void> {
  telemetry.reset();
  const results = await Promise.all(
    calls.map((call, i) => settlesWithin(5000, callWith(call.client, firstTag + i, call.fault))),
  );
  // Responses dropped unread end when collected: help the collector along.
  const deadline = Date.now() + 10_000;
  while (telemetry.lifecycle.ended < calls.length && Date.now() < deadline) {
    gc();
    await sleep(10);
  }
  await sleep(20);
  const spans = telemetry.spans();
  const problems: string[] = [];
  const spanOf = new Map<unknown, ReadableSpan[]>();
  for (const span of spans)
    spanOf.set(span.attributes['gen_ai.request.max_tokens'], [
      ...(spanOf.get(span.attributes['gen_ai.request.max_tokens']) ?? []),
      span,
    ]);
  calls.forEach((call, i) => {
    const tag = firstTag + i;
    const app = results[i];
    const what = `${call.client} ${JSON.stringify(call.fault)} (app saw ${app.error ? `${app.error.name} ${show(app.error.code ?? '')} ${app.error.message}` : 'success'})`;
    const mine = spanOf.get(tag) ?? [];
    if (mine.length !== 1) {
      problems.push(`${what}: ${mine.length} spans`);
      return;
    }
    const span = mine[0];
    const errorType = span.attributes['error.type'];
    const expected = expectedErrorType(call, app);
    const acceptable = app.mayHaveBeenCut && expected === undefined ? [undefined, 'aborted', 'timeout'] : [expected];
    if (!acceptable.includes(errorType as string | undefined))
      problems.push(`${what}: error.type ${String(errorType)}, expected ${String(expected)}`);
    if ((span.status.code === SpanStatusCode.ERROR) !== (errorType !== undefined))
      problems.push(`${what}: status ${span.status.code} with error.type ${String(errorType)}`);
    // No cross-talk: the request_id on the span is the one this call's response carried.
    const seenId = firstRequestId(app.text);
    if (seenId !== undefined && span.attributes['assemblyai.request_id'] !== seenId) {
      problems.push(
        `${what}: request_id ${String(span.attributes['assemblyai.request_id'])}, the application saw ${seenId}`,
      );
    }
    const errorTypeName = show(errorType ?? '(none)');
    totals.errorTypes.set(errorTypeName, (totals.errorTypes.get(errorTypeName) ?? 0) + 1);
    totals.byFault.set(call.fault.kind, (totals.byFault.get(call.fault.kind) ?? 0) + 1);
  });
  expect(problems).toEqual([]);
  expect(spans).toHaveLength(calls.length);
  expect(telemetry.lifecycle.started).toBe(calls.length);
  expect(telemetry.lifecycle.ended).toBe(calls.length);
  expect(telemetry.lifecycle.endedTwice).toEqual([]);
  totals.batches++;
  totals.calls += calls.length;
  totals.started += telemetry.lifecycle.started;
  totals.ended += telemetry.lifecycle.ended;
}

/** A call the application would wait on forever is a failure of its own (reported, not a hang). */
async function settlesWithin(ms: number, work: Promise<AppResult>): Promise<AppResult> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<AppResult>((resolve) => {
    timer = setTimeout(
      () => resolve({ text: '', error: { name: 'Hung', message: `the call did not settle within ${ms} ms` } }),
      ms,
    );
  });
  try {
    return await Promise.race([work, hung]);
  } finally {
    clearTimeout(timer);
  }
}

let nextTag = 1000;

afterAll(() => {
  const list = (m: Map<string, number>) =>
    [...m]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  console.log(
    `faults: ${totals.calls} faulty calls in ${totals.batches} concurrent batches, spans started ${totals.started}, ended ${totals.ended}\n` +
      `  faults: ${list(totals.byFault)}\n  error.type: ${list(totals.errorTypes)}`,
  );
});

describe('every span ends exactly once with the right error.type, whatever goes wrong', () => {
  it('survives random batches of concurrent faulty calls through every client', async () => {
    const callArb = fc.record({ client: fc.constantFrom(...CLIENTS), fault: faultArb });
    // A body left unread ends when garbage collected: fetch's Response is collectable, an
    // unread node:http response is held by its socket (see the next test).
    const fetchNeverReadArb = fc.constant<FaultyCall>({ client: 'fetch', fault: { kind: 'never-read' } });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ weight: 9, arbitrary: callArb }, { weight: 1, arbitrary: fetchNeverReadArb }), {
          minLength: 4,
          maxLength: 16,
        }),
        async (calls) => {
          const first = nextTag;
          nextTag += calls.length;
          await runBatch(calls, first);
        },
      ),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  }, 120_000);

  it('covers every fault on every client at least once', async () => {
    const calls: FaultyCall[] = [];
    const faults: Fault[] = [
      { kind: 'none', stream: true },
      { kind: 'none', stream: false },
      { kind: 'reset', stream: true },
      { kind: 'reset', stream: false },
      { kind: 'stall-then-timeout', timeoutMs: 80 },
      { kind: 'abort', afterMs: 0, stream: false },
      { kind: 'abort', afterMs: 50, stream: true },
      { kind: 'slow-reader', pauseMs: 5 },
      { kind: 'throw-in-read-loop', afterChunks: 2 },
      { kind: 'gateway-error', status: 429, envelope: 'seed', stream: true },
      { kind: 'gateway-error', status: 502, envelope: 'html', stream: false },
    ];
    for (const client of CLIENTS) for (const fault of faults) calls.push({ client, fault });
    calls.push({ client: 'fetch', fault: { kind: 'never-read' } });
    const first = nextTag;
    nextTag += calls.length;
    await runBatch(calls, first);
  }, 60_000);

  it('ends the spans of bodies never read on every client once maxCallDurationMs passes', async () => {
    telemetry.instrumentation.setConfig({ hosts: [{ host: `127.0.0.1:${gateway.port}` }], maxCallDurationMs: 300 });
    try {
      const calls = CLIENTS.filter((c) => c !== 'openai').map((client): FaultyCall => ({
        client,
        fault: { kind: 'never-read' },
      }));
      const first = nextTag;
      nextTag += calls.length;
      await runBatch(calls, first);
      for (const span of telemetry.spans()) expect(span.attributes['http.response.status_code']).toBe(200);
    } finally {
      telemetry.instrumentation.setConfig({ hosts: [{ host: `127.0.0.1:${gateway.port}` }] });
    }
  }, 30_000);
});
