import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonBodyObserver } from '../../src/parse/json-body';
import { JSON_SCAN_WINDOW_BYTES, MAX_PARSED_JSON_BYTES } from '../../src/parse/limits';
import { parseRequestBody } from '../../src/parse/request';
import { SseEventParser, SseObserver } from '../../src/parse/sse';
import type { BodyEnd, BodyObserver, OutputToolCall, ResponseInfo } from '../../src/parse/types';

const enc = new TextEncoder();

/** Feeds `bytes` cut at `cuts` (any numbers; taken modulo length+1, sorted, repeats allowed). */
function feed<T extends BodyObserver>(
  obs: T,
  bytes: Uint8Array,
  cuts: number[] = [],
  end?: BodyEnd,
): { info: ResponseInfo; obs: T } {
  const points = cuts.map((c) => c % (bytes.byteLength + 1)).sort((a, b) => a - b);
  let start = 0;
  for (const p of points) {
    obs.write(bytes.subarray(start, p));
    start = p;
  }
  obs.write(bytes.subarray(start));
  return { info: obs.finish(end), obs };
}

/** How a body ended: whole or cut, with or without an expected number of choices; or the older call. */
const endArb: fc.Arbitrary<BodyEnd | undefined> = fc.option(
  fc.record(
    { complete: fc.boolean(), expectedChoices: fc.integer({ min: 0, max: 3 }) },
    { requiredKeys: ['complete'] },
  ),
  { nil: undefined },
);

const cutsArb = fc.array(fc.nat(), { maxLength: 24 });
const eolArb = fc.constantFrom('\n', '\r\n', '\r');
/** Any code point (lone surrogates, controls, quotes, backslashes, line breaks included). */
const textArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({
    unit: fc.constantFrom(
      '"',
      '\\',
      '\n',
      '\r',
      ':',
      ' ',
      'é',
      '😀',
      '世',
      'data: ',
      '"usage":{',
      '"finish_reason":"x"',
    ),
    maxLength: 12,
  }),
);
const idArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
const noEol = (s: string) => !/[\r\n]/.test(s);

// ---------------------------------------------------------------- SSE streams

interface UsageSpec {
  a: number;
  b: number;
  anthropic: boolean;
  cached?: number;
  cacheWrite?: number;
  reasoning?: number;
}
type StreamEvent =
  | {
      kind: 'chunk';
      content: string;
      finish?: string;
      usage?: UsageSpec;
      requestId?: string;
      status?: number;
      time?: number;
      pretty: boolean;
    }
  | { kind: 'comment'; text: string }
  | { kind: 'keepalive' }
  | { kind: 'empty' };

const eventArb: fc.Arbitrary<StreamEvent> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        kind: fc.constant('chunk' as const),
        content: textArb,
        finish: fc.constantFrom('stop', 'length', 'tool_calls', 'end_turn'),
        usage: fc.record(
          {
            a: fc.nat(100_000),
            b: fc.nat(100_000),
            anthropic: fc.boolean(),
            cached: fc.nat(1000),
            cacheWrite: fc.nat(1000),
            reasoning: fc.nat(1000),
          },
          { requiredKeys: ['a', 'b', 'anthropic'] },
        ),
        requestId: idArb,
        status: fc.constantFrom(200, 429, 529),
        time: fc.nat(10_000_000_000),
        pretty: fc.boolean(),
      },
      { requiredKeys: ['kind', 'content', 'pretty'] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('comment' as const), text: fc.string({ maxLength: 20 }).filter(noEol) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'keepalive' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
);

const streamArb: fc.Arbitrary<Stream> = fc.record({
  events: fc.array(eventArb, { maxLength: 12 }),
  done: fc.boolean(),
  /** An unterminated last event (no blank line): must be discarded. */
  tail: fc.option(textArb.filter(noEol), { nil: undefined }),
});
interface Stream {
  events: StreamEvent[];
  done: boolean;
  tail: string | undefined;
}

function chunkJson(e: Extract<StreamEvent, { kind: 'chunk' }>, n: number): string {
  const body: Record<string, unknown> = {
    id: `chatcmpl-${n}`,
    object: 'chat.completion.chunk',
    model: `model-${n}`,
    choices: [{ index: 0, delta: { content: e.content }, finish_reason: e.finish ?? null }],
  };
  if (e.usage) {
    const u = e.usage;
    body.usage = u.anthropic
      ? {
          input_tokens: u.a,
          output_tokens: u.b,
          cache_read_input_tokens: u.cached,
          cache_creation_input_tokens: u.cacheWrite,
          output_tokens_details: u.reasoning === undefined ? undefined : { reasoning_tokens: u.reasoning },
        }
      : {
          prompt_tokens: u.a,
          completion_tokens: u.b,
          total_tokens: u.a + u.b,
          prompt_tokens_details: { cached_tokens: u.cached, cache_write_tokens: u.cacheWrite },
          completion_tokens_details: u.reasoning === undefined ? undefined : { reasoning_tokens: u.reasoning },
        };
  }
  if (e.requestId !== undefined) body.request_id = e.requestId;
  if (e.status !== undefined) body.llm_status_code = e.status;
  if (e.time !== undefined) body.response_time = e.time;
  return JSON.stringify(body, null, e.pretty ? 1 : undefined);
}

/** The stream as lines; '' marks the blank line that ends an event. */
function streamLines(s: Stream): string[] {
  const lines: string[] = [];
  s.events.forEach((e, n) => {
    if (e.kind === 'comment') lines.push(`:${e.text}`);
    else if (e.kind === 'keepalive') lines.push('data: keep-alive', '');
    else if (e.kind === 'empty') lines.push('data:', '');
    else
      lines.push(
        ...chunkJson(e, n)
          .split('\n')
          .map((l) => `data: ${l}`),
        '',
      );
  });
  if (s.done) lines.push('data: [DONE]', '');
  if (s.tail !== undefined) lines.push(`data: ${s.tail}`);
  return lines;
}

/** What the observer must report for a stream: the model of the parser's contract. */
function expectedSse(s: Stream): { info: ResponseInfo; done: boolean; events: number } {
  let first: number | undefined;
  let requestId: string | undefined;
  let finish: string | undefined;
  let usage: UsageSpec | undefined;
  let status: number | undefined;
  let time: number | undefined;
  let events = 0;
  s.events.forEach((e, n) => {
    if (e.kind === 'keepalive') events++;
    if (e.kind !== 'chunk') return;
    events++;
    first ??= n;
    requestId ??= e.requestId;
    if (e.finish !== undefined) finish = e.finish;
    if (e.usage) usage = e.usage;
    if (e.status !== undefined) status = e.status;
    if (e.time !== undefined) time = e.time;
  });
  const info: ResponseInfo = {};
  if (first !== undefined) {
    info.responseId = `chatcmpl-${first}`;
    info.responseModel = `model-${first}`;
  }
  if (requestId !== undefined) info.requestId = requestId.slice(0, 256);
  if (finish !== undefined) info.finishReasons = [finish];
  if (usage) {
    info.inputTokens = usage.a;
    info.outputTokens = usage.b;
    if (usage.cached !== undefined) info.cacheReadInputTokens = usage.cached;
    if (usage.cacheWrite !== undefined) info.cacheWriteInputTokens = usage.cacheWrite;
    if (usage.reasoning !== undefined) info.reasoningOutputTokens = usage.reasoning;
  }
  if (status !== undefined) info.providerStatusCode = status;
  if (time !== undefined) info.gatewayDurationSeconds = time / 1e9;
  return { info, done: s.done, events: events + (s.done ? 1 : 0) };
}

/** Drops keys whose value is undefined, for comparing with the model. */
function defined(info: ResponseInfo): ResponseInfo {
  return Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined));
}

describe('SseEventParser properties', () => {
  it('reports what the stream says, for any line ending, whatever the chunking', () => {
    fc.assert(
      fc.property(streamArb, eolArb, cutsArb, (stream, eol, cuts) => {
        const bytes = enc.encode(
          streamLines(stream)
            .map((l, i, all) => (i < all.length - 1 || stream.tail === undefined ? l + eol : l))
            .join(''),
        );
        const expected = expectedSse(stream);
        const whole = feed(new SseEventParser(), bytes);
        expect(defined(whole.info)).toStrictEqual(expected.info);
        expect(whole.obs.done).toBe(expected.done);
        expect(whole.obs.events).toBe(expected.events);
        const split = feed(new SseEventParser(), bytes, cuts);
        expect(split.info).toStrictEqual(whole.info);
        expect(split.obs.done).toBe(whole.obs.done);
        expect(split.obs.events).toBe(whole.obs.events);
      }),
      { numRuns: 400 },
    );
  });

  it('gives the same result for any split when every line picks its own line ending', () => {
    fc.assert(
      fc.property(streamArb, fc.infiniteStream(eolArb), cutsArb, (stream, eols, cuts) => {
        const lines = streamLines(stream);
        const text = lines.map((l) => l + eols.next().value).join('');
        const bytes = enc.encode(text);
        const whole = feed(new SseEventParser(), bytes);
        const split = feed(new SseEventParser(), bytes, cuts);
        expect(split.info).toStrictEqual(whole.info);
        expect([split.obs.done, split.obs.events]).toStrictEqual([whole.obs.done, whole.obs.events]);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same result for any split, one byte at a time included', () => {
    fc.assert(
      fc.property(streamArb, eolArb, (stream, eol) => {
        const bytes = enc.encode(
          streamLines(stream)
            .map((l) => l + eol)
            .join(''),
        );
        const whole = feed(new SseEventParser(), bytes).info;
        const bytewise = feed(
          new SseEventParser(),
          bytes,
          Array.from({ length: bytes.byteLength }, (_, i) => i),
        ).info;
        expect(bytewise).toStrictEqual(whole);
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------- JSON bodies

interface JsonBodySpec {
  requestId: string;
  model: string;
  anthropicUsage: boolean;
  input: number;
  output: number;
  finish: string;
  piece: string;
  size: number;
  keep: number;
}

const jsonBodyArb: fc.Arbitrary<JsonBodySpec> = fc.record({
  requestId: idArb,
  model: idArb,
  anthropicUsage: fc.boolean(),
  input: fc.nat(1_000_000),
  output: fc.nat(1_000_000),
  finish: fc.constantFrom('stop', 'length', 'tool_calls'),
  /** Content: a random piece, repeated up to the target size (some bodies past 256 KB). */
  piece: fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
  size: fc.oneof(
    fc.nat(2_000),
    fc.integer({ min: MAX_PARSED_JSON_BYTES - 200, max: MAX_PARSED_JSON_BYTES + 200 }),
    fc.integer({ min: MAX_PARSED_JSON_BYTES, max: 3 * MAX_PARSED_JSON_BYTES }),
  ),
  /** Cut the body short at this fraction of its length (1 = complete). */
  keep: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
});

function jsonBody(b: JsonBodySpec): Uint8Array {
  const content = b.piece.repeat(Math.ceil(b.size / b.piece.length)).slice(0, b.size);
  const usage = b.anthropicUsage
    ? { input_tokens: b.input, output_tokens: b.output, total_tokens: b.input + b.output }
    : { prompt_tokens: b.input, completion_tokens: b.output, total_tokens: b.input + b.output };
  const text = JSON.stringify({
    request: { model: b.model, max_tokens: 60 },
    request_id: b.requestId,
    model: b.model,
    choices: [{ message: { role: 'assistant', content }, finish_reason: b.finish }],
    usage,
    http_status_code: 200,
  });
  const bytes = enc.encode(text);
  return b.keep === 1 ? bytes : bytes.subarray(0, Math.floor(bytes.byteLength * b.keep));
}

describe('JsonBodyObserver properties', () => {
  it('finds request_id, model and usage in complete bodies of any size, and any split gives the same result', () => {
    fc.assert(
      fc.property(jsonBodyArb, cutsArb, (b, cuts) => {
        const bytes = jsonBody(b);
        const whole = feed(new JsonBodyObserver(), bytes).info;
        if (b.keep === 1) {
          expect(whole.requestId).toBe(b.requestId);
          expect(whole.responseModel).toBe(b.model);
          expect(whole.inputTokens).toBe(b.input);
          expect(whole.outputTokens).toBe(b.output);
          expect(whole.finishReasons).toStrictEqual([b.finish]);
          expect(whole.error).toBeUndefined();
        }
        const split = feed(new JsonBodyObserver(), bytes, cuts).info;
        expect(split).toStrictEqual(whole);
      }),
      { numRuns: 250 },
    );
  });

  it('keeps exactly the first and last scan windows of a large body, whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MAX_PARSED_JSON_BYTES + 1, max: MAX_PARSED_JSON_BYTES + 3 * JSON_SCAN_WINDOW_BYTES }),
        cutsArb,
        fc.nat(255),
        (size, cuts, seed) => {
          const bytes = new Uint8Array(size);
          for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff;
          const obs = new JsonBodyObserver();
          const points = cuts.map((c) => c % (size + 1)).sort((a, b) => a - b);
          let start = 0;
          for (const p of [...points, size]) {
            obs.write(bytes.subarray(start, p));
            start = p;
          }
          const { head, tail } = obs as unknown as { head: Uint8Array; tail: Uint8Array };
          expect(Buffer.from(head).equals(Buffer.from(bytes.subarray(0, JSON_SCAN_WINDOW_BYTES)))).toBe(true);
          expect(Buffer.from(tail).equals(Buffer.from(bytes.subarray(size - JSON_SCAN_WINDOW_BYTES)))).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------- random bytes

const TOKENS = [
  'data: ',
  'data:',
  '\n',
  '\r',
  '\r\n',
  ':',
  '{',
  '}',
  '[',
  ']',
  '"',
  '\\',
  ',',
  ' ',
  '"usage":{',
  '"usage":null',
  '"finish_reason":"',
  '"request_id":"',
  '"error":',
  '"error":{"code":"x","message":"',
  '"message":"',
  '"code":',
  '"model":"',
  '"model"',
  '"choices":[',
  '"id":"',
  '[DONE]',
  '"prompt_tokens":',
  '"input_tokens":',
  '123',
  '-1',
  '1e400',
  'null',
  'true',
  '"max_tokens":',
  '"temperature":',
  '"stream":true',
  '"index":',
  '"metadata":{"errors":["',
].map((t) => enc.encode(t));

/** Random bytes, or random bytes mixed with the tokens the parsers look for. */
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }),
  fc.array(fc.oneof(fc.constantFrom(...TOKENS), fc.uint8Array({ maxLength: 8 })), { maxLength: 200 }).map((parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.byteLength;
    }
    return out;
  }),
);

describe('parsers never throw on arbitrary input', () => {
  it('SseEventParser write()/finish() never throw, and any split gives the same result', () => {
    fc.assert(
      fc.property(bytesArb, cutsArb, (bytes, cuts) => {
        const whole = feed(new SseEventParser(), bytes);
        const split = feed(new SseEventParser(), bytes, cuts);
        expect(split.info).toStrictEqual(whole.info);
        expect(split.obs.events).toBe(whole.obs.events);
      }),
      { numRuns: 400 },
    );
  });

  it('JsonBodyObserver write()/finish() never throw, and any split gives the same result', () => {
    fc.assert(
      fc.property(bytesArb, cutsArb, (bytes, cuts) => {
        expect(feed(new JsonBodyObserver(), bytes, cuts).info).toStrictEqual(feed(new JsonBodyObserver(), bytes).info);
      }),
      { numRuns: 400 },
    );
  });

  it('parseRequestBody never throws and returns well-typed fields', () => {
    fc.assert(
      fc.property(bytesArb, (bytes) => {
        const info = parseRequestBody(new TextDecoder().decode(bytes));
        expect(typeof info.stream).toBe('boolean');
        if (info.model !== undefined) expect(typeof info.model).toBe('string');
        if (info.maxTokens !== undefined) expect(Number.isInteger(info.maxTokens) && info.maxTokens >= 0).toBe(true);
        if (info.temperature !== undefined) expect(Number.isFinite(info.temperature)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('parseRequestBody never throws on large (scanned) random bodies', () => {
    fc.assert(
      fc.property(bytesArb, fc.string({ unit: 'binary', maxLength: 4 }), (bytes, pad) => {
        const text = new TextDecoder().decode(bytes) + (pad || ' ').repeat(70_000);
        const info = parseRequestBody(text);
        expect(typeof info.stream).toBe('boolean');
      }),
      { numRuns: 50 },
    );
  });
});

describe('SseObserver (first event + tail window) properties', () => {
  it('reports the same as the full parser for streams that fit the window, whatever the chunking, end or chunk mode', () => {
    fc.assert(
      fc.property(streamArb, eolArb, cutsArb, endArb, fc.boolean(), (stream, eol, cuts, end, stableChunks) => {
        const bytes = enc.encode(
          streamLines(stream)
            .map((l) => l + eol)
            .join(''),
        );
        const full = feed(new SseEventParser(), bytes, [], end);
        const windowed = feed(new SseObserver({ stableChunks }), bytes, cuts, end);
        expect(defined(windowed.info)).toStrictEqual(defined(full.info));
        expect(windowed.obs.done).toBe(full.obs.done);
      }),
      { numRuns: 400 },
    );
  });

  it('marks the choice of a stream with error exactly when it was cut before its finish reason', () => {
    fc.assert(
      fc.property(streamArb, eolArb, endArb, (stream, eol, end) => {
        const bytes = enc.encode(
          streamLines(stream)
            .map((l) => l + eol)
            .join(''),
        );
        const expected = expectedSse(stream).info.finishReasons;
        const seen = stream.events.some((e) => e.kind === 'chunk');
        const cleanEnd = end === undefined || (end.complete && stream.done);
        // A body cut, or a stream that ended without [DONE]: every expected choice not finished is cut.
        const wanted =
          expected ??
          (cleanEnd
            ? undefined
            : seen || (end.expectedChoices ?? 0) > 0
              ? Array(Math.max(1, end.expectedChoices ?? 0)).fill('error')
              : undefined);
        // More expected choices than the one the stream has: the rest are errors.
        const withRest =
          expected && !cleanEnd && (end.expectedChoices ?? 0) > 1
            ? [...expected, ...Array((end.expectedChoices ?? 0) - 1).fill('error')]
            : wanted;
        for (const obs of [new SseEventParser(), new SseObserver(), new SseObserver({ stableChunks: true })]) {
          expect(feed(obs, bytes, [], end).info.finishReasons).toStrictEqual(withRest);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same result for any split of a stream longer than the window', () => {
    fc.assert(
      fc.property(
        streamArb,
        eolArb,
        fc.integer({ min: 40, max: 400 }),
        fc.array(fc.integer({ min: 1, max: 9000 }), { maxLength: 30 }),
        (stream, eol, filler, sizes) => {
          const lines = streamLines(stream);
          const padding = Array.from(
            { length: filler },
            (_, i) =>
              `data: {"id":"pad","choices":[{"index":0,"delta":{"content":"${'p'.repeat(150)}${i}"},"finish_reason":null}]}${eol}`,
          );
          // Keep the generated stream's first event first, then padding, then the rest.
          const text = [lines[0] + eol, ...padding.map((p) => p + eol), ...lines.slice(1).map((l) => l + eol)].join('');
          const bytes = enc.encode(text);
          const cuts: number[] = [];
          let at = 0;
          for (const size of sizes) {
            at += size;
            if (at < bytes.byteLength) cuts.push(at);
          }
          const whole = feed(new SseObserver(), bytes);
          const split = feed(new SseObserver(), bytes, cuts);
          expect(split.info).toStrictEqual(whole.info);
          expect(split.obs.done).toBe(whole.obs.done);
          const stable = feed(new SseObserver({ stableChunks: true }), bytes, cuts);
          expect(stable.info).toStrictEqual(whole.info);
          expect(stable.obs.done).toBe(whole.obs.done);
        },
      ),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------- tool calls

interface ToolCallSpec {
  id: string;
  name: string;
  arguments: string;
  /** Where the streamed arguments are split into deltas (any numbers, taken modulo length). */
  cuts: number[];
}

const toolCallArb: fc.Arbitrary<ToolCallSpec> = fc.record({
  id: fc.string({ minLength: 1, maxLength: 12 }),
  name: fc.string({ minLength: 1, maxLength: 20 }),
  arguments: fc.oneof(
    fc.json({ maxDepth: 2 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({ unit: fc.constantFrom('{', '}', '"', '\\', ':', ',', 'é', '😀', '\n'), maxLength: 30 }),
  ),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
});

/** Code-unit cut points that never split a surrogate pair (a JSON string cannot carry half of one losslessly). */
function argumentPieces(call: ToolCallSpec): string[] {
  const text = call.arguments;
  const points = [...new Set(call.cuts.map((c) => c % (text.length + 1)))]
    .filter(
      (p) => !(p > 0 && p < text.length && /[\uD800-\uDBFF]/.test(text[p - 1]) && /[\uDC00-\uDFFF]/.test(text[p])),
    )
    .sort((a, b) => a - b);
  const pieces: string[] = [];
  let start = 0;
  for (const p of [...points, text.length]) {
    pieces.push(text.slice(start, p));
    start = p;
  }
  return pieces;
}

/** The stream an OpenAI-style server sends for these calls: id and name first, then argument deltas, interleaved. */
function toolCallStream(calls: ToolCallSpec[]): string {
  const base = { id: 'chatcmpl-t', object: 'chat.completion.chunk', model: 'm' };
  const event = (delta: unknown, finish: string | null = null) =>
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  let text = event({ role: 'assistant', content: null });
  const queues = calls.map((call, index) => [
    { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } },
    ...argumentPieces(call).map((piece) => ({ index, function: { arguments: piece } })),
  ]);
  // Round-robin over the calls, as parallel tool calls may arrive.
  while (queues.some((q) => q.length > 0)) {
    for (const queue of queues) {
      const next = queue.shift();
      if (next) text += event({ tool_calls: [next] });
    }
  }
  return text + event({}, 'tool_calls') + 'data: [DONE]\n\n';
}

function toolCallBody(calls: ToolCallSpec[]): string {
  return JSON.stringify({
    request_id: 'r',
    model: 'm',
    choices: [
      {
        message: {
          role: 'assistant',
          content: null,
          tool_calls: calls.map((c) => ({
            id: c.id,
            type: 'function',
            function: { name: c.name, arguments: c.arguments },
          })),
        },
        finish_reason: 'tool_calls',
      },
    ],
  });
}

describe('tool call properties (content capture)', () => {
  it('streamed arguments reassembled equal the whole-response ones, for any delta split and any chunking', () => {
    fc.assert(
      fc.property(fc.array(toolCallArb, { minLength: 1, maxLength: 4 }), cutsArb, (calls, cuts) => {
        const whole = feed(new JsonBodyObserver({ captureContent: true }), enc.encode(toolCallBody(calls))).info
          .outputMessages;
        const streamed = feed(new SseEventParser({ captureContent: true }), enc.encode(toolCallStream(calls)), cuts)
          .info.outputMessages;
        const expected: OutputToolCall[] = calls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments }));
        expect(whole?.[0]?.toolCalls).toStrictEqual(expected);
        expect(streamed?.[0]?.toolCalls).toStrictEqual(expected);
        expect(streamed?.[0]?.finishReason).toBe('tool_calls');
      }),
      { numRuns: 300 },
    );
  });
});
