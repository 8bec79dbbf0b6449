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

describe('JsonBodyObserver on success bodies', () => {
  it('reads request_id, model, finish reasons and tokens from the live success shape', () => {
    expect(observe(JSON.stringify(liveSuccess()))).toEqual({
      requestId: '93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b',
      responseModel: 'qwen3.5-4b-32k-fast',
      finishReasons: ['stop'],
      inputTokens: 24,
      outputTokens: 8,
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
    const html = '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>';
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
    const text = JSON.stringify({ error: { code: 'internal_error', message: 'boom', request_id: 'r-cut', param: 'x' } });
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
    });
  });

  it('gives the same result for a 10 MB body written whole or in uneven chunks', () => {
    const whole = observe(bigBytes);
    expect(whole.requestId).toBe('93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b');
    expect(observe(bigBytes, 100_003)).toEqual(whole);
    expect(observe(bigBytes, 4_093)).toEqual(whole);
  });

  it('reads prompt_tokens/completion_tokens at the end of a large body', () => {
    const body = { request_id: 'r-big', model: 'm', choices: [{ message: { content: 'x'.repeat(MAX_PARSED_JSON_BYTES) }, finish_reason: 'length' }], usage: { prompt_tokens: 7, completion_tokens: 9 } };
    expect(observe(JSON.stringify(body), 10_000)).toEqual({ requestId: 'r-big', responseModel: 'm', finishReasons: ['length'], inputTokens: 7, outputTokens: 9 });
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
    expect(obs.finish()).toMatchObject({ requestId: '93f7a1b2-4c5d-4e6f-8a9b-0c1d2e3f4a5b', inputTokens: 24, outputTokens: 8 });
  });
});
