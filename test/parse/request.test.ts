import { describe, expect, it } from 'vitest';
import { MAX_PARSED_REQUEST_CHARS } from '../../src/parse/limits';
import { parseRequestBody } from '../../src/parse/request';

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
      JSON.stringify({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1000, temperature: 0.2, stream: true }),
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
    expect(info).toMatchObject({ stream: true, shape: { hasModel: false, messages: 'missing', maxTokensValid: false } });
    expect(info.model).toBeUndefined();
    expect(info.maxTokens).toBeUndefined();
    expect(info.temperature).toBeUndefined();
  });

  it('describes the shape the guide\'s common mistakes are about', () => {
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
    expect(parseRequestBody(text)).toEqual({ model: 'claude-sonnet-4-6', maxTokens: 800, temperature: 0.7, stream: true });
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
    const text = JSON.stringify({ model: 'gpt-5', stream: true, max_tokens: 9, messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }, null, 2);
    expect(parseRequestBody(text)).toEqual({ model: 'gpt-5', maxTokens: 9, stream: true });
  });
});
