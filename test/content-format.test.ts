import { describe, expect, it } from 'vitest';
import { formatInputMessages, formatOutputMessages, formatToolDefinitions } from '../src/content';
import { MAX_CAPTURED_CONTENT_CHARS } from '../src/parse/limits';

const call = (id: string, name: string, args: string) => ({
  id,
  type: 'function',
  function: { name, arguments: args },
});

describe('formatInputMessages with tool calls (GenAI semconv parts)', () => {
  const conversation = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: null, tool_calls: [call('call_1', 'get_weather', '{"city":"Paris"}')] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temperature_c":21}' },
  ];

  it('writes tool_call parts for an assistant message and a tool_call_response part for a tool message', () => {
    expect(JSON.parse(formatInputMessages(conversation, undefined)!)).toEqual([
      { role: 'system', parts: [{ type: 'text', content: 'You are terse.' }] },
      { role: 'user', parts: [{ type: 'text', content: 'Weather in Paris?' }] },
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }],
      },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'call_1', response: '{"temperature_c":21}' }] },
    ]);
  });

  it('keeps arguments that are not JSON as the string sent, and text next to the calls', () => {
    const messages = [
      { role: 'assistant', content: 'Let me check.', tool_calls: [call('c', 'f', '{"broken":'), call('d', 'g', '')] },
    ];
    expect(JSON.parse(formatInputMessages(messages, undefined)!)[0].parts).toEqual([
      { type: 'text', content: 'Let me check.' },
      { type: 'tool_call', id: 'c', name: 'f', arguments: '{"broken":' },
      { type: 'tool_call', id: 'd', name: 'g', arguments: '' },
    ]);
  });

  it('joins the text parts of a tool message given as an array', () => {
    const messages = [
      {
        role: 'tool',
        tool_call_id: 'x',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
    ];
    expect(JSON.parse(formatInputMessages(messages, undefined)!)[0].parts).toEqual([
      { type: 'tool_call_response', id: 'x', response: 'ab' },
    ]);
  });

  it('passes arguments and tool responses through the redaction hook, with their role and direction', () => {
    const seen: string[] = [];
    const json = formatInputMessages(conversation, (content, { role, direction }) => {
      seen.push(`${direction}:${role}`);
      return content.replace('Paris', '[city]').replace('21', '[n]');
    })!;
    expect(json).not.toContain('Paris');
    expect(JSON.parse(json)[2].parts[0].arguments).toEqual({ city: '[city]' });
    expect(JSON.parse(json)[3].parts[0].response).toBe('{"temperature_c":[n]}');
    expect(seen).toEqual(['input:system', 'input:user', 'input:assistant', 'input:tool']);
  });

  it('drops a piece whose hook throws, never letting it through', () => {
    const json = formatInputMessages(conversation, (content) => {
      if (content.includes('Paris"')) throw new Error('no');
      return content;
    })!;
    expect(json).not.toContain('"Paris"');
    expect(JSON.parse(json)[2].parts[0].arguments).toBe('[redaction failed]');
  });

  it('bounds arguments by the content cap, and the number of calls', () => {
    const huge = JSON.stringify({ text: 'x'.repeat(40_000) });
    const json = formatInputMessages(
      [{ role: 'assistant', tool_calls: [call('a', 'f', huge), call('b', 'g', huge)] }],
      undefined,
    )!;
    expect(json.length).toBeLessThan(MAX_CAPTURED_CONTENT_CHARS + 500);
    const many = formatInputMessages(
      [{ role: 'assistant', tool_calls: Array.from({ length: 500 }, (_, i) => call(`c${i}`, 'f', '{}')) }],
      undefined,
    )!;
    expect(JSON.parse(many)[0].parts.length).toBeLessThanOrEqual(64);
  });

  it('still formats plain conversations as before', () => {
    expect(JSON.parse(formatInputMessages('hello', undefined)!)).toEqual([
      { role: 'user', parts: [{ type: 'text', content: 'hello' }] },
    ]);
  });
});

describe('formatOutputMessages with tool calls', () => {
  it('writes the model tool calls as tool_call parts, without an empty text part', () => {
    const json = formatOutputMessages(
      [
        {
          role: 'assistant',
          content: '',
          finishReason: 'tool_calls',
          toolCalls: [{ id: 'call_9', name: 'lookup', arguments: '{"q":"otel"}' }],
        },
      ],
      undefined,
    )!;
    expect(JSON.parse(json)).toEqual([
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'call_9', name: 'lookup', arguments: { q: 'otel' } }],
        finish_reason: 'tool_calls',
      },
    ]);
  });

  it('keeps the text and cut arguments (a string when they no longer parse)', () => {
    const json = formatOutputMessages(
      [{ role: 'assistant', content: 'ok', finishReason: 'error', toolCalls: [{ name: 'f', arguments: '{"a":' }] }],
      (c) => c.toUpperCase(),
    )!;
    expect(JSON.parse(json)).toEqual([
      {
        role: 'assistant',
        parts: [
          { type: 'text', content: 'OK' },
          { type: 'tool_call', name: 'f', arguments: '{"A":' },
        ],
        finish_reason: 'error',
      },
    ]);
  });

  it('writes an empty text part for a message with neither text nor calls, as before', () => {
    expect(JSON.parse(formatOutputMessages([{ role: 'assistant', content: '' }], undefined)!)).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: '' }] },
    ]);
  });
});

describe('formatToolDefinitions', () => {
  it('writes the type and name of each tool (the required properties only)', () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
      { type: 'function', name: 'flat_style' },
    ];
    expect(JSON.parse(formatToolDefinitions(tools)!)).toEqual([
      { type: 'function', name: 'get_weather' },
      { type: 'function', name: 'flat_style' },
    ]);
  });

  it('skips tools without a name, and is undefined when none is left or tools is not an array', () => {
    expect(formatToolDefinitions([{ type: 'function', function: {} }, null, 'x'])).toBeUndefined();
    expect(formatToolDefinitions({ name: 'f' })).toBeUndefined();
    expect(formatToolDefinitions(undefined)).toBeUndefined();
  });

  it('is bounded in count and size', () => {
    const tools = Array.from({ length: 1000 }, (_, i) => ({
      type: 'function',
      function: { name: `tool_${i}_${'n'.repeat(200)}` },
    }));
    const json = formatToolDefinitions(tools)!;
    expect(JSON.parse(json).length).toBeLessThanOrEqual(64);
    expect(json.length).toBeLessThan(MAX_CAPTURED_CONTENT_CHARS + 500);
  });
});
