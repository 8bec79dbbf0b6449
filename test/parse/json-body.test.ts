import { describe, expect, it } from 'vitest';
import { JsonBodyObserver } from '../../src/parse/json-body';
import { JSON_SCAN_WINDOW_BYTES, MAX_PARSED_JSON_BYTES } from '../../src/parse/limits';
import type { ResponseInfo } from '../../src/parse/types';

const enc = new TextEncoder();

function observe(body: string | Uint8Array, chunkSize = Infinity): ResponseInfo {
  const bytes = typeof body === 'string' ? enc.encode(body) : body;
  const obs = new JsonBodyObserver();
  if (chunkSize === Infinity) obs.write(bytes);
  else for (let i = 0; i < bytes.byteLength; i += chunkSize) obs.write(bytes.subarray(i, i + chunkSize));
  return obs.finish();
}

/** Bytes the observer holds on to between writes (whole backing buffers, not just views). */
function retainedBytes(obs: JsonBodyObserver): number {
  const o = obs as any;
  let n = 0;
  for (const c of o.chunks as Uint8Array[]) n += c.buffer.byteLength;
  if (o.head) n += o.head.buffer.byteLength;
  if (o.tail) n += o.tail.buffer.byteLength;
  return n;
}

/** The non-streamed reply observed live (gateway-api.md §2, LIVE-10c G4). */
function liveSuccess(content = 'The capital of France is Paris.'): Record<string, unknown> {
  return {
    request: { model: 'qwen3.5-4b-32k-fast', max_tokens: 60 },
    request_id: '93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b',
    model: 'qwen3.5-4b-32k-fast',
    choices: [{ message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: {
      input_tokens: 24,
      prompt_tokens: 24,
      output_tokens: 8,
      completion_tokens: 8,
      total_tokens: 32,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
    http_status_code: 200,
    response_time: 53194779,
    llm_status_code: 200,
  };
}

/** What the live shape's usage details and envelope add (cached and reasoning tokens were 0 live). */
const LIVE_DETAILS: ResponseInfo = {
  cacheReadInputTokens: 0,
  reasoningOutputTokens: 0,
  providerStatusCode: 200,
  gatewayDurationSeconds: 0.053194779,
};

describe('JsonBodyObserver on success bodies', () => {
  it('reads request_id, model, finish reasons and tokens from the live success shape', () => {
    expect(observe(JSON.stringify(liveSuccess()))).toEqual({
      requestId: '93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b',
      responseModel: 'qwen3.5-4b-32k-fast',
      finishReasons: ['stop'],
      inputTokens: 24,
      outputTokens: 8,
      ...LIVE_DETAILS,
    });
  });

  it('prefers the top-level model over request.model', () => {
    const body = { ...liveSuccess(), model: 'served-model', request: { model: 'asked-model' } };
    expect(observe(JSON.stringify(body)).responseModel).toBe('served-model');
  });

  it('falls back to request.model when there is no top-level model (documented shape)', () => {
    const body = {
      request_id: 'r-1',
      choices: [{ message: { role: 'assistant', content: '...' }, finish_reason: 'stop' }],
      request: { model: 'claude-sonnet-4-5-20250929', max_tokens: 1000 },
      usage: { input_tokens: 15, output_tokens: 8, total_tokens: 23 },
    };
    expect(observe(JSON.stringify(body))).toEqual({
      requestId: 'r-1',
      responseModel: 'claude-sonnet-4-5-20250929',
      finishReasons: ['stop'],
      inputTokens: 15,
      outputTokens: 8,
    });
  });

  it('reads input tokens from prompt_tokens and output tokens from completion_tokens when the Anthropic names are absent', () => {
    const body = { request_id: 'r', choices: [], usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 } };
    const info = observe(JSON.stringify(body));
    expect(info.inputTokens).toBe(11);
    expect(info.outputTokens).toBe(5);
  });

  it('prefers input_tokens/output_tokens over prompt_tokens/completion_tokens', () => {
    const body = { usage: { input_tokens: 1, prompt_tokens: 100, output_tokens: 2, completion_tokens: 200 } };
    expect(observe(JSON.stringify(body))).toMatchObject({ inputTokens: 1, outputTokens: 2 });
  });

  it('lists the finish reason of every choice, in order', () => {
    const body = {
      choices: [
        { index: 0, message: { content: 'a' }, finish_reason: 'stop' },
        { index: 1, message: { content: null }, finish_reason: 'tool_calls' },
        { index: 2, message: { content: 'c' }, finish_reason: null },
        { index: 3, message: { content: 'd' }, finish_reason: 'length' },
      ],
    };
    expect(observe(JSON.stringify(body)).finishReasons).toEqual(['stop', 'tool_calls', 'length']);
  });

  it('does not report an error for a success body', () => {
    expect(observe(JSON.stringify(liveSuccess())).error).toBeUndefined();
  });

  it('gives the same result whatever the chunk size', () => {
    const text = JSON.stringify(liveSuccess('é😀 "quoted" ünïcödé'));
    const whole = observe(text);
    for (const size of [1, 2, 3, 7, 64]) expect(observe(text, size)).toEqual(whole);
  });
});

describe('JsonBodyObserver on error bodies', () => {
  it('reads the seed envelope', () => {
    const body = { error: { code: 'rate_limited', message: 'slow down', param: 'model', request_id: 'req_01' } };
    expect(observe(JSON.stringify(body))).toEqual({
      requestId: 'req_01',
      error: { code: 'rate_limited', message: 'slow down', param: 'model' },
    });
  });

  it('reads the flat post-auth envelope, joining metadata.errors', () => {
    const body = {
      metadata: { errors: ['Your account does not have access to this LLM Gateway model'] },
      request_id: 'r-flat',
      message: 'invalid request body',
      code: 400,
    };
    expect(observe(JSON.stringify(body))).toEqual({
      requestId: 'r-flat',
      error: { message: 'invalid request body: Your account does not have access to this LLM Gateway model' },
    });
  });

  it('reads the pre-auth envelope', () => {
    const body = { error: 'Authentication error, API token missing/invalid', status: 'error', request_id: 'r-auth' };
    expect(observe(JSON.stringify(body))).toEqual({
      requestId: 'r-auth',
      error: { message: 'Authentication error, API token missing/invalid' },
    });
  });

  it('reads the documented envelope, with no string code for a numeric code', () => {
    const body = { error: { code: 401, message: 'Unauthorized - Invalid or missing API key', metadata: {} } };
    expect(observe(JSON.stringify(body))).toEqual({ error: { message: 'Unauthorized - Invalid or missing API key' } });
  });
});

describe('JsonBodyObserver on bodies that are not complete JSON', () => {
  it('finds nothing in an HTML page', () => {
    const html =
      '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>';
    const info = observe(html);
    expect(info).toEqual({});
    expect(info.error).toBeUndefined();
  });

  it('gives an empty result for an empty body', () => {
    expect(new JsonBodyObserver().finish()).toEqual({});
    expect(observe('')).toEqual({});
  });

  it('still finds request_id, model and the finish reason in a truncated body', () => {
    const text = JSON.stringify(liveSuccess());
    const cut = text.slice(0, text.indexOf('"usage"') + 20);
    const info = observe(cut);
    expect(info.requestId).toBe('93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b');
    expect(info.responseModel).toBe('qwen3.5-4b-32k-fast');
    expect(info.finishReasons).toEqual(['stop']);
  });

  it('still finds the code and message of a truncated seed error body', () => {
    const text = JSON.stringify({
      error: { code: 'internal_error', message: 'boom', request_id: 'r-cut', param: 'x' },
    });
    const info = observe(text.slice(0, -5));
    expect(info.requestId).toBe('r-cut');
    expect(info.error).toEqual({ code: 'internal_error', message: 'boom' });
  });

  it('does not throw on a body cut inside a multi-byte character', () => {
    const bytes = enc.encode(JSON.stringify({ request_id: 'r', choices: [{ message: { content: '😀😀' } }] }));
    const cut = bytes.subarray(0, bytes.indexOf(0xf0) + 2);
    expect(observe(cut).requestId).toBe('r');
  });
});

describe('JsonBodyObserver on large bodies', () => {
  const TEN_MB = 10 * 1024 * 1024;
  const big = JSON.stringify(liveSuccess('A "model": "not-this" line.\n'.repeat(Math.ceil(TEN_MB / 28))));
  const bigBytes = enc.encode(big);

  it('still finds request_id, model, finish reason and usage in a 10 MB body', () => {
    expect(bigBytes.byteLength).toBeGreaterThan(TEN_MB);
    expect(observe(bigBytes, 64 * 1024)).toEqual({
      requestId: '93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b',
      responseModel: 'qwen3.5-4b-32k-fast',
      finishReasons: ['stop'],
      inputTokens: 24,
      outputTokens: 8,
      ...LIVE_DETAILS,
    });
  });

  it('gives the same result for a 10 MB body written whole or in uneven chunks', () => {
    const whole = observe(bigBytes);
    expect(whole.requestId).toBe('93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b');
    expect(observe(bigBytes, 100_003)).toEqual(whole);
    expect(observe(bigBytes, 4_093)).toEqual(whole);
  });

  it('reads prompt_tokens/completion_tokens at the end of a large body', () => {
    const body = {
      request_id: 'r-big',
      model: 'm',
      choices: [{ message: { content: 'x'.repeat(MAX_PARSED_JSON_BYTES) }, finish_reason: 'length' }],
      usage: { prompt_tokens: 7, completion_tokens: 9 },
    };
    expect(observe(JSON.stringify(body), 10_000)).toEqual({
      requestId: 'r-big',
      responseModel: 'm',
      finishReasons: ['length'],
      inputTokens: 7,
      outputTokens: 9,
    });
  });

  it('keeps memory bounded while reading a 10 MB body in 64 KB chunks', () => {
    const obs = new JsonBodyObserver();
    let peak = 0;
    for (let i = 0; i < bigBytes.byteLength; i += 64 * 1024) {
      obs.write(bigBytes.subarray(i, i + 64 * 1024));
      peak = Math.max(peak, retainedBytes(obs));
    }
    expect(peak).toBeLessThan(300 * 1024);
    expect(retainedBytes(obs)).toBeLessThanOrEqual(2 * JSON_SCAN_WINDOW_BYTES);
    expect(obs.finish().requestId).toBe('93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b');
  });

  it('keeps only the two scan windows after a single 10 MB write (no view onto the big buffer)', () => {
    const obs = new JsonBodyObserver();
    obs.write(bigBytes);
    expect(retainedBytes(obs)).toBeLessThanOrEqual(2 * JSON_SCAN_WINDOW_BYTES);
  });
});

describe('JsonBodyObserver copies the chunks it is fed', () => {
  it('is not affected by the fed buffer being transferred (detached) afterwards', () => {
    const chunk = enc.encode(JSON.stringify(liveSuccess()));
    const expected = observe(JSON.stringify(liveSuccess()));
    const obs = new JsonBodyObserver();
    obs.write(chunk);
    structuredClone(chunk.buffer, { transfer: [chunk.buffer] });
    expect(chunk.byteLength).toBe(0);
    expect(obs.finish()).toEqual(expected);
  });

  it('is not affected by the fed buffer being zeroed afterwards', () => {
    const chunk = enc.encode(JSON.stringify(liveSuccess()));
    const obs = new JsonBodyObserver();
    obs.write(chunk);
    chunk.fill(0);
    expect(obs.finish().requestId).toBe('93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b');
  });

  it('is not affected by reuse of the fed buffers of a large body (head and tail windows)', () => {
    const bytes = enc.encode(JSON.stringify(liveSuccess('y'.repeat(MAX_PARSED_JSON_BYTES + 1000))));
    const obs = new JsonBodyObserver();
    const scratch = new Uint8Array(8192);
    for (let i = 0; i < bytes.byteLength; i += scratch.byteLength) {
      const part = bytes.subarray(i, i + scratch.byteLength);
      scratch.set(part);
      obs.write(scratch.subarray(0, part.byteLength));
      scratch.fill(0x20);
    }
    expect(obs.finish()).toEqual(observe(bytes));
    expect(observe(bytes).inputTokens).toBe(24);
  });

  it('is not affected by a large tail chunk being detached afterwards', () => {
    const bytes = enc.encode(JSON.stringify(liveSuccess('z'.repeat(MAX_PARSED_JSON_BYTES + 1000))));
    const obs = new JsonBodyObserver();
    const split = bytes.byteLength - 40_000;
    obs.write(bytes.slice(0, split));
    const last = bytes.slice(split);
    obs.write(last);
    structuredClone(last.buffer, { transfer: [last.buffer] });
    expect(obs.finish()).toMatchObject({
      requestId: '93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b',
      inputTokens: 24,
      outputTokens: 8,
    });
  });
});

describe('JsonBodyObserver usage details and gateway envelope', () => {
  const body = (usage: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      request_id: 'r',
      model: 'm',
      choices: [{ message: { content: 'x' }, finish_reason: 'stop' }],
      usage,
      ...extra,
    });

  it('reads cached, cache-write and reasoning tokens in the OpenAI names', () => {
    const info = observe(
      body({
        prompt_tokens: 1200,
        completion_tokens: 300,
        prompt_tokens_details: { cached_tokens: 1024, cache_write_tokens: 64 },
        completion_tokens_details: { reasoning_tokens: 256 },
      }),
    );
    expect(info).toMatchObject({
      inputTokens: 1200,
      outputTokens: 300,
      cacheReadInputTokens: 1024,
      cacheWriteInputTokens: 64,
      reasoningOutputTokens: 256,
    });
  });

  it('reads the Responses-style and the Anthropic names', () => {
    expect(
      observe(
        body({
          input_tokens: 10,
          input_tokens_details: { cached_tokens: 4 },
          output_tokens_details: { reasoning_tokens: 2 },
        }),
      ),
    ).toMatchObject({
      cacheReadInputTokens: 4,
      reasoningOutputTokens: 2,
    });
    expect(
      observe(body({ input_tokens: 10, cache_read_input_tokens: 7, cache_creation_input_tokens: 3 })),
    ).toMatchObject({
      cacheReadInputTokens: 7,
      cacheWriteInputTokens: 3,
    });
  });

  it('prefers prompt_tokens_details over the other names, in the documented order', () => {
    const info = observe(
      body({
        prompt_tokens_details: { cached_tokens: 1, cache_write_tokens: 2 },
        input_tokens_details: { cached_tokens: 10 },
        cache_read_input_tokens: 100,
        cache_creation_input_tokens: 200,
        completion_tokens_details: { reasoning_tokens: 3 },
        output_tokens_details: { reasoning_tokens: 30 },
      }),
    );
    expect(info).toMatchObject({ cacheReadInputTokens: 1, cacheWriteInputTokens: 2, reasoningOutputTokens: 3 });
  });

  it('leaves the details out when the usage does not tell them, or tells them wrongly', () => {
    const info = observe(
      body({
        prompt_tokens: 5,
        prompt_tokens_details: { cached_tokens: -1 },
        completion_tokens_details: { reasoning_tokens: '2' },
      }),
    );
    expect(info).not.toHaveProperty('cacheReadInputTokens');
    expect(info).not.toHaveProperty('cacheWriteInputTokens');
    expect(info).not.toHaveProperty('reasoningOutputTokens');
  });

  it('reads llm_status_code and response_time (nanoseconds, as seconds)', () => {
    const info = observe(body({}, { http_status_code: 200, response_time: 1_500_000_000, llm_status_code: 529 }));
    expect(info.providerStatusCode).toBe(529);
    expect(info.gatewayDurationSeconds).toBeCloseTo(1.5, 9);
    const bad = observe(body({}, { response_time: -3, llm_status_code: 2000 }));
    expect(bad.providerStatusCode).toBeUndefined();
    expect(bad.gatewayDurationSeconds).toBeUndefined();
  });

  it('reads the envelope of an error body too (the provider failed behind a 5xx)', () => {
    const info = observe(
      JSON.stringify({
        request_id: 'r',
        message: 'upstream failed',
        code: 502,
        response_time: 2_000_000,
        llm_status_code: 503,
      }),
    );
    expect(info).toMatchObject({
      providerStatusCode: 503,
      gatewayDurationSeconds: 0.002,
      error: { message: 'upstream failed' },
    });
  });

  it('finds the details and the envelope at the end of a body too large to parse', () => {
    const text = body(
      {
        prompt_tokens: 7,
        completion_tokens: 9,
        prompt_tokens_details: { cached_tokens: 5, cache_write_tokens: 1 },
        completion_tokens_details: { reasoning_tokens: 4 },
      },
      { response_time: 250_000_000, llm_status_code: 200 },
    ).replace('"content":"x"', `"content":"${'x'.repeat(MAX_PARSED_JSON_BYTES)}"`);
    expect(observe(text, 10_000)).toMatchObject({
      inputTokens: 7,
      outputTokens: 9,
      cacheReadInputTokens: 5,
      cacheWriteInputTokens: 1,
      reasoningOutputTokens: 4,
      providerStatusCode: 200,
      gatewayDurationSeconds: 0.25,
    });
  });
});

describe('JsonBodyObserver finish(end): choices whose finish reason never came', () => {
  const run = (text: string, end: Parameters<JsonBodyObserver['finish']>[0]) => {
    const obs = new JsonBodyObserver();
    obs.write(enc.encode(text));
    return obs.finish(end);
  };

  it('adds nothing to a complete body', () => {
    const text = JSON.stringify({
      choices: [
        { message: { content: 'a' }, finish_reason: 'stop' },
        { message: { content: 'b' }, finish_reason: null },
      ],
    });
    expect(run(text, { complete: true, expectedChoices: 2 }).finishReasons).toEqual(['stop']);
  });

  it('marks every expected choice of a body cut short: those found keep their reason', () => {
    const text = JSON.stringify(liveSuccess());
    const cut = text.slice(0, text.indexOf('"usage"'));
    expect(run(cut, { complete: false, expectedChoices: 1 }).finishReasons).toEqual(['stop']);
    expect(run(cut, { complete: false, expectedChoices: 3 }).finishReasons).toEqual(['stop', 'error', 'error']);
    const early = text.slice(0, text.indexOf('"choices"') + 20);
    expect(run(early, { complete: false, expectedChoices: 1 }).finishReasons).toEqual(['error']);
  });

  it('marks the choices of a whole body the application cancelled, by index', () => {
    const text = JSON.stringify({
      choices: [
        { index: 1, finish_reason: 'length', message: { content: 'b' } },
        { index: 0, message: { content: 'a' } },
      ],
    });
    expect(run(text, { complete: false }).finishReasons).toEqual(['error', 'length']);
  });

  it('adds nothing without expected choices when nothing was seen', () => {
    expect(run('', { complete: false }).finishReasons).toBeUndefined();
    expect(run('{"request_id":"r","message":"bad","code":400}', { complete: false }).finishReasons).toBeUndefined();
    expect(run('', { complete: false, expectedChoices: 1 }).finishReasons).toEqual(['error']);
  });

  it('never lists more than 64 choices', () => {
    expect(run('', { complete: false, expectedChoices: 1000 }).finishReasons).toHaveLength(64);
  });
});

describe('JsonBodyObserver with stableChunks keeps references, not copies', () => {
  it('keeps the fed chunks themselves and reads the same as the copying observer', () => {
    const bytes = enc.encode(JSON.stringify(liveSuccess()));
    const obs = new JsonBodyObserver({ stableChunks: true });
    const first = bytes.subarray(0, 100);
    obs.write(first);
    obs.write(bytes.subarray(100));
    expect((obs as any).chunks[0]).toBe(first);
    expect(obs.finish()).toEqual(observe(bytes));
  });

  it('still copies the scan windows of a body too large to parse (bounded memory)', () => {
    const bytes = enc.encode(JSON.stringify(liveSuccess('w'.repeat(MAX_PARSED_JSON_BYTES + 1000))));
    const obs = new JsonBodyObserver({ stableChunks: true });
    for (let i = 0; i < bytes.byteLength; i += 65_536) obs.write(bytes.subarray(i, i + 65_536));
    expect(retainedBytes(obs)).toBeLessThanOrEqual(2 * JSON_SCAN_WINDOW_BYTES);
    expect(obs.finish()).toEqual(observe(bytes));
  });

  it('accepts the older boolean argument as captureContent', () => {
    const text = JSON.stringify(liveSuccess());
    expect(observe(text).outputMessages).toBeUndefined();
    const obs = new JsonBodyObserver(true);
    obs.write(enc.encode(text));
    expect(obs.finish().outputMessages).toEqual([
      { role: 'assistant', content: 'The capital of France is Paris.', finishReason: 'stop' },
    ]);
  });
});

describe('JsonBodyObserver output tool calls (content capture)', () => {
  const capture = (body: unknown) => {
    const obs = new JsonBodyObserver({ captureContent: true });
    obs.write(enc.encode(JSON.stringify(body)));
    return obs.finish();
  };
  const call = (id: string, name: string, args: string) => ({
    id,
    type: 'function',
    function: { name, arguments: args },
  });

  it('reads message.tool_calls (the newer docs) with id, name and arguments as sent', () => {
    const info = capture({
      choices: [
        {
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [call('call_1', 'get_weather', '{"city":"Paris"}'), call('call_2', 'get_time', '{}')],
          },
          finish_reason: 'tool_calls',
        },
      ],
    });
    expect(info.outputMessages).toEqual([
      {
        role: 'assistant',
        content: '',
        finishReason: 'tool_calls',
        toolCalls: [
          { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'call_2', name: 'get_time', arguments: '{}' },
        ],
      },
    ]);
  });

  it('reads choice-level tool_calls (the spec), with or without a message', () => {
    const withMessage = capture({
      choices: [
        {
          message: { role: 'assistant', content: null },
          tool_calls: [call('c', 'f', '{"a":1}')],
          finish_reason: 'tool_calls',
        },
      ],
    });
    expect(withMessage.outputMessages?.[0]?.toolCalls).toEqual([{ id: 'c', name: 'f', arguments: '{"a":1}' }]);
    const bare = capture({ choices: [{ tool_calls: [call('c', 'f', '{}')], finish_reason: 'tool_calls' }] });
    expect(bare.outputMessages).toEqual([
      {
        role: 'assistant',
        content: '',
        finishReason: 'tool_calls',
        toolCalls: [{ id: 'c', name: 'f', arguments: '{}' }],
      },
    ]);
  });

  it('charges arguments to the content cap and bounds the number of calls', () => {
    const long = 'a'.repeat(20_000);
    const info = capture({
      choices: [
        {
          message: { content: 'hi', tool_calls: [call('1', 'f', long), call('2', 'g', long)] },
          finish_reason: 'tool_calls',
        },
      ],
    });
    const calls = info.outputMessages![0].toolCalls!;
    expect(2 + calls.reduce((n, c) => n + c.arguments.length, 0)).toBe(16 * 1024);
    const many = capture({
      choices: [{ message: { tool_calls: Array.from({ length: 100 }, (_, i) => call(`c${i}`, 'f', '{}')) } }],
    });
    expect(many.outputMessages![0].toolCalls).toHaveLength(64);
  });

  it('is not captured without content capture', () => {
    const obs = new JsonBodyObserver();
    obs.write(enc.encode(JSON.stringify({ choices: [{ message: { tool_calls: [call('c', 'f', '{}')] } }] })));
    expect(obs.finish().outputMessages).toBeUndefined();
  });
});
