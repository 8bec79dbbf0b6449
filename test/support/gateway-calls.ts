import { AssemblyAI } from 'assemblyai';
import OpenAI from 'openai';

// Chat calls with a request body of the test's choosing, through the clients users call the
// gateway with, each returning the raw body the client received: the tests compare what the
// simulated gateway sent with what the instrumentation exported.

export type ChatBody = Record<string, unknown>;

/** What a call returned to the application. */
export interface RawCall {
  ok: boolean;
  status?: number;
  /** The response body as the client received it (a JSON text, or the event stream). */
  text: string;
  error?: unknown;
}

export interface CallTarget {
  baseUrl: string;
  apiKey: string;
}

/**
 * The `openai` SDK pointed at the gateway; a capturing fetch keeps a clone of the body. The
 * clone reads the body to its end whatever the application does: never use it for a call the
 * application cuts short (see `openaiCutShort`).
 */
export async function viaOpenai(target: CallTarget, body: ChatBody): Promise<RawCall> {
  const texts: Promise<string>[] = [];
  const client = new OpenAI({
    apiKey: target.apiKey,
    baseURL: `${target.baseUrl}/v1`,
    maxRetries: 0,
    organization: null,
    project: null,
    fetch: async (url, init) => {
      const response = await globalThis.fetch(url, init);
      texts.push(response.clone().text());
      return response;
    },
  });
  try {
    if (body.stream === true) {
      const stream = await client.chat.completions.create(
        body as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming,
      );
      for await (const _chunk of stream) {
        // consume, as an application does
      }
    } else {
      await client.chat.completions.create(body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    }
    return { ok: true, status: 200, text: (await Promise.all(texts)).join('') };
  } catch (error) {
    return {
      ok: false,
      status: (error as { status?: number }).status,
      text: (await Promise.all(texts)).join(''),
      error,
    };
  }
}

/**
 * A streamed `openai` SDK call the application leaves with `break` once `stop(chunk)` says so
 * (no capturing clone: it would read the rest of the body). Returns the chunks it saw.
 */
export async function openaiCutShort(
  target: CallTarget,
  body: ChatBody,
  stop: (chunk: OpenAI.Chat.ChatCompletionChunk, seen: number) => boolean,
): Promise<OpenAI.Chat.ChatCompletionChunk[]> {
  const client = new OpenAI({
    apiKey: target.apiKey,
    baseURL: `${target.baseUrl}/v1`,
    maxRetries: 0,
    organization: null,
    project: null,
  });
  const stream = await client.chat.completions.create({
    ...body,
    stream: true,
  } as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming);
  const seen: OpenAI.Chat.ChatCompletionChunk[] = [];
  for await (const chunk of stream) {
    seen.push(chunk);
    if (stop(chunk, seen.length)) break;
  }
  return seen;
}

/** Global fetch with the raw key, the body read chunk by chunk (as streaming clients do). */
export async function viaFetch(target: CallTarget, body: ChatBody): Promise<RawCall & { chunks: number }> {
  const response = await fetch(`${target.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: target.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const decoder = new TextDecoder();
  let text = '';
  let chunks = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    chunks++;
    text += decoder.decode(chunk, { stream: true });
  }
  text += decoder.decode();
  return { ok: response.ok, status: response.status, text, chunks };
}

/** The `assemblyai` SDK's llmGateway: it sends any extra field as given; it cannot stream. */
export async function viaAssemblyai(target: CallTarget, body: ChatBody): Promise<RawCall> {
  const client = new AssemblyAI({ apiKey: target.apiKey, llmGatewayBaseUrl: target.baseUrl });
  try {
    // It returns the whole body as parsed JSON (response.json()): serialised back, it is what was sent.
    const result = await client.llmGateway.chatCompletions(body as never);
    return { ok: true, status: 200, text: JSON.stringify(result) };
  } catch (error) {
    return { ok: false, status: (error as { status?: number }).status, text: '', error };
  }
}

export interface ClientUnderTest {
  name: string;
  stream: boolean;
  call(target: CallTarget, body: ChatBody): Promise<RawCall>;
}

/** Every (client, streamed or not) pair the Must show names: openai both ways, fetch both ways, assemblyai JSON. */
export const CLIENTS: readonly ClientUnderTest[] = [
  { name: 'openai', stream: false, call: viaOpenai },
  { name: 'openai', stream: true, call: viaOpenai },
  { name: 'fetch', stream: false, call: viaFetch },
  { name: 'fetch', stream: true, call: viaFetch },
  { name: 'assemblyai', stream: false, call: viaAssemblyai },
];

/** The body with the stream fields a streaming client sends (`include_usage`: the usage chunk). */
export function forClient(client: ClientUnderTest, body: ChatBody): ChatBody {
  return client.stream ? { ...body, stream: true, stream_options: { include_usage: true } } : body;
}

/** What the simulated gateway sent, read from the raw body: a JSON completion or an event stream. */
export interface SentFacts {
  model?: string;
  usage?: Record<string, any>;
  llmStatusCode?: number;
  responseTime?: number;
  /** The finish reasons by choice index (undefined where none came). */
  finishReasons: (string | undefined)[];
  /** The JSON completion, or the stream's chunks. */
  json?: Record<string, any>;
  chunks: Record<string, any>[];
}

export function sentFacts(text: string): SentFacts {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    const json = JSON.parse(trimmed) as Record<string, any>;
    const finishReasons: (string | undefined)[] = [];
    (json.choices as Record<string, any>[] | undefined)?.forEach((choice, position) => {
      finishReasons[choice.index ?? position] = choice.finish_reason ?? undefined;
    });
    return {
      model: json.model,
      usage: json.usage,
      llmStatusCode: json.llm_status_code,
      responseTime: json.response_time,
      finishReasons,
      json,
      chunks: [],
    };
  }
  const chunks: Record<string, any>[] = [];
  for (const event of text.split('\n\n')) {
    if (!event.startsWith('data: {')) continue;
    try {
      chunks.push(JSON.parse(event.slice('data: '.length)) as Record<string, any>);
    } catch {
      // a truncated last event
    }
  }
  const finishReasons: (string | undefined)[] = [];
  for (const chunk of chunks)
    for (const choice of (chunk.choices ?? []) as Record<string, any>[])
      if (choice.finish_reason) finishReasons[choice.index] = choice.finish_reason;
  const last = <T>(pick: (chunk: Record<string, any>) => T | undefined): T | undefined =>
    chunks
      .map(pick)
      .filter((v) => v !== undefined && v !== null)
      .at(-1);
  return {
    model: chunks[0]?.model,
    usage: last((c) => c.usage),
    llmStatusCode: last((c) => c.llm_status_code),
    responseTime: last((c) => c.response_time),
    finishReasons,
    chunks,
  };
}
