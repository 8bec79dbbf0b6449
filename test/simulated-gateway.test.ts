import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  startSimulatedGateway,
  type SimulatedGateway,
  type SimulatedGatewayOptions,
} from '../examples/simulated-gateway/server';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SEED_ID = /^req_[0-9A-HJKMNP-TV-Z]{26}$/;
const USER = [{ role: 'user', content: 'What is the capital of France?' }];

type Json = Record<string, any>;

function post(
  gw: SimulatedGateway,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
) {
  return fetch(`${gw.url}${path}`, {
    method: 'POST',
    signal,
    headers: { authorization: 'test-key', 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function chat(gw: SimulatedGateway, body: Json = {}, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return post(gw, '/v1/chat/completions', { model: 'claude-sonnet-4-6', messages: USER, ...body }, headers, signal);
}

/** The JSON payloads of an SSE body, `[DONE]` excluded. */
function sseEvents(text: string): { chunks: Json[]; done: boolean } {
  const data = text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
  return { chunks: data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d)), done: data.at(-1) === '[DONE]' };
}

function contentOf(chunks: Json[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('');
}

function rateLimitHeaders(res: Response) {
  return {
    limit: res.headers.get('x-ratelimit-limit'),
    remaining: res.headers.get('x-ratelimit-remaining'),
    reset: res.headers.get('x-ratelimit-reset'),
    model: res.headers.get('x-ratelimit-model'),
    service: res.headers.get('x-ratelimit-service'),
  };
}

async function withGateway(options: SimulatedGatewayOptions, run: (gw: SimulatedGateway) => Promise<void>) {
  const gw = await startSimulatedGateway(options);
  try {
    await run(gw);
  } finally {
    await gw.close();
  }
}

let gw: SimulatedGateway;
beforeAll(async () => {
  gw = await startSimulatedGateway({ rateLimit: 10_000 });
});
afterAll(() => gw.close());

describe('GET /v1/models', () => {
  it('lists the catalog without auth', async () => {
    const res = await fetch(`${gw.url}/v1/models`);
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: Json[] };
    const ids = data.map((m) => m.id);
    for (const id of ['claude-sonnet-4-6', 'claude-opus-4-6', 'claude-haiku-4-5-20251001', 'gpt-5', 'gpt-5-mini']) {
      expect(ids).toContain(id);
    }
    expect(ids).toEqual(expect.arrayContaining(['gpt-oss-20b', 'gemini-2.5-flash', 'qwen3.5-4b-32k-fast']));
    const sonnet = data.find((m) => m.id === 'claude-sonnet-4-6')!;
    expect(Object.keys(sonnet)).toEqual(
      expect.arrayContaining([
        'name',
        'description',
        'creator',
        'context_length',
        'supported_parameters',
        'available_regions',
        'retirement_date',
        'pricing',
      ]),
    );
    expect(sonnet.supported_parameters).toContain('stream');
    expect(sonnet.retirement_date).toBe(0);
    expect(data.find((m) => m.id === 'gpt-oss-20b')!.supported_parameters).not.toContain('stream');
    const retired = data.find((m) => m.id === 'claude-3-haiku-20240307')!;
    expect(retired.retirement_date * 1000).toBeLessThan(Date.now());
  });

  it('accepts a catalog override', async () => {
    await withGateway({ models: [{ ...(await firstModel()), id: 'only-model' }] }, async (custom) => {
      const { data } = (await (await fetch(`${custom.url}/v1/models`)).json()) as { data: Json[] };
      expect(data.map((m) => m.id)).toEqual(['only-model']);
      expect((await chat(custom, { model: 'only-model' })).status).toBe(200);
    });
  });
});

async function firstModel() {
  const { data } = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: any[] };
  return data[0];
}

describe('authentication', () => {
  it('answers a missing Authorization header with the "no access" pre-auth envelope', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as Json;
    expect(body).toEqual({
      error:
        'Your account does not have access to LLM Gateway. Please upgrade or contact us at support@assemblyai.com for more information.',
      status: 'error',
      request_id: expect.stringMatching(UUID),
    });
  });

  it('rejects a bad key, with or without Bearer', async () => {
    for (const authorization of ['bad-key', 'Bearer bad-key', 'Bearer ']) {
      const res = await chat(gw, {}, { authorization });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({
        error: 'Authentication error, API token missing/invalid',
        status: 'error',
        request_id: expect.stringMatching(UUID),
      });
    }
  });

  it('accepts the raw key and the Bearer form', async () => {
    expect((await chat(gw, {}, { authorization: 'good' })).status).toBe(200);
    expect((await chat(gw, {}, { authorization: 'Bearer good' })).status).toBe(200);
  });

  it('uses acceptKey when given', async () => {
    await withGateway({ acceptKey: (key) => key === 'secret' }, async (strict) => {
      expect((await chat(strict, {}, { authorization: 'secret' })).status).toBe(200);
      expect((await chat(strict, {}, { authorization: 'other' })).status).toBe(401);
    });
  });

  it('checks auth before a forced status', async () => {
    const res = await chat(gw, {}, { authorization: 'bad', 'x-sim-status': '503' });
    expect(res.status).toBe(401);
  });
});

describe('validation', () => {
  async function expectInvalid(res: Response, error: string) {
    expect(res.status).toBe(400);
    expect(res.headers.get('x-ratelimit-limit')).toBeNull();
    const body = (await res.json()) as Json;
    expect(body).toEqual({
      metadata: { errors: expect.arrayContaining([error]) },
      request_id: expect.stringMatching(UUID),
      message: 'invalid request body',
      code: 400,
    });
  }

  it('rejects a body that is not JSON', async () => {
    await expectInvalid(await post(gw, '/v1/chat/completions', 'not json'), 'request body must be a JSON object');
  });

  it('requires model', async () => {
    await expectInvalid(await post(gw, '/v1/chat/completions', { messages: USER }), 'model is required');
  });

  it('requires messages or prompt', async () => {
    await expectInvalid(await chat(gw, { messages: undefined }), 'one of messages or prompt required');
  });

  it('requires messages to be an array', async () => {
    await expectInvalid(await chat(gw, { messages: 'hello' }), 'messages must be an array');
  });

  it('requires max_tokens to be an integer in [1, context_length)', async () => {
    for (const max_tokens of [0, 1.5, '10', 200_000]) {
      await expectInvalid(await chat(gw, { max_tokens }), 'max_tokens must be an integer in [1, 200000)');
    }
    expect((await chat(gw, { max_tokens: 199_999 })).status).toBe(200);
  });

  it('answers an unknown model with 400 "not supported" (live), not 404', async () => {
    await expectInvalid(await chat(gw, { model: 'no-such-model' }), 'model no-such-model is not supported');
  });

  it('answers a retired model with a flat 404', async () => {
    const res = await chat(gw, { model: 'claude-3-haiku-20240307' });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-ratelimit-limit')).toBeNull();
    expect(await res.json()).toEqual({
      request_id: expect.stringMatching(UUID),
      message: 'model claude-3-haiku-20240307 has been retired',
      code: 404,
    });
  });

  it('rejects stream on a model without stream support', async () => {
    await expectInvalid(
      await chat(gw, { model: 'gpt-oss-20b', stream: true }),
      'model gpt-oss-20b does not support stream',
    );
    expect((await chat(gw, { model: 'gpt-oss-20b', stream: false })).status).toBe(200);
  });

  it('rejects parameters the model does not support, listing each', async () => {
    const res = await chat(gw, { model: 'qwen3.5-4b-32k-fast', tools: [], tool_choice: 'auto' });
    await expectInvalid(res, 'model qwen3.5-4b-32k-fast does not support tools');
  });
});

describe('rate limits', () => {
  it('counts per model in a fixed window and answers 429 past the limit', async () => {
    await withGateway({ rateLimit: 2, windowSeconds: 60 }, async (limited) => {
      const first = await chat(limited);
      expect(rateLimitHeaders(first)).toEqual({
        limit: '2',
        remaining: '1',
        reset: '60',
        model: 'claude-sonnet-4-6',
        service: 'llmgw',
      });
      expect(rateLimitHeaders(await chat(limited)).remaining).toBe('0');

      const over = await chat(limited);
      expect(over.status).toBe(429);
      expect(rateLimitHeaders(over)).toMatchObject({ limit: '2', remaining: '-1', model: 'claude-sonnet-4-6' });
      const reset = Number(over.headers.get('x-ratelimit-reset'));
      expect(Number.isInteger(reset) && reset > 0 && reset <= 60).toBe(true);
      expect(over.headers.get('retry-after')).toBe(String(reset));
      expect(await over.json()).toEqual({
        request_id: expect.stringMatching(UUID),
        message: 'too many requests for this action',
        code: 429,
      });

      // Another model has its own window; validation errors are not counted.
      expect(rateLimitHeaders(await chat(limited, { model: 'gpt-5' })).remaining).toBe('1');
      expect((await chat(limited, { model: 'nope' })).status).toBe(400);

      limited.resetRateLimits();
      expect(rateLimitHeaders(await chat(limited)).remaining).toBe('1');
    });
  });

  it('opens a new window after windowSeconds', async () => {
    await withGateway({ rateLimit: 1, windowSeconds: 0.2 }, async (limited) => {
      expect((await chat(limited)).status).toBe(200);
      expect((await chat(limited)).status).toBe(429);
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect((await chat(limited)).status).toBe(200);
    });
  });
});

describe('chat completions', () => {
  it('returns the live non-streamed shape', async () => {
    const res = await chat(gw, { max_tokens: 100, temperature: 0.5 });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as Json;
    expect(body).toEqual({
      request: { model: 'claude-sonnet-4-6', max_tokens: 100, temperature: 0.5 },
      request_id: expect.stringMatching(UUID),
      model: 'claude-sonnet-4-6',
      choices: [{ message: { role: 'assistant', content: expect.any(String) }, finish_reason: 'stop' }],
      usage: {
        input_tokens: 6,
        prompt_tokens: 6,
        output_tokens: expect.any(Number),
        completion_tokens: body.usage.output_tokens,
        total_tokens: 6 + body.usage.output_tokens,
        // As live (gateway-api.md §2): the details are there, 0 when nothing was cached or reasoned.
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
      http_status_code: 200,
      response_time: expect.any(Number),
      llm_status_code: 200,
    });
    const content = body.choices[0].message.content as string;
    expect(content.startsWith('Simulated reply to: What is the capital of France?')).toBe(true);
    expect(body.usage.output_tokens).toBe(content.split(/\s+/).length);
  });

  it('is deterministic and accepts prompt and text-part content', async () => {
    const a = (await (await chat(gw, { messages: undefined, prompt: 'hello world' })).json()) as Json;
    const b = (await (
      await chat(gw, { messages: [{ role: 'user', content: [{ type: 'text', text: 'hello world' }] }] })
    ).json()) as Json;
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    expect(a.usage.input_tokens).toBe(2);
    expect(a.request).toEqual({ model: 'claude-sonnet-4-6', max_tokens: 1000 });
  });

  it('cuts the reply at max_tokens with finish_reason "length"', async () => {
    const body = (await (await chat(gw, { max_tokens: 3 })).json()) as Json;
    expect(body.choices[0]).toEqual({
      message: { role: 'assistant', content: 'Simulated reply to:' },
      finish_reason: 'length',
    });
    expect(body.usage.output_tokens).toBe(3);
  });

  it('makes a reply of replyBytes bytes (10 MB JSON)', async () => {
    const res = await chat(gw, { x_sim: { replyBytes: 10_000_000 } });
    const body = (await res.json()) as Json;
    expect(body.choices[0].message.content.length).toBe(10_000_000);
    expect(body.choices[0].finish_reason).toBe('stop');
    expect(body.usage.output_tokens).toBeGreaterThan(1_000_000);
  });
});

describe('streamed chat completions', () => {
  it('streams chat.completion.chunk events with running usage and [DONE]', async () => {
    const res = await chat(gw, { stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('x-ratelimit-service')).toBe('llmgw');
    const { chunks, done } = sseEvents(await res.text());
    expect(done).toBe(true);

    const [first, ...rest] = chunks;
    expect(first.choices[0]).toEqual({
      index: 0,
      delta: { role: 'assistant', content: '' },
      logprobs: null,
      finish_reason: null,
    });
    const id = first.id as string;
    expect(id).toMatch(/^chatcmpl-/);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({
        id,
        object: 'chat.completion.chunk',
        created: first.created,
        model: 'claude-sonnet-4-6',
      });
      expect(chunk).not.toHaveProperty('request_id');
      expect(chunk.usage.prompt_tokens).toBe(6);
    }

    const usageOnly = rest.at(-1)!;
    expect(usageOnly.choices).toEqual([]);
    const content = rest.slice(0, -1);
    expect(content.every((chunk) => chunk.choices[0].delta.content.trim().split(' ').length === 1)).toBe(true);
    expect(content.at(-1)!.choices[0].finish_reason).toBe('stop');
    expect(content.slice(0, -1).every((chunk) => chunk.choices[0].finish_reason === null)).toBe(true);
    expect(content.map((chunk) => chunk.usage.completion_tokens)).toEqual(content.map((_, i) => i + 1));
    expect(usageOnly.usage).toEqual({
      prompt_tokens: 6,
      completion_tokens: content.length,
      total_tokens: 6 + content.length,
    });

    const json = (await (await chat(gw)).json()) as Json;
    expect(contentOf(chunks)).toBe(json.choices[0].message.content);
  });

  it('sends no usage without include_usage, and "length" when cut', async () => {
    const { chunks, done } = sseEvents(await (await chat(gw, { stream: true, max_tokens: 2 })).text());
    expect(done).toBe(true);
    expect(chunks.some((chunk) => 'usage' in chunk)).toBe(false);
    expect(chunks).toHaveLength(3);
    expect(chunks[2].choices[0].finish_reason).toBe('length');
  });

  it('puts the same request_id on every chunk with streamRequestId', async () => {
    for (const [body, headers] of [
      [{ x_sim: { streamRequestId: true } }, {}],
      [{}, { 'x-sim-stream-request-id': 'true' }],
    ] as const) {
      const { chunks } = sseEvents(await (await chat(gw, { stream: true, ...body }, headers)).text());
      const ids = new Set(chunks.map((chunk) => chunk.request_id));
      expect(ids.size).toBe(1);
      expect([...ids][0]).toMatch(UUID);
    }
  });

  it('streams replyBytes as ~1 KB chunks (1 MB)', async () => {
    const { chunks, done } = sseEvents(
      await (await chat(gw, { stream: true }, { 'x-sim-reply-bytes': '1000000' })).text(),
    );
    expect(done).toBe(true);
    expect(contentOf(chunks)).toHaveLength(1_000_000);
    // ~1 KB per chunk: 1 MB is some hundreds of events, not one per word
    expect(chunks.length).toBeGreaterThan(800);
    expect(chunks.length).toBeLessThan(1100);
  });

  it('writes each event separately and waits chunkDelayMs between them', async () => {
    await withGateway({ chunkDelayMs: 10 }, async (slow) => {
      const started = Date.now();
      const res = await chat(slow, { stream: true, max_tokens: 10 });
      const reader = res.body!.getReader();
      let reads = 0;
      while (!(await reader.read()).done) reads++;
      // role chunk + 10 words + [DONE] = 12 events, 11 gaps
      expect(reads).toBeGreaterThanOrEqual(6); // one read per event unless the reader falls behind
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    });
  });
});

describe('speech understanding', () => {
  const request = {
    speech_understanding: { request: { translation: { target_languages: ['de'] } } },
    transcript_id: 't-1',
  };

  it('answers /v1/understanding with its own rate-limit service', async () => {
    const res = await post(gw, '/v1/understanding', request);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-service')).toBe('speech-understanding');
    expect(res.headers.get('x-ratelimit-limit')).toBe('10000');
    expect(await res.json()).toEqual({
      request_id: expect.stringMatching(UUID),
      transcript_id: 't-1',
      response: { translation: { status: 'success' } },
    });
  });

  it('answers /v1/understanding/validate with 200 and an empty body', async () => {
    const res = await post(gw, '/v1/understanding/validate', request);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('authenticates and validates', async () => {
    expect((await fetch(`${gw.url}/v1/understanding`, { method: 'POST', body: '{}' })).status).toBe(401);
    expect((await post(gw, '/v1/understanding', {})).status).toBe(400);
  });
});

describe('unknown paths', () => {
  it('answers 404 with the seed envelope', async () => {
    const res = await fetch(`${gw.url}/v1/completions`, { method: 'POST' });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        code: 'not_found',
        message: 'no route for POST /v1/completions',
        request_id: expect.stringMatching(SEED_ID),
      },
    });
  });
});

describe('scenarios: forced status and envelopes', () => {
  it('forces every listed status with the seed envelope and the code table', async () => {
    for (const status of [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 502, 503, 504]) {
      const res = await chat(gw, {}, { 'x-sim-status': String(status) });
      expect(res.status).toBe(status);
      const { error } = (await res.json()) as Json;
      expect(error.code).toBe(ERROR_CODES[status]);
      expect(error.message).toEqual(expect.any(String));
      expect(error.request_id).toMatch(SEED_ID);
      if (status === 400 || status === 422) expect(error.param).toEqual(expect.any(String));
      else expect(error).not.toHaveProperty('param');
    }
    const teapot = (await (await chat(gw, {}, { 'x-sim-status': '418' })).json()) as Json;
    expect(teapot.error.code).toBe('http_418');
  });

  it('skips validation and the rate limit for a forced status', async () => {
    await withGateway({ rateLimit: 1 }, async (limited) => {
      const res = await post(limited, '/v1/chat/completions', 'not json', { 'x-sim-status': '500' });
      expect(res.status).toBe(500);
      expect((await chat(limited, {}, { 'x-sim-status': '503' })).status).toBe(503);
      expect(rateLimitHeaders(await chat(limited)).remaining).toBe('0');
    });
  });

  it('sends rate-limit headers and Retry-After on a forced 429', async () => {
    // A model with no window yet: the reset is a whole window.
    const res = await chat(gw, { model: 'gemini-2.5-flash' }, { 'x-sim-status': '429' });
    expect(rateLimitHeaders(res)).toMatchObject({ remaining: '0', model: 'gemini-2.5-flash', service: 'llmgw' });
    expect(res.headers.get('retry-after')).toBe('60');
    expect(res.headers.get('x-ratelimit-reset')).toBe('60');
  });

  it('renders the flat, auth and documented envelopes', async () => {
    const flat = await chat(gw, {}, { 'x-sim-status': '503', 'x-sim-envelope': 'flat' });
    expect(await flat.json()).toEqual({
      metadata: { errors: [expect.any(String)] },
      request_id: expect.stringMatching(UUID),
      message: expect.any(String),
      code: 503,
    });
    const auth = await chat(gw, {}, { 'x-sim-status': '403', 'x-sim-envelope': 'auth' });
    expect(await auth.json()).toEqual({
      error: expect.any(String),
      status: 'error',
      request_id: expect.stringMatching(UUID),
    });
    const documented = await chat(gw, {}, { 'x-sim-status': '500', 'x-sim-envelope': 'documented' });
    expect(await documented.json()).toEqual({ error: { code: 500, message: expect.any(String), metadata: {} } });
  });

  it('renders the html and empty envelopes', async () => {
    const html = await chat(gw, {}, { 'x-sim-status': '504', 'x-sim-envelope': 'html' });
    expect(html.headers.get('content-type')).toBe('text/html');
    const page = await html.text();
    expect(page).toContain('<title>504 Gateway Timeout</title>');
    expect(page).not.toContain('request_id');
    const empty = await chat(gw, {}, { 'x-sim-status': '502', 'x-sim-envelope': 'empty' });
    expect(empty.status).toBe(502);
    expect(await empty.text()).toBe('');
  });

  it('applies an envelope override to natural errors too', async () => {
    const res = await chat(gw, { model: 'nope' }, { 'x-sim-envelope': 'seed' });
    expect(await res.json()).toEqual({
      error: {
        code: 'invalid_request',
        message: 'model nope is not supported',
        param: 'model',
        request_id: expect.stringMatching(SEED_ID),
      },
    });
  });

  it('takes the scenario from the x_sim body field', async () => {
    const res = await chat(gw, { x_sim: { status: 503, envelope: 'flat', mode: ['request-id-header'] } });
    expect(res.status).toBe(503);
    const body = (await res.json()) as Json;
    expect(body.code).toBe(503);
    expect(res.headers.get('x-request-id')).toBe(body.request_id);
  });

  it('answers a malformed scenario with a 400', async () => {
    for (const [header, value] of [
      ['x-sim-status', '200'],
      ['x-sim-mode', 'explode'],
      ['x-sim-envelope', 'xml'],
      ['x-sim-reply-bytes', '-1'],
    ]) {
      expect((await chat(gw, {}, { [header]: value })).status).toBe(400);
    }
  });

  it('forces statuses on /v1/models and /v1/understanding too', async () => {
    expect((await fetch(`${gw.url}/v1/models`, { headers: { 'x-sim-status': '500' } })).status).toBe(500);
    const res = await post(gw, '/v1/understanding', {}, { 'x-sim-status': '429' });
    expect(res.status).toBe(429);
    expect(res.headers.get('x-ratelimit-service')).toBe('speech-understanding');
  });
});

describe('scenarios: modes', () => {
  it('json-instead-of-stream answers a stream request with JSON', async () => {
    const res = await chat(gw, { stream: true }, { 'x-sim-mode': 'json-instead-of-stream' });
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(((await res.json()) as Json).choices[0].finish_reason).toBe('stop');
  });

  it('gzip compresses JSON bodies and streams', async () => {
    const plain = (await (await chat(gw)).json()) as Json;
    const res = await chat(gw, { x_sim: { mode: 'gzip' } });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(((await res.json()) as Json).choices).toEqual(plain.choices);

    const stream = await chat(gw, { stream: true }, { 'x-sim-mode': 'gzip' });
    expect(stream.headers.get('content-encoding')).toBe('gzip');
    const { chunks, done } = sseEvents(await stream.text());
    expect(done).toBe(true);
    expect(contentOf(chunks)).toBe(plain.choices[0].message.content);

    const error = await chat(gw, {}, { 'x-sim-mode': 'gzip', 'x-sim-status': '500' });
    expect(((await error.json()) as Json).error.code).toBe('internal_error');
  });

  it('truncate ends the stream cleanly mid-event without [DONE]', async () => {
    const text = await (await chat(gw, { stream: true }, { 'x-sim-mode': 'truncate' })).text();
    expect(text).not.toContain('[DONE]');
    const events = text.split('\n\n');
    expect(events.length).toBe(4);
    expect(() => JSON.parse(events.at(-1)!.slice('data: '.length))).toThrow();

    const short = await (await chat(gw, { stream: true, max_tokens: 1 }, { 'x-sim-mode': 'truncate' })).text();
    expect(short).not.toContain('[DONE]');
  });

  it('reset destroys the connection after part of the body', async () => {
    for (const body of [{ stream: true }, {}]) {
      const res = await chat(gw, body, { 'x-sim-mode': 'reset' });
      expect(res.status).toBe(200);
      await expect(res.text()).rejects.toThrow();
    }
  });

  it('stall sends the first chunk and then nothing, until the client aborts', async () => {
    const aborter = new AbortController();
    const res = await chat(gw, { stream: true }, { 'x-sim-mode': 'stall' }, aborter.signal);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('"role":"assistant"');
    const next = reader.read();
    const winner = await Promise.race([next.then(() => 'data'), sleep(100).then(() => 'stalled')]);
    expect(winner).toBe('stalled');
    aborter.abort();
    await expect(next).rejects.toThrow();
  });

  it('slow waits 20 ms between events', async () => {
    const started = Date.now();
    await (await chat(gw, { stream: true, max_tokens: 5 }, { 'x-sim-mode': 'slow' })).text();
    expect(Date.now() - started).toBeGreaterThanOrEqual(6 * 20 - 5);
  });

  it('request-id-header adds x-request-id matching the body', async () => {
    const res = await chat(gw, {}, { 'x-sim-mode': 'request-id-header' });
    expect(res.headers.get('x-request-id')).toBe(((await res.json()) as Json).request_id);
    const seed = await chat(gw, {}, { 'x-sim-mode': 'request-id-header', 'x-sim-status': '502' });
    expect(seed.headers.get('x-request-id')).toBe(((await seed.json()) as Json).error.request_id);
  });

  it('combines modes from a comma-separated header', async () => {
    const res = await chat(gw, { stream: true }, { 'x-sim-mode': 'json-instead-of-stream, gzip' });
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('content-encoding')).toBe('gzip');
  });
});

describe('server lifecycle', () => {
  it('binds loopback by default and refuses other hosts unless allowed', async () => {
    expect(gw.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(gw.host).toBe('127.0.0.1');
    await expect(startSimulatedGateway({ host: '0.0.0.0' })).rejects.toThrow(/non-loopback/);
  });

  it('counts requests served', async () => {
    await withGateway({}, async (counted) => {
      await fetch(`${counted.url}/v1/models`);
      await chat(counted);
      expect(counted.requests).toBe(2);
    });
  });

  it('close() ends stalled streams and latency waits at once', async () => {
    const gateway = await startSimulatedGateway({ latencyMs: 10_000 });
    const stalled = await startSimulatedGateway();
    const res = await chat(stalled, { stream: true }, { 'x-sim-mode': 'stall' });
    const reader = res.body!.getReader();
    await reader.read();
    const waiting = chat(gateway).catch((error: unknown) => error);
    await sleep(50);

    const started = Date.now();
    await Promise.all([gateway.close(), stalled.close()]);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(reader.read()).rejects.toThrow();
    expect(await waiting).toBeInstanceOf(Error);
  });

  it('waits latencyMs before the response head', async () => {
    await withGateway({ latencyMs: 100 }, async (slow) => {
      const started = Date.now();
      await fetch(`${slow.url}/v1/models`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    });
  });
});

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('usage details: prompt caching and reasoning (gateway-api.md §10 G1-G3)', () => {
  const longSystem = (words: number) => Array.from({ length: words }, (_, i) => `rule${i}`).join(' ');

  it('reports cached tokens on the second identical call when a message carries cache_control (Claude)', async () => {
    gw.resetPromptCache();
    const messages = [
      { role: 'system', content: [{ type: 'text', text: longSystem(300), cache_control: { type: 'ephemeral' } }] },
      { role: 'user', content: 'First question?' },
    ];
    const first = (await (await chat(gw, { messages })).json()) as Json;
    expect(first.usage.prompt_tokens_details).toEqual({ cached_tokens: 0, cache_write_tokens: 300 });
    const second = (await (
      await chat(gw, { messages: [messages[0], { role: 'user', content: 'Another question?' }] })
    ).json()) as Json;
    expect(second.usage.prompt_tokens_details).toEqual({ cached_tokens: 300 });
    expect(second.usage.input_tokens).toBe(302);
    // Another model has its own cache.
    const other = (await (await chat(gw, { model: 'claude-opus-4-6', messages })).json()) as Json;
    expect(other.usage.prompt_tokens_details.cached_tokens).toBe(0);
  });

  it('does not cache a Claude prompt without cache_control, and honours a ttl', async () => {
    gw.resetPromptCache();
    const plain = [
      { role: 'system', content: longSystem(2000) },
      { role: 'user', content: 'q' },
    ];
    await chat(gw, { messages: plain });
    expect(
      ((await (await chat(gw, { messages: plain })).json()) as Json).usage.prompt_tokens_details.cached_tokens,
    ).toBe(0);
    const expiring = [
      { role: 'system', content: 'short rules', cache_control: { type: 'ephemeral', ttl: '1s' } },
      { role: 'user', content: 'q' },
    ];
    await chat(gw, { messages: expiring });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(((await (await chat(gw, { messages: expiring })).json()) as Json).usage.prompt_tokens_details).toEqual({
      cached_tokens: 0,
      cache_write_tokens: 2,
    });
  });

  it('caches a long prefix automatically for OpenAI models (1024 tokens and more), without cache_write', async () => {
    gw.resetPromptCache();
    const messages = [
      { role: 'system', content: longSystem(1100) },
      { role: 'user', content: 'q' },
    ];
    const first = (await (await chat(gw, { model: 'gpt-5', messages })).json()) as Json;
    expect(first.usage.prompt_tokens_details).toEqual({ cached_tokens: 0 });
    const second = (await (await chat(gw, { model: 'gpt-5', messages })).json()) as Json;
    expect(second.usage.prompt_tokens_details).toEqual({ cached_tokens: 1100 });
    const short = [
      { role: 'system', content: longSystem(100) },
      { role: 'user', content: 'q' },
    ];
    await chat(gw, { model: 'gpt-5', messages: short });
    expect(
      ((await (await chat(gw, { model: 'gpt-5', messages: short })).json()) as Json).usage.prompt_tokens_details
        .cached_tokens,
    ).toBe(0);
  });

  it('takes cached and reasoning tokens from the scenario, bounded by the input', async () => {
    const body = (await (await chat(gw, { x_sim: { cachedTokens: 4, reasoningTokens: 50 } })).json()) as Json;
    expect(body.usage.prompt_tokens_details).toEqual({ cached_tokens: 4 });
    expect(body.usage.completion_tokens_details).toEqual({ reasoning_tokens: 50 });
    const visible = body.choices[0].message.content.split(/\s+/).length;
    expect(body.usage.output_tokens).toBe(visible + 50);
    const capped = (await (await chat(gw, {}, { 'x-sim-cached-tokens': '999' })).json()) as Json;
    expect(capped.usage.prompt_tokens_details.cached_tokens).toBe(6);
  });

  it('spends reasoning tokens for reasoning_effort (or reasoning.effort), and rejects unknown efforts', async () => {
    const high = (await (await chat(gw, { model: 'gpt-5', reasoning_effort: 'high' })).json()) as Json;
    expect(high.usage.completion_tokens_details.reasoning_tokens).toBe(2048);
    const low = (await (await chat(gw, { model: 'gpt-5', reasoning: { effort: 'low' } })).json()) as Json;
    expect(low.usage.completion_tokens_details.reasoning_tokens).toBe(128);
    const bad = await chat(gw, { reasoning_effort: 'extreme' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).metadata.errors[0]).toMatch(/reasoning_effort must be one of/);
  });

  it('uses the Anthropic names on request', async () => {
    const body = (await (await chat(gw, { x_sim: { cachedTokens: 3, usageNames: 'anthropic' } })).json()) as Json;
    expect(body.usage.cache_read_input_tokens).toBe(3);
    expect(body.usage.cache_creation_input_tokens).toBe(0);
    expect(body.usage).not.toHaveProperty('prompt_tokens_details');
  });

  it('puts the details on the last usage of a stream only when there are any', async () => {
    const { chunks } = sseEvents(
      await (
        await chat(gw, {
          stream: true,
          stream_options: { include_usage: true },
          x_sim: { cachedTokens: 2, reasoningTokens: 7 },
        })
      ).text(),
    );
    const last = chunks.at(-1)!;
    expect(last.usage.prompt_tokens_details).toEqual({ cached_tokens: 2 });
    expect(last.usage.completion_tokens_details).toEqual({ reasoning_tokens: 7 });
    expect(chunks.slice(0, -1).every((c) => !('prompt_tokens_details' in c.usage))).toBe(true);
  });
});

describe('fallbacks (gateway-api.md §10 G4)', () => {
  const fallbacks = [{ model: 'gpt-5' }, { model: 'gemini-2.5-flash', max_tokens: 3 }];

  it('serves from the first fallback whose provider works: the response model shows it', async () => {
    const res = await chat(gw, { fallbacks, x_sim: { failModels: ['claude-sonnet-4-6'] } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.model).toBe('gpt-5');
    expect(body.request.model).toBe('gpt-5');
    expect(body.llm_status_code).toBe(200);
  });

  it('applies the serving fallback overrides, and skips failing fallbacks', async () => {
    const body = (await (
      await chat(gw, { fallbacks }, { 'x-sim-fail-models': 'claude-sonnet-4-6,gpt-5' })
    ).json()) as Json;
    expect(body.model).toBe('gemini-2.5-flash');
    expect(body.choices[0].finish_reason).toBe('length');
    expect(body.usage.output_tokens).toBe(3);
  });

  it('serves the requested model when it works, fallbacks or not', async () => {
    expect(((await (await chat(gw, { fallbacks })).json()) as Json).model).toBe('claude-sonnet-4-6');
  });

  it('returns the primary error (503, with the provider status) when no model works', async () => {
    const res = await chat(gw, { fallbacks: [{ model: 'gpt-5' }], x_sim: { failModels: 'claude-sonnet-4-6,gpt-5' } });
    expect(res.status).toBe(503);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({
      code: 503,
      message: 'upstream model provider unavailable',
      llm_status_code: 529,
      http_status_code: 503,
    });
    expect(body.request_id).toMatch(UUID);
    expect(body.response_time).toEqual(expect.any(Number));
    const noFallbacks = await chat(gw, { model: 'gpt-5', x_sim: { failModels: ['gpt-5'] } });
    expect(((await noFallbacks.json()) as Json).llm_status_code).toBe(503);
  });

  it('streams from the fallback model', async () => {
    const { chunks, done } = sseEvents(
      await (await chat(gw, { stream: true, fallbacks, x_sim: { failModels: ['claude-sonnet-4-6'] } })).text(),
    );
    expect(done).toBe(true);
    expect(new Set(chunks.map((c) => c.model))).toEqual(new Set(['gpt-5']));
  });

  it('does not rescue validation errors, and rejects unknown fallback models', async () => {
    expect((await chat(gw, { max_tokens: 0, fallbacks })).status).toBe(400);
    const res = await chat(gw, { fallbacks: [{ model: 'no-such-model' }] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).metadata.errors).toEqual(['fallback model no-such-model is not supported']);
  });
});

describe('gateway envelope, request parameters', () => {
  it('puts http_status_code, response_time (ns) and llm_status_code on every JSON completion', async () => {
    const body = (await (await chat(gw, { model: 'gpt-5' })).json()) as Json;
    expect(body).toMatchObject({ http_status_code: 200, llm_status_code: 200 });
    expect(Number.isInteger(body.response_time) && body.response_time > 0).toBe(true);
  });

  it('puts the envelope on the last chunk of a stream with streamEnvelope', async () => {
    const withUsage = sseEvents(
      await (
        await chat(gw, { stream: true, stream_options: { include_usage: true }, x_sim: { streamEnvelope: true } })
      ).text(),
    ).chunks;
    expect(withUsage.at(-1)).toMatchObject({ choices: [], llm_status_code: 200, response_time: expect.any(Number) });
    expect(withUsage.slice(0, -1).some((c) => 'llm_status_code' in c)).toBe(false);
    const without = sseEvents(await (await chat(gw, { stream: true, x_sim: { streamEnvelope: true } })).text()).chunks;
    expect(without.at(-1)).toMatchObject({ llm_status_code: 200 });
    expect(without.at(-1)!.choices[0].finish_reason).toBe('stop');
  });

  it('accepts model_region "global" only, as live', async () => {
    expect((await chat(gw, { model_region: 'global' })).status).toBe(200);
    const res = await chat(gw, { model_region: 'us' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).metadata.errors).toEqual(['model_region can only be set to global']);
  });

  it('substitutes {{ transcript }} for a transcript_id, and answers an unknown one with 404', async () => {
    const body = (await (
      await chat(gw, { transcript_id: 'tr_1', messages: [{ role: 'user', content: 'Summarize: {{ transcript }}' }] })
    ).json()) as Json;
    expect(body.usage.input_tokens).toBeGreaterThan(10);
    const missing = await chat(gw, { transcript_id: 'missing-1' });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as Json).message).toBe('transcript not found');
  });

  it('accepts max_completion_tokens when max_tokens is absent', async () => {
    const body = (await (await chat(gw, { max_completion_tokens: 2 })).json()) as Json;
    expect(body.choices[0].finish_reason).toBe('length');
    expect(body.request.max_tokens).toBe(2);
  });

  it('returns n choices, each with its index, and streams them interleaved', async () => {
    const body = (await (await chat(gw, { model: 'gpt-5', n: 2, max_tokens: 4 })).json()) as Json;
    expect(body.choices.map((c: Json) => [c.index, c.finish_reason])).toEqual([
      [0, 'length'],
      [1, 'length'],
    ]);
    expect(body.usage.output_tokens).toBe(8);
    const { chunks } = sseEvents(await (await chat(gw, { model: 'gpt-5', n: 2, max_tokens: 4, stream: true })).text());
    const finishes = chunks.flatMap((c) =>
      c.choices.filter((ch: Json) => ch.finish_reason).map((ch: Json) => ch.index),
    );
    expect(finishes).toEqual([0, 1]);
    expect((await chat(gw, { n: 20 })).status).toBe(400);
  });
});

describe('tool calls and structured output', () => {
  const tools = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1 }, unit: { enum: ['c', 'f'] } },
          required: ['city'],
        },
      },
    },
    {
      type: 'function',
      function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } },
    },
  ];

  it('answers with a call of the first tool on the toolCall knob: finish_reason tool_calls, message.tool_calls', async () => {
    const body = (await (await chat(gw, { model: 'gpt-5', tools, x_sim: { toolCall: true } })).json()) as Json;
    const choice = body.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toEqual([
      {
        id: expect.stringMatching(/^call_/),
        type: 'function',
        function: { name: 'get_weather', arguments: expect.any(String) },
      },
    ]);
    expect(JSON.parse(choice.message.tool_calls[0].function.arguments)).toEqual({
      city: 'What is the capital of France?',
      days: 1,
      unit: 'c',
    });
  });

  it('calls the tool tool_choice names without a knob, and puts tool_calls on the choice on request', async () => {
    const body = (await (
      await chat(gw, {
        model: 'gpt-5',
        tools,
        tool_choice: { type: 'function', function: { name: 'get_time' } },
        x_sim: { toolCallsAt: 'choice' },
      })
    ).json()) as Json;
    expect(body.choices[0].tool_calls[0].function.name).toBe('get_time');
    expect(body.choices[0].message).not.toHaveProperty('tool_calls');
  });

  it('answers a tool result in text, and never calls with tool_choice none', async () => {
    const messages = [
      ...USER,
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature_c":21}' },
    ];
    const answered = (await (
      await chat(gw, { model: 'gpt-5', tools, messages, x_sim: { toolCall: true } })
    ).json()) as Json;
    expect(answered.choices[0].finish_reason).toBe('stop');
    const none = (await (
      await chat(gw, { model: 'gpt-5', tools, tool_choice: 'none', x_sim: { toolCall: true } })
    ).json()) as Json;
    expect(none.choices[0].finish_reason).toBe('stop');
  });

  it('streams a tool call as delta.tool_calls: id and name first, arguments split across chunks', async () => {
    const { chunks, done } = sseEvents(
      await (
        await chat(gw, {
          model: 'gpt-5',
          tools,
          stream: true,
          stream_options: { include_usage: true },
          x_sim: { toolCall: true },
        })
      ).text(),
    );
    expect(done).toBe(true);
    const deltas = chunks.flatMap((c) => c.choices.flatMap((ch: Json) => ch.delta?.tool_calls ?? []));
    expect(deltas[0]).toEqual({
      index: 0,
      id: expect.stringMatching(/^call_/),
      type: 'function',
      function: { name: 'get_weather', arguments: '' },
    });
    expect(deltas.length).toBeGreaterThan(3);
    const streamed = deltas.map((d: Json) => d.function.arguments).join('');
    const whole = (await (await chat(gw, { model: 'gpt-5', tools, x_sim: { toolCall: true } })).json()) as Json;
    expect(streamed).toBe(whole.choices[0].message.tool_calls[0].function.arguments);
    expect(chunks.at(-2)!.choices[0].finish_reason).toBe('tool_calls');
  });

  it('rejects malformed tools and a tool_choice naming no tool', async () => {
    expect((await chat(gw, { model: 'gpt-5', tools: [{ type: 'function' }] })).status).toBe(400);
    expect(
      (await chat(gw, { model: 'gpt-5', tools, tool_choice: { type: 'function', function: { name: 'nope' } } })).status,
    ).toBe(400);
  });

  it('answers response_format json_schema with JSON content that fits the schema, also streamed', async () => {
    const response_format = {
      type: 'json_schema',
      json_schema: {
        name: 'answer',
        schema: {
          type: 'object',
          properties: {
            answer: { type: 'string' },
            confidence: { type: 'number' },
            sources: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    };
    const body = (await (await chat(gw, { model: 'gpt-5', response_format })).json()) as Json;
    expect(JSON.parse(body.choices[0].message.content)).toEqual({
      answer: 'What is the capital of France?',
      confidence: 1.5,
      sources: ['What is the capital of France?'],
    });
    const { chunks } = sseEvents(await (await chat(gw, { model: 'gpt-5', response_format, stream: true })).text());
    expect(JSON.parse(contentOf(chunks))).toEqual(JSON.parse(body.choices[0].message.content));
    const object = (await (
      await chat(gw, { model: 'gpt-5', response_format: { type: 'json_object' } })
    ).json()) as Json;
    expect(JSON.parse(object.choices[0].message.content)).toEqual({ reply: 'What is the capital of France?' });
    expect((await chat(gw, { model: 'gpt-5', response_format: { type: 'yaml' } })).status).toBe(400);
  });
});
