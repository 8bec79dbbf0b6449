import { describe, expect, it } from 'vitest';
import { MAX_SSE_LINE_BYTES } from '../../src/parse/limits';
import { SseEventParser, SseObserver } from '../../src/parse/sse';
import type { ResponseInfo } from '../../src/parse/types';

const enc = new TextEncoder();

function run(body: string | Uint8Array, chunkSize = Infinity): { info: ResponseInfo; obs: SseEventParser } {
  const bytes = typeof body === 'string' ? enc.encode(body) : body;
  const obs = new SseEventParser();
  if (chunkSize === Infinity) obs.write(bytes);
  else for (let i = 0; i < bytes.byteLength; i += chunkSize) obs.write(bytes.subarray(i, i + chunkSize));
  return { info: obs.finish(), obs };
}

function chunk(
  delta: Record<string, unknown>,
  finish: string | null,
  completion: number,
  extra: Record<string, unknown> = {},
) {
  return {
    id: 'chatcmpl-7f3a',
    object: 'chat.completion.chunk',
    created: 1790211793,
    model: 'qwen3.5-4b-32k',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    usage: { prompt_tokens: 24, completion_tokens: completion, total_tokens: 24 + completion },
    ...extra,
  };
}

/** The stream observed live (gateway-api.md §3): running usage on every chunk, then a usage-only chunk, then [DONE]. */
function liveEvents(): unknown[] {
  return [
    chunk({ role: 'assistant', content: '' }, null, 0),
    chunk({ content: 'The' }, null, 1),
    chunk({ content: ' capital' }, null, 2),
    chunk({ content: ' of France is Paris.' }, 'stop', 8),
    {
      id: 'chatcmpl-7f3a',
      object: 'chat.completion.chunk',
      created: 1790211793,
      model: 'qwen3.5-4b-32k',
      choices: [],
      usage: { prompt_tokens: 24, completion_tokens: 8, total_tokens: 32 },
      system_fingerprint: 'vllm-0.11',
    },
  ];
}

function sse(events: unknown[], eol = '\n', done = true): string {
  let out = '';
  for (const e of events) out += `data: ${typeof e === 'string' ? e : JSON.stringify(e)}${eol}${eol}`;
  if (done) out += `data: [DONE]${eol}${eol}`;
  return out;
}

const LIVE_RESULT: ResponseInfo = {
  responseId: 'chatcmpl-7f3a',
  responseModel: 'qwen3.5-4b-32k',
  finishReasons: ['stop'],
  inputTokens: 24,
  outputTokens: 8,
};

describe('SseEventParser on the live stream shape', () => {
  it('reads response id, model, finish reason and the last usage, and sees [DONE]', () => {
    const { info, obs } = run(sse(liveEvents()));
    expect(info).toEqual(LIVE_RESULT);
    expect(obs.done).toBe(true);
    expect(obs.events).toBe(6);
  });

  it('takes tokens from the last usage, never summing the running usage of every chunk', () => {
    const events = liveEvents();
    const { info } = run(sse(events));
    expect(info.outputTokens).toBe(8);
    expect(info.inputTokens).toBe(24);
    expect(info.inputTokens).not.toBe(24 * events.length);
  });

  it('does not let a later usage:null erase the last usage object', () => {
    const events = [...liveEvents(), { id: 'chatcmpl-7f3a', choices: [], usage: null }];
    expect(run(sse(events)).info).toMatchObject({ inputTokens: 24, outputTokens: 8 });
  });

  it('reads OpenAI-style streams where usage is null until the final chunk', () => {
    const events = liveEvents().map((e: any) => (e.choices.length > 0 ? { ...e, usage: null } : e));
    expect(run(sse(events)).info).toEqual(LIVE_RESULT);
  });

  it('reads input_tokens/output_tokens when the chunk uses the Anthropic names', () => {
    const events = [
      chunk({ content: 'x' }, 'stop', 1, { usage: { input_tokens: 3, output_tokens: 4, prompt_tokens: 99 } }),
    ];
    expect(run(sse(events)).info).toMatchObject({ inputTokens: 3, outputTokens: 4 });
  });

  it('reports done false when the stream has no [DONE]', () => {
    const { info, obs } = run(sse(liveEvents(), '\n', false));
    expect(info).toEqual(LIVE_RESULT);
    expect(obs.done).toBe(false);
  });

  it('lists finish reasons of several choices by index', () => {
    const events = [
      {
        id: 'c',
        model: 'm',
        choices: [
          { index: 1, delta: { content: 'b' }, finish_reason: null },
          { index: 0, delta: { content: 'a' }, finish_reason: null },
        ],
      },
      { id: 'c', model: 'm', choices: [{ index: 1, delta: {}, finish_reason: 'length' }] },
      { id: 'c', model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    ];
    expect(run(sse(events)).info.finishReasons).toEqual(['stop', 'length']);
  });

  it('gives the same result for every chunk size', () => {
    const text = sse(liveEvents());
    const whole = run(text).info;
    for (const size of [1, 2, 3, 5, 17, 100]) expect(run(text, size).info).toEqual(whole);
  });
});

describe('SseEventParser framing', () => {
  it('accepts CRLF line endings', () => {
    const { info, obs } = run(sse(liveEvents(), '\r\n'));
    expect(info).toEqual(LIVE_RESULT);
    expect(obs.done).toBe(true);
  });

  it('accepts CR line endings', () => {
    const { info, obs } = run(sse(liveEvents(), '\r'));
    expect(info).toEqual(LIVE_RESULT);
    expect(obs.done).toBe(true);
  });

  it('accepts CRLF split between two chunks', () => {
    const text = sse(liveEvents(), '\r\n');
    const bytes = enc.encode(text);
    const obs = new SseEventParser();
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 13) {
        obs.write(bytes.subarray(start, i + 1));
        start = i + 1;
      }
    }
    obs.write(bytes.subarray(start));
    expect(obs.finish()).toEqual(LIVE_RESULT);
    expect(obs.done).toBe(true);
    expect(obs.events).toBe(6);
  });

  it('ignores comment lines', () => {
    const events = liveEvents();
    const text =
      `: keep-alive\n\n${sse(events.slice(0, 2))}`.replace('data: [DONE]', ': ping\ndata: [DONE]') +
      `:\n\n${sse(events.slice(2))}`;
    const { info } = run(text);
    expect(info).toEqual(LIVE_RESULT);
  });

  it('ignores event:, id: and retry: fields', () => {
    const text = sse(liveEvents()).replaceAll('data: {', 'event: message\nid: 42\nretry: 1000\ndata: {');
    expect(run(text).info).toEqual(LIVE_RESULT);
  });

  it('joins multi-line data: fields with LF before parsing', () => {
    const text =
      liveEvents()
        .map(
          (e) =>
            JSON.stringify(e, null, 2)
              .split('\n')
              .map((l) => `data: ${l}`)
              .join('\n') + '\n\n',
        )
        .join('') + 'data: [DONE]\n\n';
    const { info, obs } = run(text);
    expect(info).toEqual(LIVE_RESULT);
    expect(obs.done).toBe(true);
  });

  it('accepts data: without the space after the colon', () => {
    expect(run(sse(liveEvents()).replaceAll('data: ', 'data:')).info).toEqual(LIVE_RESULT);
  });

  it('discards an event not closed by a blank line at end of stream', () => {
    const events = liveEvents();
    const text = sse(events.slice(0, 4), '\n', false) + `data: ${JSON.stringify(events[4])}\n`;
    const { info, obs } = run(text);
    // The final usage-only chunk was not dispatched: tokens come from the last dispatched usage.
    expect(info.outputTokens).toBe(8);
    expect(obs.events).toBe(4);
    const noDone = run(sse(liveEvents(), '\n', false) + 'data: [DONE]');
    expect(noDone.obs.done).toBe(false);
    const single = run(`data: ${JSON.stringify(chunk({ content: 'x' }, 'stop', 1))}\n`);
    expect(single.info).toEqual({});
    expect(single.obs.events).toBe(0);
  });

  it('does not dispatch an event whose data is empty, and still reads the first real chunk', () => {
    const text =
      'data:\n\n' +
      sse([chunk({ role: 'assistant', content: '' }, null, 0), chunk({ content: 'hi' }, null, 1)], '\n', false);
    const { info, obs } = run(text);
    expect(obs.events).toBe(2);
    expect(info.responseId).toBe('chatcmpl-7f3a');
    expect(info.responseModel).toBe('qwen3.5-4b-32k');
  });

  it('still reads the first JSON chunk when a non-JSON event came before it', () => {
    const text =
      'data: keep-alive\n\n' +
      sse([chunk({ role: 'assistant', content: '' }, null, 0), chunk({ content: 'hi' }, null, 1)], '\n', false);
    expect(run(text).info.responseId).toBe('chatcmpl-7f3a');
  });

  it('keeps what was complete in a stream cut mid-JSON, without throwing', () => {
    const text = sse(liveEvents(), '\n', false);
    const cutAt = text.indexOf('"choices":[]');
    const { info, obs } = run(text.slice(0, cutAt));
    expect(obs.done).toBe(false);
    expect(info).toEqual(LIVE_RESULT);
    const early = run(text.slice(0, text.indexOf('The') + 2));
    expect(early.info).toMatchObject({
      responseId: 'chatcmpl-7f3a',
      responseModel: 'qwen3.5-4b-32k',
      inputTokens: 24,
      outputTokens: 0,
    });
    expect(early.info.finishReasons).toBeUndefined();
  });

  it('skips an event whose JSON is malformed and keeps going', () => {
    const events = liveEvents();
    const text = sse([events[0], '{"id":"broken","choices":[{"finish_reason":"stop"', ...events.slice(1)]);
    expect(run(text).info).toEqual(LIVE_RESULT);
  });
});

describe('SseEventParser bounds', () => {
  it('drops an oversized line without growing memory, and reads the events after it', () => {
    const obs = new SseEventParser();
    const events = liveEvents();
    obs.write(enc.encode(`data: ${JSON.stringify(events[0])}\n\ndata: {"id":"huge","model":"huge","content":"`));
    const piece = enc.encode('x'.repeat(64 * 1024));
    let peak = 0;
    for (let i = 0; i < 32; i++) {
      obs.write(piece);
      peak = Math.max(peak, (obs as any).pendingLine.length, ((obs as any).data ?? '').length);
    }
    obs.write(enc.encode(`","choices":[{"finish_reason":"huge"}]}\n\n`));
    obs.write(enc.encode(sse(events.slice(1))));
    expect(peak).toBeLessThanOrEqual(MAX_SSE_LINE_BYTES);
    const info = obs.finish();
    expect(info).toEqual(LIVE_RESULT);
    expect(obs.events).toBe(6);
  });

  it('drops an oversized line that arrives in a single chunk', () => {
    const huge = `data: {"id":"huge","choices":[{"finish_reason":"huge"}],"pad":"${'p'.repeat(MAX_SSE_LINE_BYTES)}"}\n\n`;
    const { info, obs } = run(huge + sse(liveEvents()));
    expect(info).toEqual(LIVE_RESULT);
    expect((obs as any).pendingLine).toBe('');
  });

  it('drops an event whose data lines add up past the limit', () => {
    const line = `data: ${'q'.repeat(MAX_SSE_LINE_BYTES / 4)}\n`;
    const text =
      'data: {"id":"huge","choices":[{"finish_reason":"huge"}]}\n' + line.repeat(5) + '\n' + sse(liveEvents());
    const { info, obs } = run(text, 50_000);
    expect(info).toEqual(LIVE_RESULT);
    expect(obs.events).toBe(6);
  });
});

describe('SseEventParser request_id and errors', () => {
  it('sets requestId from a chunk that carries request_id', () => {
    const events = liveEvents();
    (events[2] as any).request_id = 'b4c5d6e7-0000-4000-8000-000000000002';
    expect(run(sse(events)).info).toEqual({ ...LIVE_RESULT, requestId: 'b4c5d6e7-0000-4000-8000-000000000002' });
  });

  it('keeps the first request_id when several chunks carry one', () => {
    const events = liveEvents();
    (events[1] as any).request_id = 'first';
    (events[4] as any).request_id = 'second';
    expect(run(sse(events)).info.requestId).toBe('first');
  });

  it('reads an error event data: {"error":{...}}', () => {
    const events = [
      chunk({ role: 'assistant', content: '' }, null, 0),
      {
        error: {
          code: 'upstream_unavailable',
          message: 'The underlying model provider is temporarily unreachable.',
          request_id: 'r-err',
        },
      },
    ];
    const { info } = run(sse(events, '\n', false));
    expect(info.requestId).toBe('r-err');
    expect(info.error).toEqual({
      code: 'upstream_unavailable',
      message: 'The underlying model provider is temporarily unreachable.',
    });
    expect(info.responseId).toBe('chatcmpl-7f3a');
  });

  it('reads a flat error event with metadata.errors', () => {
    const { info } = run(
      sse([
        {
          metadata: { errors: ['model x is not supported'] },
          message: 'invalid request body',
          code: 400,
          request_id: 'r2',
        },
      ]),
    );
    expect(info).toEqual({ requestId: 'r2', error: { message: 'invalid request body: model x is not supported' } });
  });

  it('does not treat the word "error" inside content as an error event', () => {
    const events = liveEvents();
    (events[1] as any).choices[0].delta.content = 'an "error": happened {"error":1}';
    expect(run(sse(events)).info.error).toBeUndefined();
  });
});

describe('SseEventParser text decoding', () => {
  it('decodes multi-byte UTF-8 split across chunks', () => {
    const content = 'héllo 😀 世界 "quoted" \\ backslash';
    const events = [chunk({ content }, 'stop', 3, { request_id: 'rid-ü😀' })];
    const bytes = enc.encode(sse(events));
    const whole = run(bytes).info;
    expect(whole.requestId).toBe('rid-ü😀');
    for (let i = 1; i < bytes.length; i++) {
      const obs = new SseEventParser();
      obs.write(bytes.subarray(0, i));
      obs.write(bytes.subarray(i));
      expect(obs.finish()).toEqual(whole);
    }
    expect(run(bytes, 1).info).toEqual(whole);
  });

  it('strips a leading byte order mark', () => {
    const bytes = enc.encode('\uFEFF' + sse(liveEvents()));
    expect(bytes[0]).toBe(0xef);
    expect(run(bytes, 1).info).toEqual(LIVE_RESULT);
  });
});

describe('SseObserver on streams longer than its tail window', () => {
  const enc = new TextEncoder();
  const long = (count: number, eol = '\n') => {
    let text = `data: {"id":"chatcmpl-long","model":"gpt-5","request_id":"rid-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}${eol}${eol}`;
    for (let i = 0; i < count; i++) {
      text += `data: {"id":"chatcmpl-long","model":"gpt-5","choices":[{"index":0,"delta":{"content":"${'z'.repeat(900)}"},"finish_reason":null}],"usage":{"prompt_tokens":5,"completion_tokens":${i + 1},"total_tokens":${i + 6}}}${eol}${eol}`;
    }
    text += `data: {"id":"chatcmpl-long","model":"gpt-5","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}${eol}${eol}`;
    text += `data: {"id":"chatcmpl-long","model":"gpt-5","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":${count},"total_tokens":${count + 5}}}${eol}${eol}data: [DONE]${eol}${eol}`;
    return enc.encode(text);
  };

  it.each(['\n', '\r\n', '\r'])(
    'reads id, model and request_id from the first chunk and finish reason, last usage and [DONE] from the tail (eol %j)',
    (eol) => {
      const bytes = long(2000, eol);
      const obs = new SseObserver();
      for (let i = 0; i < bytes.byteLength; i += 4093) obs.write(bytes.subarray(i, i + 4093));
      expect(obs.finish()).toEqual({
        requestId: 'rid-1',
        responseModel: 'gpt-5',
        responseId: 'chatcmpl-long',
        finishReasons: ['length'],
        inputTokens: 5,
        outputTokens: 2000,
        error: undefined,
      });
      expect(obs.done).toBe(true);
    },
  );

  it('keeps a fixed amount of memory however long the stream, and stops parsing after the first chunk', () => {
    const obs = new SseObserver();
    const bytes = long(5000);
    for (let i = 0; i < bytes.byteLength; i += 65536) obs.write(bytes.subarray(i, i + 65536));
    expect((obs as any).ring.byteLength).toBe(32 * 1024);
    expect((obs as any).head.stopped).toBe(true);
    expect((obs as any).head.pendingLine).toBe('');
    expect(obs.finish().outputTokens).toBe(5000);
  });
});

describe('SseEventParser usage details and gateway envelope', () => {
  const usageChunk = (usage: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    id: 'c',
    model: 'm',
    choices: [],
    usage,
    ...extra,
  });

  it('takes the details from the last usage, never summing them', () => {
    const events = [
      chunk({ content: 'a' }, null, 1, {
        usage: {
          prompt_tokens: 24,
          completion_tokens: 1,
          prompt_tokens_details: { cached_tokens: 16 },
          completion_tokens_details: { reasoning_tokens: 1 },
        },
      }),
      chunk({ content: 'b' }, 'stop', 2, {
        usage: {
          prompt_tokens: 24,
          completion_tokens: 2,
          prompt_tokens_details: { cached_tokens: 16 },
          completion_tokens_details: { reasoning_tokens: 2 },
        },
      }),
      usageChunk({
        prompt_tokens: 24,
        completion_tokens: 2,
        prompt_tokens_details: { cached_tokens: 16, cache_write_tokens: 8 },
        completion_tokens_details: { reasoning_tokens: 2 },
      }),
    ];
    for (const obs of [new SseEventParser(), new SseObserver(), new SseObserver({ stableChunks: true })]) {
      obs.write(enc.encode(sse(events)));
      expect(obs.finish()).toMatchObject({
        inputTokens: 24,
        outputTokens: 2,
        cacheReadInputTokens: 16,
        cacheWriteInputTokens: 8,
        reasoningOutputTokens: 2,
      });
    }
  });

  it('does not carry details over from an earlier usage that the last one lacks', () => {
    const events = [
      chunk({ content: 'a' }, 'stop', 1, { usage: { prompt_tokens: 5, prompt_tokens_details: { cached_tokens: 3 } } }),
      usageChunk({ prompt_tokens: 5, completion_tokens: 1 }),
    ];
    expect(run(sse(events)).info).not.toHaveProperty('cacheReadInputTokens');
  });

  it('reads llm_status_code and response_time from any event, the last one winning', () => {
    const events = [
      chunk({ role: 'assistant', content: '' }, null, 0, { llm_status_code: 200 }),
      chunk({ content: 'x' }, 'stop', 1, { response_time: 100_000_000 }),
      usageChunk({ prompt_tokens: 1, completion_tokens: 1 }, { response_time: 900_000_000, llm_status_code: 529 }),
    ];
    for (const obs of [new SseEventParser(), new SseObserver(), new SseObserver({ stableChunks: true })]) {
      obs.write(enc.encode(sse(events)));
      const info = obs.finish();
      expect(info.providerStatusCode).toBe(529);
      expect(info.gatewayDurationSeconds).toBeCloseTo(0.9, 9);
    }
  });

  it('reads the envelope of the first event when it is the only one', () => {
    const { info } = run(sse([chunk({ content: 'x' }, 'stop', 1, { llm_status_code: 200, response_time: 5_000_000 })]));
    expect(info).toMatchObject({ providerStatusCode: 200, gatewayDurationSeconds: 0.005 });
  });
});

describe('finish(end): choices whose finish reason never came', () => {
  const observers = () => [
    new SseEventParser(),
    new SseObserver(),
    new SseObserver({ stableChunks: true }),
    new SseEventParser({ captureContent: true }),
  ];
  const finishWith = (text: string, end?: Parameters<SseEventParser['finish']>[0]) =>
    observers().map((obs) => {
      obs.write(enc.encode(text));
      return obs.finish(end).finishReasons;
    });
  const two = (finish0: string | null, finish1: string | null) => [
    { id: 'c', model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
    { id: 'c', model: 'm', choices: [{ index: 1, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
    { id: 'c', model: 'm', choices: [{ index: 0, delta: { content: 'a' }, finish_reason: finish0 }] },
    { id: 'c', model: 'm', choices: [{ index: 1, delta: { content: 'b' }, finish_reason: finish1 }] },
  ];

  it('adds nothing to a stream that ended with [DONE]', () => {
    for (const reasons of finishWith(sse(liveEvents()), { complete: true, expectedChoices: 1 }))
      expect(reasons).toEqual(['stop']);
  });

  it('adds nothing without the end argument (the older call)', () => {
    for (const reasons of finishWith(sse(liveEvents().slice(0, 2), '\n', false))) expect(reasons).toBeUndefined();
  });

  it('marks every expected choice of a body cut before it finished', () => {
    const cut = sse(liveEvents().slice(0, 2), '\n', false);
    for (const reasons of finishWith(cut, { complete: false, expectedChoices: 1 })) expect(reasons).toEqual(['error']);
    for (const reasons of finishWith(cut, { complete: false, expectedChoices: 2 }))
      expect(reasons).toEqual(['error', 'error']);
    for (const reasons of finishWith('', { complete: false, expectedChoices: 1 })) expect(reasons).toEqual(['error']);
  });

  it('keeps the reasons that came when the body was cut (or cancelled) after them', () => {
    for (const reasons of finishWith(sse(two('stop', null), '\n', false), { complete: false, expectedChoices: 2 }))
      expect(reasons).toEqual(['stop', 'error']);
    for (const reasons of finishWith(sse(liveEvents()), { complete: false, expectedChoices: 1 }))
      expect(reasons).toEqual(['stop']);
  });

  it('marks a seen choice that never finished in a stream that ended cleanly without [DONE]', () => {
    for (const reasons of finishWith(sse(liveEvents().slice(0, 2), '\n', false), {
      complete: true,
      expectedChoices: 1,
    }))
      expect(reasons).toEqual(['error']);
  });

  it('does not invent a choice the gateway never sent when the stream ended as intended (n ignored by the model)', () => {
    for (const reasons of finishWith(sse(liveEvents()), { complete: true, expectedChoices: 2 }))
      expect(reasons).toEqual(['stop']);
  });

  it('marks the expected choices a stream cut before [DONE] never finished, seen or not', () => {
    for (const reasons of finishWith(sse(liveEvents(), '\n', false), { complete: true, expectedChoices: 2 }))
      expect(reasons).toEqual(['stop', 'error']);
  });

  it('marks the unfinished choices of a stream that carried an error event, even before [DONE]', () => {
    const events = [
      ...liveEvents().slice(0, 2),
      { error: { code: 'upstream_unavailable', message: 'provider went away' } },
    ];
    for (const reasons of finishWith(sse(events), { complete: true, expectedChoices: 1 }))
      expect(reasons).toEqual(['error']);
  });

  it('lists reasons by choice index after a cut, whatever order they came in', () => {
    const events = two(null, 'length');
    for (const reasons of finishWith(sse(events, '\n', false), { complete: false, expectedChoices: 1 }))
      expect(reasons).toEqual(['error', 'length']);
  });

  it('gives the captured output message the error reason too', () => {
    const obs = new SseEventParser({ captureContent: true });
    obs.write(enc.encode(sse(liveEvents().slice(0, 3), '\n', false)));
    expect(obs.finish({ complete: false, expectedChoices: 1 }).outputMessages).toEqual([
      { role: 'assistant', content: 'The capital', finishReason: 'error' },
    ]);
  });
});

describe('SseEventParser output tool calls (content capture)', () => {
  const toolDelta = (calls: unknown[], finish: string | null = null, index = 0) => ({
    id: 'c',
    model: 'm',
    choices: [{ index, delta: { tool_calls: calls }, finish_reason: finish }],
  });

  it('assembles tool calls from deltas split across chunks, by call index', () => {
    const events = [
      {
        id: 'c',
        model: 'm',
        choices: [{ index: 0, delta: { role: 'assistant', content: null }, finish_reason: null }],
      },
      toolDelta([{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }]),
      toolDelta([{ index: 0, function: { arguments: '{"ci' } }]),
      toolDelta([
        { index: 0, function: { arguments: 'ty":"Par' } },
        { index: 1, id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{"tz"' } },
      ]),
      toolDelta([
        { index: 1, function: { arguments: ':"CET"}' } },
        { index: 0, function: { arguments: 'is"}' } },
      ]),
      toolDelta([], 'tool_calls'),
    ];
    const obs = new SseEventParser({ captureContent: true });
    const bytes = enc.encode(sse(events));
    for (let i = 0; i < bytes.byteLength; i += 7) obs.write(bytes.subarray(i, i + 7));
    expect(obs.finish().outputMessages).toEqual([
      {
        role: 'assistant',
        content: '',
        finishReason: 'tool_calls',
        toolCalls: [
          { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'call_2', name: 'get_time', arguments: '{"tz":"CET"}' },
        ],
      },
    ]);
  });

  it('keeps the id and name of the first delta of each call', () => {
    const events = [
      toolDelta([{ index: 0, id: 'first', function: { name: 'f', arguments: '{' } }]),
      toolDelta([{ index: 0, id: 'second', function: { name: 'g', arguments: '}' } }], 'tool_calls'),
    ];
    const obs = new SseEventParser({ captureContent: true });
    obs.write(enc.encode(sse(events)));
    expect(obs.finish().outputMessages![0].toolCalls).toEqual([{ id: 'first', name: 'f', arguments: '{}' }]);
  });

  it('charges arguments to the content cap', () => {
    const piece = 'x'.repeat(5000);
    const events = Array.from({ length: 5 }, () => toolDelta([{ index: 0, function: { arguments: piece } }]));
    const obs = new SseEventParser({ captureContent: true });
    obs.write(enc.encode(sse(events)));
    expect(obs.finish().outputMessages![0].toolCalls![0].arguments).toHaveLength(16 * 1024);
  });

  it('does not capture tool calls without content capture', () => {
    const obs = new SseEventParser();
    obs.write(
      enc.encode(sse([toolDelta([{ index: 0, id: 'c', function: { name: 'f', arguments: '{}' } }], 'tool_calls')])),
    );
    const info = obs.finish();
    expect(info.outputMessages).toBeUndefined();
    expect(info.finishReasons).toEqual(['tool_calls']);
  });
});

describe('SseObserver chunk modes', () => {
  const long = (count: number) => {
    let text = `data: {"id":"chatcmpl-long","model":"gpt-5","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`;
    for (let i = 0; i < count; i++)
      text += `data: {"id":"chatcmpl-long","model":"gpt-5","choices":[{"index":0,"delta":{"content":"word ${i}"},"finish_reason":null}]}\n\n`;
    text += `data: {"id":"chatcmpl-long","model":"gpt-5","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n`;
    text += `data: {"id":"chatcmpl-long","model":"gpt-5","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":${count},"prompt_tokens_details":{"cached_tokens":2}},"llm_status_code":200,"response_time":42000000}\n\ndata: [DONE]\n\n`;
    return enc.encode(text);
  };
  const expected = {
    responseId: 'chatcmpl-long',
    responseModel: 'gpt-5',
    finishReasons: ['stop'],
    inputTokens: 5,
    outputTokens: 3000,
    cacheReadInputTokens: 2,
    providerStatusCode: 200,
    gatewayDurationSeconds: 0.042,
  };

  it('keeps references to the chunks with stableChunks, bounded to twice the window plus one chunk', () => {
    const bytes = long(3000);
    const obs = new SseObserver({ stableChunks: true });
    const fed: Uint8Array[] = [];
    let peak = 0;
    for (let i = 0; i < bytes.byteLength; i += 13 * 1024) {
      const piece = bytes.subarray(i, i + 13 * 1024);
      fed.push(piece);
      obs.write(piece);
      peak = Math.max(peak, (obs as any).keptBytes);
    }
    expect(peak).toBeLessThan(2 * 32 * 1024 + 13 * 1024);
    for (const kept of (obs as any).kept) expect(fed).toContain(kept);
    expect((obs as any).ring).toBeUndefined();
    expect(obs.finish()).toMatchObject(expected);
  });

  it('copies the end of a chunk larger than twice the window instead of pinning it', () => {
    const bytes = long(3000);
    const obs = new SseObserver({ stableChunks: true });
    obs.write(bytes);
    expect((obs as any).kept[0]).not.toBe(bytes);
    expect((obs as any).keptBytes).toBe(32 * 1024);
    expect(obs.finish()).toMatchObject(expected);
  });

  it('copies by default: reuse of the fed buffer after write does not change the result', () => {
    const bytes = long(3000);
    const obs = new SseObserver();
    const scratch = new Uint8Array(13 * 1024);
    for (let i = 0; i < bytes.byteLength; i += scratch.byteLength) {
      const part = bytes.subarray(i, i + scratch.byteLength);
      scratch.set(part);
      obs.write(scratch.subarray(0, part.byteLength));
      scratch.fill(0x20);
    }
    expect(obs.finish()).toMatchObject(expected);
    expect(obs.done).toBe(true);
  });

  it('gives the same result in both modes, for any chunk size', () => {
    const bytes = long(2000);
    for (const size of [1000, 4093, 16 * 1024, 40_000]) {
      const copy = new SseObserver();
      const stable = new SseObserver({ stableChunks: true });
      for (let i = 0; i < bytes.byteLength; i += size) {
        copy.write(bytes.subarray(i, i + size));
        stable.write(bytes.subarray(i, i + size));
      }
      expect(stable.finish({ complete: true })).toEqual(copy.finish({ complete: true }));
    }
  });
});

describe('SseObserver tail shortcut', () => {
  it('parses only from the first event that matters in the tail window', () => {
    const bytes = (() => {
      let text = '';
      for (let i = 0; i < 500; i++)
        text += `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"w${i}"},"finish_reason":null}]}\n\n`;
      return enc.encode(
        text +
          `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n`,
      );
    })();
    const parsed: string[] = [];
    const original = JSON.parse;
    JSON.parse = ((text: string, ...rest: []) => {
      parsed.push(text);
      return original(text, ...rest);
    }) as typeof JSON.parse;
    try {
      const obs = new SseObserver();
      obs.write(bytes);
      expect(obs.finish().finishReasons).toEqual(['stop']);
    } finally {
      JSON.parse = original;
    }
    // The first event (head) and the finishing event: none of the 499 content deltas in between.
    expect(parsed).toHaveLength(2);
  });

  it('falls back to the whole window when the last usage marker was not an event (a comment)', () => {
    const events = liveEvents();
    const text = sse(events, '\n', false) + `: "usage":{"prompt_tokens":999}\n\n` + 'data: [DONE]\n\n';
    for (const obs of [new SseObserver(), new SseObserver({ stableChunks: true })]) {
      obs.write(enc.encode(text));
      expect(obs.finish()).toMatchObject({ inputTokens: 24, outputTokens: 8 });
    }
  });

  it('finds a usage split across data lines (key at the end of one line, value on the next)', () => {
    const split =
      'data: {"id":"c","model":"m","choices":[],"usage"\ndata: :{"prompt_tokens":3,"completion_tokens":4}}\n\n';
    const text = sse(liveEvents().slice(0, 4), '\n', false) + split + 'data: [DONE]\n\n';
    for (const obs of [new SseEventParser(), new SseObserver()]) {
      obs.write(enc.encode(text));
      expect(obs.finish()).toMatchObject({ inputTokens: 3, outputTokens: 4 });
    }
  });
});
