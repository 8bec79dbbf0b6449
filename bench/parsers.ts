// Micro-benchmark of the response-body parsers alone (no socket, no span):
//   sh scripts/with-node.sh node --import tsx bench/parsers.ts
// It feeds pre-built chunks to each observer mode and prints µs per body (median of rounds,
// with the spread). The chunks are distinct Buffers, as a transport hands them over.
import { JsonBodyObserver } from '../src/parse/json-body';
import { SseEventParser, SseObserver } from '../src/parse/sse';
import type { BodyObserver } from '../src/parse/types';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const STREAM_BYTES = 1_100_000;
const STREAM_CHUNK_BYTES = 13 * 1024;

/** ~150-byte OpenAI-style chunk events (usage: only on the final chunk), then finish, usage, [DONE]. */
function sseStream(runningUsage: boolean): Buffer[] {
  const head = {
    id: 'chatcmpl-4f1c9e0b8a7d6c5e',
    object: 'chat.completion.chunk',
    created: 1790211793,
    model: 'gpt-5',
  };
  const usage = (n: number) => ({ prompt_tokens: 1200, completion_tokens: n, total_tokens: 1200 + n });
  const events: string[] = [];
  events.push(
    JSON.stringify({
      ...head,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    }),
  );
  let size = 0;
  let n = 0;
  while (size < STREAM_BYTES - 1024) {
    n++;
    const event = JSON.stringify({
      ...head,
      choices: [{ index: 0, delta: { content: ` word${n % 97}` }, finish_reason: null }],
      ...(runningUsage ? { usage: usage(n) } : {}),
    });
    events.push(event);
    size += event.length + 8;
  }
  events.push(
    JSON.stringify({
      ...head,
      choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
      ...(runningUsage ? { usage: usage(n) } : {}),
    }),
  );
  events.push(JSON.stringify({ ...head, choices: [], usage: usage(n) }));
  const text = events.map((e) => `data: ${e}\n\n`).join('') + 'data: [DONE]\n\n';
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  // Every chunk its own Buffer (a copy), like undici's bodyChunkReceived chunks.
  for (let i = 0; i < bytes.byteLength; i += STREAM_CHUNK_BYTES)
    chunks.push(Buffer.from(bytes.subarray(i, i + STREAM_CHUNK_BYTES)));
  return chunks;
}

/** The live non-streamed body shape (gateway-api.md §2), about 600 bytes. */
function jsonBody(): Buffer[] {
  const body = {
    request: { model: 'claude-sonnet-4-6', max_tokens: 1000 },
    request_id: '93f7c2d4-1b5e-4a8f-9c3d-2e7f6a1b0c9d',
    model: 'claude-sonnet-4-6',
    choices: [
      {
        message: {
          role: 'assistant',
          content:
            'The capital of France is Paris. It has been the capital since the 10th century, with brief interruptions.',
        },
        finish_reason: 'stop',
      },
    ],
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
  return [Buffer.from(JSON.stringify(body))];
}

interface Mode {
  name: string;
  create(): BodyObserver;
}

const sseModes: Mode[] = [
  { name: 'SseObserver (copying)', create: () => new SseObserver() },
  { name: 'SseObserver (stableChunks)', create: () => new SseObserver({ stableChunks: true }) },
  { name: 'SseEventParser (every event)', create: () => new SseEventParser() },
  { name: 'SseEventParser (captureContent)', create: () => new SseEventParser({ captureContent: true }) },
];
const jsonModes: Mode[] = [
  { name: 'JsonBodyObserver (copying)', create: () => new JsonBodyObserver() },
  { name: 'JsonBodyObserver (stableChunks)', create: () => new JsonBodyObserver({ stableChunks: true }) },
  { name: 'JsonBodyObserver (captureContent)', create: () => new JsonBodyObserver({ captureContent: true }) },
];

function observe(mode: Mode, chunks: Buffer[]): unknown {
  const observer = mode.create();
  for (const chunk of chunks) observer.write(chunk);
  return observer.finish({ complete: true, expectedChoices: 1 });
}

/** µs per body: median and min/max of ROUNDS rounds, each long enough to time reliably. */
function measure(mode: Mode, chunks: Buffer[], perRound: number): { median: number; min: number; max: number } {
  for (let i = 0; i < perRound; i++) observe(mode, chunks); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) observe(mode, chunks);
    samples.push(Number(process.hrtime.bigint() - start) / 1000 / perRound);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)], min: samples[0], max: samples[samples.length - 1] };
}

function report(label: string, modes: Mode[], chunks: Buffer[], perRound: number): void {
  const bytes = chunks.reduce((n, c) => n + c.byteLength, 0);
  console.log(`\n${label}: ${bytes} bytes in ${chunks.length} chunk(s)`);
  for (const mode of modes) {
    const { median, min, max } = measure(mode, chunks, perRound);
    console.log(
      `  ${mode.name.padEnd(36)} ${median.toFixed(median < 10 ? 2 : 1).padStart(9)} µs  (min ${min.toFixed(1)}, max ${max.toFixed(1)})`,
    );
  }
}

console.log(`Node ${process.versions.node}, ${ROUNDS} rounds, median µs per body`);
report('SSE stream, usage on the last chunk only (OpenAI style)', sseModes, sseStream(false), 20);
report('SSE stream, running usage on every chunk (vLLM style)', sseModes, sseStream(true), 20);
report('JSON body (live shape)', jsonModes, jsonBody(), 20_000);
