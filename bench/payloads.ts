// The response bodies the fast gateway serves, built once per process. The client side uses
// the same figures (byte and event counts) to check that every body was read to the end.

export interface Payloads {
  /** A non-streamed chat completion as the gateway sends it (~600 bytes). */
  readonly chatJson: Buffer;
  /** One SSE response, cut into the writes a server makes: whole events, a few KB each. */
  readonly sseWrites: readonly Buffer[];
  /** The same response with every event a write of its own, as a server flushing each token. */
  readonly sseEventWrites: readonly Buffer[];
  /** Bytes in the whole SSE body. */
  readonly sseBytes: number;
  /** `data: {json}` events in it (the `[DONE]` line not counted): what the openai SDK yields. */
  readonly sseJsonEvents: number;
}

export const REQUEST_ID = '5f0c8a7e-3b1d-4c2a-9e6f-1a2b3c4d5e6f';
export const RATE_LIMIT_HEADERS = {
  'x-ratelimit-limit': '6000',
  'x-ratelimit-remaining': '5999',
  'x-ratelimit-reset': '42',
} as const;

/** The request bodies the client sends; the server only looks for `"stream":true`. */
export const CHAT_REQUEST = {
  model: 'claude-sonnet-4-6',
  messages: [{ role: 'user', content: 'What is the capital of France? Answer in a short paragraph.' }],
  max_tokens: 256,
};
export const STREAM_REQUEST = {
  ...CHAT_REQUEST,
  model: 'gpt-5',
  stream: true,
  stream_options: { include_usage: true },
};
export const STREAM_MARKER = '"stream":true';
/** Asks for the stream with one event per write (see `sseEventWrites`). */
export const EVENT_CHUNKS_REQUEST = { ...STREAM_REQUEST, x_bench_writes: 'event' };
export const EVENT_CHUNKS_MARKER = '"x_bench_writes":"event"';

const WORDS = [
  'the',
  'gateway',
  'answers',
  'with',
  'a',
  'long',
  'paragraph',
  'about',
  'Paris,',
  'which',
  'is',
  'the',
  'capital',
  'of',
  'France',
  'and',
  'home',
  'to',
  'museums,',
  'bridges',
  'and',
  'cafés.',
];

export function buildPayloads(streamBytes: number, writeBytes: number): Payloads {
  return { chatJson: buildChatJson(), ...buildSse(streamBytes, writeBytes) };
}

/** The live shape of reference/gateway-api.md §2, content padded to ~600 bytes in all. */
function buildChatJson(): Buffer {
  const body = (content: string) =>
    JSON.stringify({
      request: { model: 'claude-sonnet-4-6', max_tokens: 256 },
      request_id: REQUEST_ID,
      model: 'claude-sonnet-4-6',
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage: { input_tokens: 24, prompt_tokens: 24, output_tokens: 58, completion_tokens: 58, total_tokens: 82 },
      http_status_code: 200,
      response_time: 275510459,
      llm_status_code: 200,
    });
  let content = 'The capital of France is Paris.';
  for (let i = 0; body(content).length < 600; i++) content += ` ${WORDS[i % WORDS.length]}`;
  return Buffer.from(body(content));
}

/**
 * OpenAI `chat.completion.chunk` events as the gateway streams them (reference/gateway-api.md
 * §3): a role chunk, content chunks of one to a few words (~170-200 bytes per event), a
 * finish_reason chunk, a usage-only chunk with `choices: []`, then `data: [DONE]`.
 */
function buildSse(streamBytes: number, writeBytes: number): Omit<Payloads, 'chatJson'> {
  const events = buildEvents(streamBytes);
  const writes: Buffer[] = [];
  let pending = '';
  for (const e of events) {
    pending += e;
    if (Buffer.byteLength(pending) >= writeBytes) {
      writes.push(Buffer.from(pending));
      pending = '';
    }
  }
  if (pending) writes.push(Buffer.from(pending));
  return {
    sseWrites: writes,
    sseEventWrites: events.map((e) => Buffer.from(e)),
    sseBytes: writes.reduce((n, w) => n + w.length, 0),
    // The `[DONE]` line is not an event the SDK yields.
    sseJsonEvents: events.length - 1,
  };
}

function buildEvents(streamBytes: number): string[] {
  const head = {
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion.chunk',
    created: 1790211793,
    model: 'gpt-5',
  };
  const event = (choices: unknown[], extra: object = {}) =>
    `data: ${JSON.stringify({ ...head, choices, ...extra })}\n\n`;
  const delta = (d: object, finish: string | null = null) => [
    { index: 0, delta: d, logprobs: null, finish_reason: finish },
  ];
  const events = [event(delta({ role: 'assistant', content: '' }))];
  let size = events[0].length;
  let seed = 7;
  let tokens = 0;
  // A fixed pseudo-random sequence, so every run serves the same bytes.
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  while (size < streamBytes - 600) {
    let words = '';
    for (let n = 1 + (next() % 4); n > 0; n--) words += ` ${WORDS[next() % WORDS.length]}`;
    const e = event(delta({ content: words }));
    events.push(e);
    size += e.length;
    tokens++;
  }
  events.push(event(delta({}, 'stop')));
  events.push(event([], { usage: { prompt_tokens: 24, completion_tokens: tokens, total_tokens: tokens + 24 } }));
  events.push('data: [DONE]\n\n');
  return events;
}
