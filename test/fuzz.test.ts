import { diag, DiagLogLevel, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import axios from 'axios';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import nodeFetch from 'node-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodeForStatus } from '../src/parse/errors';
import { MAX_PARSED_JSON_BYTES } from '../src/parse/limits';
import { responseInfoFromObject } from '../src/parse/response';
import { SseObserver } from '../src/parse/sse';
import type { ResponseInfo } from '../src/parse/types';
import { setupTelemetry, type TestTelemetry } from './support/telemetry';

// Fuzzing both transports end to end: a tiny local server answers each request with a
// generated body (valid, truncated, oversized, gzip, HTML, random bytes, SSE with random
// framing), written in randomly cut pieces and sometimes cut off by a reset. Each case runs
// once uninstrumented and once instrumented with the same reader, and the application must
// see the same thing both times: the same bytes (or value), or the same error. The span must
// end exactly once, fail exactly when the application saw a transport failure, and, for a
// body read to the end, report what the parsers find in the whole body.
//
// FUZZ_RUNS=<n> sets the runs per transport (default 120); FUZZ_SEED replays a failure.

const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

// ------------------------------------------------------------------ generated payloads

interface Payload {
  kind: string;
  status: number;
  contentType: string;
  /** The decoded body, as written by the server before any content-encoding. */
  body: Buffer;
}

interface FuzzCase {
  payload: Payload;
  gzip: boolean;
  /** chunked transfer encoding, or a Content-Length header. */
  framing: 'chunked' | 'length';
  /** `reset`: part of the body, then the socket is destroyed. */
  ending: 'complete' | 'reset';
  /** Where the server cuts the wire bytes into separate writes (any numbers, taken modulo length). */
  cuts: number[];
  /** Where a reset cuts the wire bytes (modulo length). */
  resetAt: number;
}

const ERROR_STATUSES = [400, 401, 403, 404, 413, 422, 429, 500, 502, 503, 504];
const idArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 });
const textArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom(
      '"',
      '\\',
      '\n',
      '\r\n',
      'data: ',
      ':',
      ' ',
      'é',
      '😀',
      '世',
      '"request_id":"x"',
      '"usage":{',
      '[DONE]',
    ),
    maxLength: 12,
  }),
);
const finishArb = fc.constantFrom('stop', 'length', 'tool_calls', 'end_turn', 'content_filter');
const usageArb = fc.record({ a: fc.nat(1_000_000), b: fc.nat(1_000_000), anthropic: fc.boolean() });
const usageOf = (u: { a: number; b: number; anthropic: boolean }) =>
  u.anthropic
    ? { input_tokens: u.a, output_tokens: u.b }
    : { prompt_tokens: u.a, completion_tokens: u.b, total_tokens: u.a + u.b };

const completionObjectArb = fc.record({
  requestId: idArb,
  id: idArb,
  model: idArb,
  content: textArb,
  finish: finishArb,
  usage: usageArb,
});
type CompletionFields = typeof completionObjectArb extends fc.Arbitrary<infer T> ? T : never;

function completionJson(c: CompletionFields, content = c.content): Record<string, unknown> {
  return {
    request_id: c.requestId,
    request: { model: c.model, max_tokens: 100 },
    id: c.id,
    object: 'chat.completion',
    model: c.model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: c.finish }],
    usage: usageOf(c.usage),
  };
}

const json = (value: unknown, pretty = false) =>
  Buffer.from(pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value));

const completionArb: fc.Arbitrary<Payload> = fc.tuple(completionObjectArb, fc.boolean()).map(([c, pretty]) => ({
  kind: 'completion',
  status: 200,
  contentType: 'application/json',
  body: json(completionJson(c), pretty),
}));

const errorArb: fc.Arbitrary<Payload> = fc
  .record({
    status: fc.constantFrom(...ERROR_STATUSES),
    envelope: fc.constantFrom('seed', 'flat', 'auth', 'documented'),
    code: fc.option(fc.constantFrom('rate_limited', 'invalid_request', 'upstream_unavailable', 'x'), {
      nil: undefined,
    }),
    message: textArb,
    requestId: idArb,
  })
  .map(({ status, envelope, code, message, requestId }) => {
    const body =
      envelope === 'seed'
        ? { error: { code: code ?? 'internal_error', message, request_id: requestId } }
        : envelope === 'flat'
          ? { metadata: { errors: [message] }, request_id: requestId, message, code: status }
          : envelope === 'auth'
            ? { error: message, status: 'error', request_id: requestId }
            : { error: { code: status, message, metadata: {} } };
    return { kind: `error-${envelope}`, status, contentType: 'application/json; charset=utf-8', body: json(body) };
  });

const htmlArb: fc.Arbitrary<Payload> = fc
  .tuple(fc.constantFrom(502, 503, 504, 500), fc.string({ maxLength: 200 }))
  .map(([status, text]) => ({
    kind: 'html',
    status,
    contentType: 'text/html',
    body: Buffer.from(
      `<html>\r\n<head><title>${status} Bad Gateway</title></head>\r\n<body><center><h1>${status}</h1></center>${text}<hr><center>nginx</center></body></html>`,
    ),
  }));

const bytesArb: fc.Arbitrary<Payload> = fc
  .tuple(
    fc.uint8Array({ maxLength: 3000 }),
    fc.constantFrom(
      'application/json',
      'text/event-stream',
      'application/octet-stream',
      'text/plain',
      'text/event-stream; charset=utf-8',
    ),
    fc.constantFrom(200, 200, 500),
  )
  .map(([bytes, contentType, status]) => ({ kind: 'bytes', status, contentType, body: Buffer.from(bytes) }));

const emptyArb: fc.Arbitrary<Payload> = fc
  .constantFrom(200, 204, 500)
  .map((status) => ({ kind: 'empty', status, contentType: 'application/json', body: Buffer.alloc(0) }));

// SSE with random framing: LF, CRLF or CR line ends (mixed within a stream), comments,
// other fields, multi-line data (pretty JSON split over `data:` lines), keep-alive events,
// `data:` with and without the space, a BOM, an unterminated last event, with or without [DONE].
type SseEvent =
  | {
      kind: 'chunk';
      c: CompletionFields;
      withFinish: boolean;
      withUsage: boolean;
      withRequestId: boolean;
      multiLine: boolean;
      noSpace: boolean;
    }
  | { kind: 'comment'; text: string }
  | { kind: 'field'; line: string }
  | { kind: 'empty-data' };

const sseEventArb: fc.Arbitrary<SseEvent> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('chunk' as const),
      c: completionObjectArb,
      withFinish: fc.boolean(),
      withUsage: fc.boolean(),
      withRequestId: fc.boolean(),
      multiLine: fc.boolean(),
      noSpace: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('comment' as const),
      text: fc.string({ maxLength: 20 }).filter((s) => !/[\r\n]/.test(s)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('field' as const),
      line: fc.constantFrom('event: message', 'id: 7', 'retry: 1000', 'event:', 'unknown-field'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty-data' as const }) },
);

function sseText(events: SseEvent[], eols: string[], done: boolean, bom: boolean, tail: string | undefined): string {
  let n = 0;
  const eol = () => eols[n++ % eols.length];
  let out = bom ? '\uFEFF' : '';
  for (const e of events) {
    if (e.kind === 'comment') out += `:${e.text}${eol()}${eol()}`;
    else if (e.kind === 'field') out += `${e.line}${eol()}`;
    else if (e.kind === 'empty-data') out += `data:${eol()}${eol()}`;
    else {
      const chunk: Record<string, unknown> = {
        id: e.c.id,
        object: 'chat.completion.chunk',
        model: e.c.model,
        choices: [{ index: 0, delta: { content: e.c.content }, finish_reason: e.withFinish ? e.c.finish : null }],
      };
      if (e.withUsage) chunk.usage = usageOf(e.c.usage);
      if (e.withRequestId) chunk.request_id = e.c.requestId;
      const lines = e.multiLine ? JSON.stringify(chunk, null, 1).split('\n') : [JSON.stringify(chunk)];
      for (const line of lines) out += `data:${e.noSpace ? '' : ' '}${line}${eol()}`;
      out += eol();
    }
  }
  if (done) out += `data: [DONE]${eol()}${eol()}`;
  if (tail !== undefined) out += `data: ${tail}`;
  return out;
}

const sseArb: fc.Arbitrary<Payload> = fc
  .record({
    events: fc.array(sseEventArb, { maxLength: 14 }),
    eols: fc.array(fc.constantFrom('\n', '\r\n', '\r'), { minLength: 1, maxLength: 4 }),
    done: fc.boolean(),
    bom: fc.boolean(),
    tail: fc.option(
      textArb.filter((s) => !/[\r\n]/.test(s)),
      { nil: undefined },
    ),
  })
  .map(({ events, eols, done, bom, tail }) => ({
    kind: 'sse',
    status: 200,
    contentType: 'text/event-stream; charset=utf-8',
    body: Buffer.from(sseText(events, eols, done, bom, tail)),
  }));

/** Larger than the exact-parse limit: the parsers must switch to scanning the ends. */
const oversizedJsonArb: fc.Arbitrary<Payload> = fc
  .tuple(
    completionObjectArb,
    fc.integer({ min: MAX_PARSED_JSON_BYTES + 1, max: 3 * MAX_PARSED_JSON_BYTES }),
    fc.constantFrom('x', 'ab ', '0'),
  )
  .map(([c, size, unit]) => ({
    kind: 'oversized-json',
    status: 200,
    contentType: 'application/json',
    body: json(completionJson(c, unit.repeat(Math.ceil(size / unit.length)))),
  }));

/** Longer than the SSE tail window: finish_reason and usage must still be found at the end. */
const oversizedSseArb: fc.Arbitrary<Payload> = fc
  .tuple(completionObjectArb, fc.integer({ min: 40, max: 160 }), fc.constantFrom('\n', '\r\n'))
  .map(([c, count, eol]) => {
    const events: string[] = [];
    for (let i = 0; i < count; i++) {
      events.push(
        JSON.stringify({
          id: c.id,
          model: c.model,
          choices: [{ index: 0, delta: { content: `${i} ${'w'.repeat(900)}` }, finish_reason: null }],
        }),
      );
    }
    events.push(
      JSON.stringify({
        id: c.id,
        model: c.model,
        choices: [{ index: 0, delta: {}, finish_reason: c.finish }],
        request_id: c.requestId,
      }),
    );
    events.push(JSON.stringify({ id: c.id, model: c.model, choices: [], usage: usageOf(c.usage) }));
    const text = events.map((e) => `data: ${e}${eol}${eol}`).join('') + `data: [DONE]${eol}${eol}`;
    return { kind: 'oversized-sse', status: 200, contentType: 'text/event-stream', body: Buffer.from(text) };
  });

/** A well-formed body cut short at a random byte (possibly inside a UTF-8 sequence). */
const truncatedArb: fc.Arbitrary<Payload> = fc
  .tuple(fc.oneof(completionArb, sseArb, errorArb), fc.double({ min: 0, max: 1, noNaN: true }))
  .map(([p, at]) => ({ ...p, kind: `truncated-${p.kind}`, body: p.body.subarray(0, Math.floor(p.body.length * at)) }));

const payloadArb: fc.Arbitrary<Payload> = fc.oneof(
  { weight: 3, arbitrary: completionArb },
  { weight: 2, arbitrary: errorArb },
  { weight: 4, arbitrary: sseArb },
  { weight: 1, arbitrary: htmlArb },
  { weight: 2, arbitrary: bytesArb },
  { weight: 1, arbitrary: emptyArb },
  { weight: 1, arbitrary: oversizedJsonArb },
  { weight: 1, arbitrary: oversizedSseArb },
  { weight: 2, arbitrary: truncatedArb },
);

const caseArb: fc.Arbitrary<FuzzCase> = fc.record({
  payload: payloadArb,
  gzip: fc.boolean(),
  framing: fc.constantFrom('chunked' as const, 'length' as const),
  ending: fc.oneof(
    { weight: 5, arbitrary: fc.constant('complete' as const) },
    { weight: 1, arbitrary: fc.constant('reset' as const) },
  ),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
  resetAt: fc.nat(),
});

// ------------------------------------------------------------------ the server

const cases = new Map<string, FuzzCase>();
let nextCaseId = 0;

function wireBytes(c: FuzzCase): Buffer {
  return c.gzip && c.payload.body.length > 0 ? gzipSync(c.payload.body) : c.payload.body;
}

/** Whether the server will actually cut this response short (a reset needs a byte to cut before). */
function isReset(c: FuzzCase): boolean {
  return c.ending === 'reset' && c.payload.status !== 204 && wireBytes(c).length > 0;
}

async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  for await (const _ of req) {
    // drain the request body
  }
  const c = cases.get(new URL(req.url!, 'http://x').searchParams.get('case')!);
  if (c === undefined) {
    res.writeHead(404).end();
    return;
  }
  const { payload } = c;
  const wire = payload.status === 204 ? Buffer.alloc(0) : wireBytes(c);
  const headers: http.OutgoingHttpHeaders = { 'content-type': payload.contentType, 'x-fuzz-kind': payload.kind };
  if (c.gzip && wire.length > 0) headers['content-encoding'] = 'gzip';
  if (c.framing === 'length' && payload.status !== 204) headers['content-length'] = wire.length;
  res.writeHead(payload.status, headers);
  const end = isReset(c) ? c.resetAt % wire.length : wire.length;
  const points = [...new Set(c.cuts.map((n) => n % (end + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, end]) {
    if (to <= from) continue;
    // Waiting for the write to reach the socket, then a turn, makes the pieces arrive apart.
    await new Promise<void>((resolve) => res.write(wire.subarray(from, to), () => resolve()));
    await nextTurn();
    from = to;
  }
  if (isReset(c)) {
    await sleep(2);
    res.socket?.destroy();
  } else {
    res.end();
  }
}

// ------------------------------------------------------------------ what the application saw

/** What one read produced, in a form two runs can be compared by. */
interface Outcome {
  status?: number;
  headers?: [string, string][];
  /** sha256 of the bytes read (or of the JSON value's serialisation). */
  digest?: string;
  /** Bytes read by a reader that stops early: they must be a prefix of the whole body. */
  prefix?: Buffer;
  error?: { name: string; code?: unknown; causeCode?: unknown };
  /** The reader read the body to its end. */
  complete: boolean;
}

const sha = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

function errorOutcome(error: unknown): Outcome['error'] {
  const e = error as { name?: string; code?: unknown; cause?: { code?: unknown } };
  return { name: String(e?.name), code: e?.code, causeCode: e?.cause?.code };
}

function normaliseHeaders(entries: Iterable<[string, string]>): [string, string][] {
  return [...entries].filter(([k]) => k !== 'date').sort(([a], [b]) => a.localeCompare(b));
}

interface Reader {
  name: string;
  /** True when the reader gets the wire bytes, not the decoded body. */
  raw: boolean;
  /** True when the reader stops after the first chunk. */
  partial?: boolean;
  /** The client itself hangs (without the instrumentation too) on a body cut by a reset. */
  hangsOnReset?: boolean;
  /** The body is read in a form the instrumentation does not look into (blob()). */
  opaque?: boolean;
  read(url: string): Promise<Outcome>;
}

const POST = { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'fuzz-key' } };
const requestBody = JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'fuzz' }], stream: true });

async function fetchOutcome(
  url: string,
  read: (res: Response) => Promise<{ digest?: string; prefix?: Buffer; complete: boolean }>,
): Promise<Outcome> {
  let res: Response;
  try {
    res = await fetch(url, { ...POST, body: requestBody });
  } catch (error) {
    return { error: errorOutcome(error), complete: false };
  }
  const head = { status: res.status, headers: normaliseHeaders(res.headers) };
  try {
    return { ...head, ...(await read(res)) };
  } catch (error) {
    return { ...head, error: errorOutcome(error), complete: false };
  }
}

async function readerBytes(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(parts);
    parts.push(Buffer.from(value));
  }
}

const whole = (bytes: Uint8Array | string) => ({ digest: sha(bytes), complete: true });

const fetchReaders: Reader[] = [
  { name: 'text()', raw: false, read: (url) => fetchOutcome(url, async (res) => whole(await res.text())) },
  {
    name: 'json()',
    raw: false,
    read: (url) => fetchOutcome(url, async (res) => whole(JSON.stringify(await res.json()) ?? 'undefined')),
  },
  {
    name: 'arrayBuffer()',
    raw: false,
    read: (url) => fetchOutcome(url, async (res) => whole(new Uint8Array(await res.arrayBuffer()))),
  },
  {
    name: 'bytes()',
    raw: false,
    read: (url) =>
      fetchOutcome(url, async (res) => whole(await (res as unknown as { bytes(): Promise<Uint8Array> }).bytes())),
  },
  // blob() is read natively and not looked into: the span ends, without what the body told.
  {
    name: 'blob()',
    raw: false,
    opaque: true,
    read: (url) => fetchOutcome(url, async (res) => whole(new Uint8Array(await (await res.blob()).arrayBuffer()))),
  },
  {
    name: 'getReader()',
    raw: false,
    read: (url) =>
      fetchOutcome(url, async (res) => whole(res.body === null ? '' : await readerBytes(res.body.getReader()))),
  },
  {
    name: 'BYOB reader',
    raw: false,
    read: (url) =>
      fetchOutcome(url, async (res) => {
        if (res.body === null) return whole('');
        const reader = res.body.getReader({ mode: 'byob' });
        const parts: Buffer[] = [];
        let size = 1;
        for (;;) {
          const { done, value } = await reader.read(new Uint8Array(size));
          if (done) return whole(Buffer.concat(parts));
          parts.push(Buffer.from(value));
          size = (size * 31 + 7) % 5000 || 1;
        }
      }),
  },
  {
    name: 'for await',
    raw: false,
    read: (url) =>
      fetchOutcome(url, async (res) => {
        const parts: Buffer[] = [];
        if (res.body !== null)
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parts.push(Buffer.from(chunk));
        return whole(Buffer.concat(parts));
      }),
  },
  {
    name: 'pipeThrough(TextDecoderStream)',
    raw: false,
    read: (url) =>
      fetchOutcome(url, async (res) => {
        let text = '';
        if (res.body !== null)
          for await (const s of res.body.pipeThrough(new TextDecoderStream()) as unknown as AsyncIterable<string>)
            text += s;
        return whole(text);
      }),
  },
  {
    name: 'clone() and both read',
    raw: false,
    read: (url) =>
      fetchOutcome(url, async (res) => {
        const copy = res.clone();
        const [a, b] = await Promise.all([res.arrayBuffer(), copy.arrayBuffer()]);
        return { digest: `${sha(new Uint8Array(a))}/${sha(new Uint8Array(b))}`, complete: true };
      }),
  },
  {
    name: 'body taken, then text()',
    raw: false,
    read: (url) =>
      fetchOutcome(url, async (res) => {
        void res.body;
        return whole(await res.text());
      }),
  },
  {
    name: 'first chunk, then cancel()',
    raw: false,
    partial: true,
    read: (url) =>
      fetchOutcome(url, async (res) => {
        if (res.body === null) return whole('');
        const reader = res.body.getReader();
        const first = await reader.read();
        if (first.done) return whole('');
        await reader.cancel();
        return { prefix: Buffer.from(first.value), complete: false };
      }),
  },
];

/** An http.request read the way the callback gets it; resolves with the bytes or the error. */
function httpOutcome(
  url: string,
  consume: (
    res: http.IncomingMessage,
    request: http.ClientRequest,
  ) => Promise<{ digest?: string; prefix?: Buffer; complete: boolean }>,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let head: Pick<Outcome, 'status' | 'headers'> = {};
    const request = http.request(url, POST, (res) => {
      head = {
        status: res.statusCode,
        headers: normaliseHeaders(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
      };
      consume(res, request).then(
        (read) => resolve({ ...head, ...read }),
        (error: unknown) => resolve({ ...head, error: errorOutcome(error), complete: false }),
      );
    });
    request.on('error', (error) => resolve({ ...head, error: errorOutcome(error), complete: false }));
    request.end(requestBody);
  });
}

function collect(
  res: http.IncomingMessage,
  attach: (res: http.IncomingMessage, parts: Buffer[]) => void,
): Promise<{ digest: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    res.on('error', reject);
    res.on('end', () => resolve(whole(Buffer.concat(parts))));
    attach(res, parts);
  });
}

const httpReaders: Reader[] = [
  {
    name: "http 'data' events",
    raw: true,
    read: (url) => httpOutcome(url, (res) => collect(res, (r, parts) => r.on('data', (c: Buffer) => parts.push(c)))),
  },
  {
    name: "http 'readable' + read()",
    raw: true,
    read: (url) =>
      httpOutcome(url, (res) =>
        collect(res, (r, parts) =>
          r.on('readable', () => {
            let chunk: Buffer | null;
            while ((chunk = r.read() as Buffer | null) !== null) parts.push(chunk);
          }),
        ),
      ),
  },
  {
    name: 'http late consumer',
    raw: true,
    read: (url) =>
      httpOutcome(url, (res) =>
        collect(res, (r, parts) => setTimeout(() => r.on('data', (c: Buffer) => parts.push(c)), 3)),
      ),
  },
  {
    name: 'http for await',
    raw: true,
    read: (url) =>
      httpOutcome(url, async (res) => {
        const parts: Buffer[] = [];
        for await (const chunk of res) parts.push(chunk as Buffer);
        return whole(Buffer.concat(parts));
      }),
  },
  {
    name: 'http first chunk, then destroy()',
    raw: true,
    partial: true,
    read: (url) =>
      httpOutcome(
        url,
        (res) =>
          new Promise((resolve, reject) => {
            res.on('error', reject);
            res.on('end', () => resolve(whole('')));
            res.once('data', (chunk: Buffer) => {
              res.destroy();
              resolve({ prefix: Buffer.from(chunk), complete: false });
            });
          }),
      ),
  },
  {
    name: 'axios stream',
    raw: false,
    read: async (url) => {
      try {
        const res = await axios.post(url, requestBody, {
          headers: POST.headers,
          responseType: 'stream',
          validateStatus: () => true,
        });
        const head = {
          status: res.status,
          headers: normaliseHeaders(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
        };
        try {
          const parts: Buffer[] = [];
          for await (const chunk of res.data as AsyncIterable<Buffer>) parts.push(chunk);
          return { ...head, ...whole(Buffer.concat(parts)) };
        } catch (error) {
          return { ...head, error: errorOutcome(error), complete: false };
        }
      } catch (error) {
        return { error: errorOutcome(error), complete: false };
      }
    },
  },
  {
    name: 'axios arraybuffer',
    raw: false,
    read: async (url) => {
      try {
        const res = await axios.post(url, requestBody, {
          headers: POST.headers,
          responseType: 'arraybuffer',
          validateStatus: () => true,
        });
        return { status: res.status, ...whole(new Uint8Array(res.data as ArrayBuffer)) };
      } catch (error) {
        return { error: errorOutcome(error), complete: false };
      }
    },
  },
  {
    name: 'node-fetch buffer()',
    raw: false,
    hangsOnReset: true,
    read: async (url) => {
      try {
        const res = await nodeFetch(url, { ...POST, body: requestBody });
        const head = { status: res.status, headers: normaliseHeaders(res.headers.entries()) };
        try {
          return { ...head, ...whole(await res.buffer()) };
        } catch (error) {
          return { ...head, error: errorOutcome(error), complete: false };
        }
      } catch (error) {
        return { error: errorOutcome(error), complete: false };
      }
    },
  },
];

// ------------------------------------------------------------------ the properties

let server: http.Server;
let base: string;
let telemetry: TestTelemetry;
const diagProblems: string[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (error: unknown) => unhandled.push(error);
const counts = {
  cases: 0,
  reads: 0,
  spans: 0,
  attributeChecks: 0,
  resets: 0,
  gzip: 0,
  byKind: new Map<string, number>(),
};

beforeAll(async () => {
  diag.setLogger(
    {
      error: (message: string, ...args: unknown[]) =>
        diagProblems.push(`error: ${message} ${args.map(String).join(' ')}`),
      warn: (message: string, ...args: unknown[]) =>
        diagProblems.push(`warn: ${message} ${args.map(String).join(' ')}`),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.WARN,
  );
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  server = http.createServer((req, res) => void serve(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  telemetry = setupTelemetry([{ host: `127.0.0.1:${port}` }]);
});

afterAll(async () => {
  telemetry.instrumentation.disable();
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  diag.disable();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  const kinds = [...counts.byKind]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  console.log(
    `fuzz: ${counts.cases} cases, ${counts.reads} reads (uninstrumented + instrumented), ${counts.spans} spans ended exactly once, ` +
      `${counts.attributeChecks} attribute checks against the whole-body parse, ${counts.resets} resets, ${counts.gzip} gzip\n  payloads: ${kinds}`,
  );
});

/** What the parsers find in the whole decoded body, when the body is one they read. */
function expectedInfo(payload: Payload): ResponseInfo | undefined {
  if (payload.status === 204) return {};
  if (payload.contentType.includes('text/event-stream')) {
    const observer = new SseObserver();
    observer.write(payload.body);
    // As the call ends a completed 2xx chat stream: a choice left unfinished was cut.
    const answered = payload.status >= 200 && payload.status < 300;
    return observer.finish({ complete: true, expectedChoices: answered ? 1 : undefined });
  }
  if (payload.contentType.includes('text/html') || payload.body.length > MAX_PARSED_JSON_BYTES) return undefined;
  try {
    return responseInfoFromObject(JSON.parse(payload.body.toString('utf8')));
  } catch {
    return undefined; // not JSON: readers differ in what they can still scan
  }
}

function checkSpan(span: ReadableSpan, c: FuzzCase, reader: Reader, outcome: Outcome): void {
  const { payload } = c;
  const a = span.attributes;
  const transportFailed = outcome.error !== undefined && outcome.error.name !== 'SyntaxError';
  if (outcome.status !== undefined) expect(a['http.response.status_code']).toBe(outcome.status);
  if (payload.status >= 400) {
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(a['error.type']).toBeTypeOf('string');
  } else if (transportFailed) {
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(a['error.type']).toBeTypeOf('string');
  } else {
    // A cancel, a body that is not JSON, a body cut short cleanly: none of it is a failure.
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(a['error.type']).toBeUndefined();
  }
  if (!outcome.complete || transportFailed || outcome.error !== undefined || reader.opaque) return;
  // json() of a non-JSON body leaves nothing to read; everything else sees the whole body.
  const expected = expectedInfo(payload);
  if (expected === undefined) return;
  counts.attributeChecks++;
  expect({
    requestId: a['assemblyai.request_id'],
    responseModel: a['gen_ai.response.model'],
    responseId: a['gen_ai.response.id'],
    finishReasons: a['gen_ai.response.finish_reasons'],
    inputTokens: a['gen_ai.usage.input_tokens'],
    outputTokens: a['gen_ai.usage.output_tokens'],
  }).toEqual({
    requestId: expected.requestId,
    responseModel: expected.responseModel,
    responseId: expected.responseId,
    finishReasons: expected.finishReasons,
    inputTokens: expected.inputTokens,
    outputTokens: expected.outputTokens,
  });
  if (payload.status >= 400) expect(a['error.type']).toBe(expected.error?.code ?? errorCodeForStatus(payload.status));
}

/** A read that hangs fails its case (and fast-check reports and shrinks it) instead of the test. */
async function withinSeconds<T>(seconds: number, work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function runCase(c: FuzzCase, reader: Reader): Promise<void> {
  const id = String(nextCaseId++);
  cases.set(id, c);
  const url = `${base}/v1/chat/completions?case=${id}`;
  try {
    telemetry.instrumentation.disable();
    const plain = await withinSeconds(5, reader.read(url), `uninstrumented ${reader.name}`);
    telemetry.instrumentation.enable();
    telemetry.reset();
    const observed = await withinSeconds(5, reader.read(url), `instrumented ${reader.name}`);
    counts.reads += 2;

    // The application sees exactly what it sees without the instrumentation.
    expect(observed.status).toBe(plain.status);
    expect(observed.headers).toEqual(plain.headers);
    // A reader that stops after its first chunk races a reset: whether that chunk or the
    // reset's error comes first depends on timing, instrumented or not.
    if (!(reader.partial && isReset(c))) {
      expect(observed.error).toEqual(plain.error);
      expect(observed.complete).toBe(plain.complete);
    }
    if (reader.partial) {
      const whole = reader.raw ? wireBytes(c) : c.payload.body;
      for (const o of [plain, observed])
        if (o.prefix !== undefined) expect(whole.subarray(0, o.prefix.length).equals(o.prefix)).toBe(true);
    } else {
      expect(observed.digest).toBe(plain.digest);
    }

    // One span, ended exactly once.
    const [span] = await telemetry.waitForSpans(1);
    expect(telemetry.spans()).toHaveLength(1);
    expect(telemetry.lifecycle.started).toBe(1);
    expect(telemetry.lifecycle.ended).toBe(1);
    expect(telemetry.lifecycle.endedTwice).toEqual([]);
    counts.spans++;
    checkSpan(span, c, reader, observed);

    counts.cases++;
    if (isReset(c)) counts.resets++;
    if (c.gzip) counts.gzip++;
    counts.byKind.set(
      c.payload.kind.replace(/^truncated-.*/, 'truncated'),
      (counts.byKind.get(c.payload.kind.replace(/^truncated-.*/, 'truncated')) ?? 0) + 1,
    );
  } catch (error) {
    const { payload } = c;
    const summary = `${payload.kind} ${payload.status} ${payload.contentType} (${payload.body.length} B), gzip ${c.gzip}, ${c.framing}, ${isReset(c) ? 'reset' : 'complete'}, read by ${reader.name}`;
    if (error instanceof Error)
      error.message = `${summary}: ${error.message}\nbody: ${JSON.stringify(payload.body.toString('utf8').slice(0, 2000))}`;
    throw error;
  } finally {
    cases.delete(id);
    telemetry.instrumentation.enable();
  }
}

function fuzz(readers: Reader[]): Promise<void> {
  return fc.assert(
    fc.asyncProperty(caseArb, fc.constantFrom(...readers), async (c, reader) => {
      // node-fetch 2 never settles when a body is cut by a reset, instrumented or not.
      fc.pre(!(reader.hangsOnReset && isReset(c)));
      await runCase(c, reader);
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
}

describe('fuzzed responses reach the application unchanged, and their spans end once', () => {
  it('through fetch, with every way of reading a body', () => fuzz(fetchReaders), 60_000);

  it('through node:http, axios and node-fetch', () => fuzz(httpReaders), 60_000);

  it('hands the parsers each byte once when a cloned event stream is read through both copies', async () => {
    // Found by the fuzzer: both copies fed the same parser, which then saw the stream twice,
    // interleaved, and lost the usage and finish_reason of a stream cut mid-event.
    const events = [
      {
        id: 'chatcmpl-clone',
        model: 'gpt-5',
        choices: [{ index: 0, delta: { content: 'Hello there' }, finish_reason: null }],
      },
      {
        id: 'chatcmpl-clone',
        model: 'gpt-5',
        choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
        request_id: 'req-clone',
      },
      { id: 'chatcmpl-clone', model: 'gpt-5', choices: [], usage: { prompt_tokens: 12, completion_tokens: 34 } },
    ];
    const body = Buffer.from(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n');
    const payload: Payload = { kind: 'sse', status: 200, contentType: 'text/event-stream', body };
    const cuts = Array.from({ length: Math.floor(body.length / 7) }, (_, i) => 7 * (i + 1));
    const clone = fetchReaders.find((r) => r.name === 'clone() and both read')!;
    await runCase({ payload, gzip: false, framing: 'chunked', ending: 'complete', cuts, resetAt: 0 }, clone);
    expect(telemetry.spans()[0].attributes).toMatchObject({
      'assemblyai.request_id': 'req-clone',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 12,
      'gen_ai.usage.output_tokens': 34,
    });
  });

  it('never reports an internal problem or lets an exception escape', () => {
    expect(unhandled).toEqual([]);
    expect(diagProblems.filter((p) => p.includes('llm-gateway'))).toEqual([]);
  });
});
