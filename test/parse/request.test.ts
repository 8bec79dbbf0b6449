import { describe, expect, it } from 'vitest';
import { MAX_PARSED_REQUEST_CHARS } from '../../src/parse/limits';
import { fallbackServed, parseRequestBody } from '../../src/parse/request';

/** A chat body whose `messages` push it past the exact-parse limit, so it is scanned. */
function largeBody(fields: Record<string, unknown>, order: 'model-first' | 'messages-first' = 'model-first'): string {
  const filler = 'lorem ipsum '.repeat(Math.ceil((MAX_PARSED_REQUEST_CHARS + 1000) / 12));
  const messages = [
    { role: 'system', content: 'Reply with {"model": "evil-model", "stream": true, "max_tokens": 7}' },
    { role: 'user', content: `"model":"also-evil" ${filler} "max_tokens": 3 "temperature": 9` },
  ];
  const body = order === 'model-first' ? { ...fields, messages } : { messages, ...fields };
  const text = JSON.stringify(body);
  expect(text.length).toBeGreaterThan(MAX_PARSED_REQUEST_CHARS);
  return text;
}

describe('parseRequestBody on small JSON', () => {
  it('reads model, max_tokens, temperature and stream', () => {
    const info = parseRequestBody(
      JSON.stringify({
        model: 'claude-sonnet-4-6',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 1000,
        temperature: 0.2,
        stream: true,
      }),
    );
    expect(info).toEqual({
      model: 'claude-sonnet-4-6',
      maxTokens: 1000,
      temperature: 0.2,
      stream: true,
      shape: { hasModel: true, messages: 'array', hasPrompt: false, maxTokensValid: true },
    });
  });

  it('reports stream false when stream is absent, false or not the boolean true', () => {
    expect(parseRequestBody('{"model":"m"}').stream).toBe(false);
    expect(parseRequestBody('{"model":"m","stream":false}').stream).toBe(false);
    expect(parseRequestBody('{"model":"m","stream":"true"}').stream).toBe(false);
    expect(parseRequestBody('{"model":"m","stream":1}').stream).toBe(false);
  });

  it('leaves out fields of the wrong type', () => {
    const info = parseRequestBody(JSON.stringify({ model: 42, max_tokens: '100', temperature: '0.5', stream: true }));
    expect(info).toMatchObject({
      stream: true,
      shape: { hasModel: false, messages: 'missing', maxTokensValid: false },
    });
    expect(info.model).toBeUndefined();
    expect(info.maxTokens).toBeUndefined();
    expect(info.temperature).toBeUndefined();
  });

  it("describes the shape the guide's common mistakes are about", () => {
    expect(parseRequestBody('{"model":"m","messages":"hi"}').shape?.messages).toBe('string');
    expect(parseRequestBody('{"model":"m","messages":{}}').shape?.messages).toBe('other');
    expect(parseRequestBody('{"model":"m","max_tokens":0,"messages":[]}').shape?.maxTokensValid).toBe(false);
    expect(parseRequestBody('{"model":"m","max_tokens":1.5,"messages":[]}').shape?.maxTokensValid).toBe(false);
    expect(parseRequestBody('{"model":"","messages":[]}').shape?.hasModel).toBe(false);
  });

  it('keeps messages only when content capture is on', () => {
    const body = '{"model":"m","messages":[{"role":"user","content":"secret"}]}';
    expect(parseRequestBody(body).inputMessages).toBeUndefined();
    expect(parseRequestBody(body, true).inputMessages).toEqual([{ role: 'user', content: 'secret' }]);
    expect(parseRequestBody('{"model":"m","prompt":"p"}', true).inputMessages).toBe('p');
  });

  it('keeps max_tokens only when it is a non-negative integer', () => {
    expect(parseRequestBody('{"max_tokens":0}').maxTokens).toBe(0);
    expect(parseRequestBody('{"max_tokens":-1}').maxTokens).toBeUndefined();
    expect(parseRequestBody('{"max_tokens":1.5}').maxTokens).toBeUndefined();
  });

  it('keeps temperature 0 and negative temperatures as numbers', () => {
    expect(parseRequestBody('{"temperature":0}').temperature).toBe(0);
    expect(parseRequestBody('{"temperature":-0.5}').temperature).toBe(-0.5);
  });

  it('ignores an empty model and bounds a long one to 256 characters', () => {
    expect(parseRequestBody('{"model":""}').model).toBeUndefined();
    expect(parseRequestBody(JSON.stringify({ model: 'm'.repeat(1000) })).model).toBe('m'.repeat(256));
  });

  it('reads a prompt-only body (no messages)', () => {
    expect(parseRequestBody('{"model":"qwen3.5-4b-32k-fast","prompt":"hi"}')).toEqual({
      model: 'qwen3.5-4b-32k-fast',
      stream: false,
      shape: { hasModel: true, messages: 'missing', hasPrompt: true, maxTokensValid: true },
    });
  });
});

describe('parseRequestBody on bodies that are not a JSON object', () => {
  it('finds nothing in non-JSON text', () => {
    expect(parseRequestBody('hello world')).toEqual({ stream: false });
    expect(parseRequestBody('')).toEqual({ stream: false });
    expect(parseRequestBody('model=gpt-5&stream=true')).toEqual({ stream: false });
  });

  it('finds nothing in a JSON array, even one whose elements look like a request', () => {
    expect(parseRequestBody('[]')).toEqual({ stream: false });
    const info = parseRequestBody(JSON.stringify([{ model: 'gpt-5', stream: true, max_tokens: 5, temperature: 1 }]));
    expect(info).toEqual({ stream: false });
  });

  it('finds nothing in JSON scalars', () => {
    expect(parseRequestBody('null')).toEqual({ stream: false });
    expect(parseRequestBody('"{\\"model\\":\\"x\\"}"')).toEqual({ stream: false });
    expect(parseRequestBody('42')).toEqual({ stream: false });
  });

  it('still reads the scalars of a small request cut short (truncated JSON)', () => {
    const text = '{"model":"gpt-5","max_tokens":12,"stream":true,"messages":[{"role":"user","content":"hel';
    expect(parseRequestBody(text)).toEqual({ model: 'gpt-5', maxTokens: 12, stream: true });
  });
});

describe('parseRequestBody on a body larger than 64 KB (scanned)', () => {
  it('finds model, max_tokens, temperature and stream', () => {
    const text = largeBody({ model: 'claude-sonnet-4-6', max_tokens: 800, temperature: 0.7, stream: true });
    expect(parseRequestBody(text)).toEqual({
      model: 'claude-sonnet-4-6',
      maxTokens: 800,
      temperature: 0.7,
      stream: true,
    });
  });

  it('finds the scalars when they come after the messages', () => {
    const text = largeBody({ model: 'gpt-5', max_tokens: 64, stream: true }, 'messages-first');
    const info = parseRequestBody(text);
    expect(info.model).toBe('gpt-5');
    expect(info.maxTokens).toBe(64);
    expect(info.stream).toBe(true);
  });

  it('does not take a "model" written inside message content as the model', () => {
    const text = largeBody({ max_tokens: 10 }, 'messages-first');
    expect(text).toContain('\\"model\\": \\"evil-model\\"');
    const info = parseRequestBody(text);
    expect(info.model).toBeUndefined();
    expect(info.stream).toBe(false);
    expect(info.maxTokens).toBe(10);
    expect(info.temperature).toBeUndefined();
  });

  it('reports stream false for "stream": false and for stream_options alone', () => {
    expect(parseRequestBody(largeBody({ model: 'm', stream: false })).stream).toBe(false);
    expect(parseRequestBody(largeBody({ model: 'm', stream_options: { include_usage: true } })).stream).toBe(false);
  });

  it('unescapes an escaped model name', () => {
    const text = largeBody({ model: 'x' }).replace('"model":"x"', '"model":"gpt\\u002d5\\/mini"');
    expect(parseRequestBody(text).model).toBe('gpt-5/mini');
  });

  it('ignores a fractional or negative max_tokens', () => {
    expect(parseRequestBody(largeBody({ model: 'm', max_tokens: 1.5 })).maxTokens).toBeUndefined();
    expect(parseRequestBody(largeBody({ model: 'm', max_tokens: -4 })).maxTokens).toBeUndefined();
  });

  it('tolerates whitespace around the colon', () => {
    const text = JSON.stringify(
      { model: 'gpt-5', stream: true, max_tokens: 9, messages: [{ role: 'user', content: 'x'.repeat(70_000) }] },
      null,
      2,
    );
    expect(parseRequestBody(text)).toEqual({ model: 'gpt-5', maxTokens: 9, stream: true });
  });
});

describe('parseRequestBody: second-release parameters', () => {
  const full = {
    model: 'claude-sonnet-4-6',
    messages: [{ role: 'user', content: 'hi' }],
    max_completion_tokens: 512,
    temperature: 0.3,
    top_p: 0.9,
    frequency_penalty: 0.5,
    presence_penalty: -0.25,
    top_k: 40,
    seed: 1234,
    stop: ['\n\n', 'END'],
    n: 2,
    response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } },
    reasoning_effort: 'high',
    fallbacks: [{ model: 'gpt-5' }, { model: 'gemini-2.5-flash', temperature: 0 }],
    model_region: 'global',
    transcript_id: 'a1b2c3d4-transcript',
  };
  const expected = {
    model: 'claude-sonnet-4-6',
    maxTokens: 512,
    temperature: 0.3,
    topP: 0.9,
    frequencyPenalty: 0.5,
    presencePenalty: -0.25,
    topK: 40,
    seed: 1234,
    stopSequences: ['\n\n', 'END'],
    choiceCount: 2,
    outputType: 'json',
    reasoningLevel: 'high',
    fallbackModels: ['gpt-5', 'gemini-2.5-flash'],
    modelRegion: 'global',
    transcriptId: 'a1b2c3d4-transcript',
    stream: false,
  };

  it('reads every parameter of a parsed body', () => {
    expect(parseRequestBody(JSON.stringify(full))).toMatchObject(expected);
  });

  it('prefers max_tokens over max_completion_tokens', () => {
    expect(parseRequestBody('{"max_tokens":10,"max_completion_tokens":20}').maxTokens).toBe(10);
    expect(parseRequestBody('{"max_completion_tokens":20}').maxTokens).toBe(20);
  });

  it('reads stop as a string, and bounds the list and each entry', () => {
    expect(parseRequestBody('{"stop":"###"}').stopSequences).toEqual(['###']);
    const many = parseRequestBody(
      JSON.stringify({ stop: Array.from({ length: 40 }, (_, i) => `s${i}`) }),
    ).stopSequences!;
    expect(many).toHaveLength(16);
    expect(parseRequestBody(JSON.stringify({ stop: ['x'.repeat(1000)] })).stopSequences).toEqual(['x'.repeat(256)]);
    expect(parseRequestBody(JSON.stringify({ stop: [1, null, '', 'ok'] })).stopSequences).toEqual(['ok']);
    expect(parseRequestBody('{"stop":[]}').stopSequences).toBeUndefined();
    expect(parseRequestBody('{"stop":null}').stopSequences).toBeUndefined();
  });

  it('reports n only when it is an integer other than 1', () => {
    expect(parseRequestBody('{"n":1}').choiceCount).toBeUndefined();
    expect(parseRequestBody('{"n":3}').choiceCount).toBe(3);
    expect(parseRequestBody('{"n":1.5}').choiceCount).toBeUndefined();
    expect(parseRequestBody('{"n":"2"}').choiceCount).toBeUndefined();
  });

  it('maps response_format to the output type', () => {
    const type = (format: unknown) => parseRequestBody(JSON.stringify({ response_format: format })).outputType;
    expect(type({ type: 'json_object' })).toBe('json');
    expect(type({ type: 'json_schema', json_schema: {} })).toBe('json');
    expect(type({ type: 'text' })).toBe('text');
    expect(type({ type: 'grammar' })).toBeUndefined();
    expect(type('json')).toBeUndefined();
  });

  it('reads reasoning.effort when reasoning_effort is absent, as sent', () => {
    expect(parseRequestBody('{"reasoning":{"effort":"Medium"}}').reasoningLevel).toBe('Medium');
    expect(parseRequestBody('{"reasoning_effort":"low","reasoning":{"effort":"high"}}').reasoningLevel).toBe('low');
    expect(parseRequestBody(JSON.stringify({ reasoning_effort: 'x'.repeat(500) })).reasoningLevel).toHaveLength(64);
  });

  it('reads fallback models, bounded, skipping entries without a model', () => {
    const fallbacks = [
      { model: 'a' },
      { temperature: 1 },
      'b',
      { model: 7 },
      ...Array.from({ length: 30 }, (_, i) => ({ model: `m${i}` })),
    ];
    const models = parseRequestBody(JSON.stringify({ fallbacks })).fallbackModels!;
    expect(models.slice(0, 3)).toEqual(['a', 'b', 'm0']);
    expect(models).toHaveLength(16);
    expect(parseRequestBody('{"fallbacks":{}}').fallbackModels).toBeUndefined();
  });

  it('keeps seed and top_k only when they are integers (seed may be negative)', () => {
    expect(parseRequestBody('{"seed":-7,"top_k":3}')).toMatchObject({ seed: -7, topK: 3 });
    expect(parseRequestBody('{"seed":1.5,"top_k":-3}')).not.toHaveProperty('seed');
    expect(parseRequestBody('{"seed":1.5,"top_k":-3}')).not.toHaveProperty('topK');
  });

  it('leaves every absent parameter out (no key, not even undefined)', () => {
    const info = parseRequestBody('{"model":"m","messages":[]}');
    for (const key of [
      'topP',
      'topK',
      'seed',
      'stopSequences',
      'choiceCount',
      'outputType',
      'reasoningLevel',
      'fallbackModels',
      'modelRegion',
      'transcriptId',
    ]) {
      expect(info).not.toHaveProperty(key);
    }
  });

  it('keeps tools only with content capture on', () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    expect(parseRequestBody(JSON.stringify({ model: 'm', tools })).toolDefinitions).toBeUndefined();
    expect(parseRequestBody(JSON.stringify({ model: 'm', tools }), true).toolDefinitions).toEqual(tools);
  });

  it('finds the parameters in a large (scanned) body, before or after the messages', () => {
    const { model, messages: _messages, ...rest } = full;
    for (const order of ['model-first', 'messages-first'] as const) {
      const info = parseRequestBody(largeBody({ model, ...rest }, order));
      expect(info).toMatchObject(expected);
    }
  });

  it('does not take parameters written inside message content (scanned body)', () => {
    const text = largeBody({ model: 'm' }).replace(
      '"role":"system"',
      '"role":"system","note":"\\"top_p\\": 0.1, \\"seed\\": 9"',
    );
    const info = parseRequestBody(text);
    expect(info.topP).toBeUndefined();
    expect(info.seed).toBeUndefined();
  });

  it('reads the scalars of a small request cut short', () => {
    const text =
      '{"model":"gpt-5","top_p":0.5,"seed":3,"stop":["a","b"],"fallbacks":[{"model":"x"}],"transcript_id":"t-1","messages":[{"role":"user","content":"hel';
    expect(parseRequestBody(text)).toMatchObject({
      model: 'gpt-5',
      topP: 0.5,
      seed: 3,
      stopSequences: ['a', 'b'],
      fallbackModels: ['x'],
      transcriptId: 't-1',
    });
  });

  it('ignores an array value that never closes within its bound', () => {
    const text = largeBody({ model: 'm' }).replace(
      '{"model":"m",',
      `{"model":"m","fallbacks":[{"model":"${'q'.repeat(5000)}"}],`,
    );
    expect(parseRequestBody(text).fallbackModels).toBeUndefined();
  });
});

describe('fallbackServed', () => {
  const request = (model: string, fallbacks?: string[]) => ({ model, fallbackModels: fallbacks, stream: false });

  it('is undefined when the request named no fallbacks or the response no model', () => {
    expect(fallbackServed(request('a'), 'b')).toBeUndefined();
    expect(fallbackServed(request('a', ['b']), undefined)).toBeUndefined();
    expect(fallbackServed(undefined, 'b')).toBeUndefined();
  });

  it('is true when a fallback model answered, false when the requested one did', () => {
    expect(fallbackServed(request('claude-sonnet-4-6', ['gpt-5']), 'gpt-5')).toBe(true);
    expect(fallbackServed(request('claude-sonnet-4-6', ['gpt-5']), 'claude-sonnet-4-6')).toBe(false);
  });

  it('accepts a dated id of either, and is false for a model that is neither', () => {
    expect(fallbackServed(request('claude-opus-4-6', ['gpt-5']), 'gpt-5-2026-01-01')).toBe(true);
    expect(fallbackServed(request('claude-opus-4-6', ['claude-opus-4']), 'claude-opus-4-6-20260101')).toBe(false);
    expect(fallbackServed(request('qwen3.5-4b-32k-fast', ['gpt-5']), 'qwen3.5-4b-32k')).toBe(false);
  });
});
