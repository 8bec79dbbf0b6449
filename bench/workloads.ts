// What one call of each workload does. Each checks that it got the whole, right response:
// a benchmark that silently reads half a stream, or an error page, measures nothing.
import { CHAT_REQUEST, EVENT_CHUNKS_REQUEST, STREAM_REQUEST, type Payloads } from './payloads';

export type Transport = 'http' | 'tls';

export interface Workload {
  /** `fetch call http`, `openai stream tls`, ... */
  readonly name: string;
  readonly kind: 'call' | 'stream';
  /** Made through the openai SDK (its streams get their own count). */
  readonly sdk: boolean;
  /** Whether its host is one of the instrumentation's gateway hosts. */
  readonly gateway: boolean;
  /** One call (or one stream read to its end); resolves to the body bytes read. */
  once(): Promise<number>;
}

/** Chunks handed to the application by stream reads, to report how finely a body arrived. */
export const streamReads = { count: 0 };

const headers = { authorization: 'Bearer bench-key', 'content-type': 'application/json' };
const chatBody = JSON.stringify(CHAT_REQUEST);
const streamBody = JSON.stringify(STREAM_REQUEST);
const eventChunksBody = JSON.stringify(EVENT_CHUNKS_REQUEST);

export function fetchCall(name: string, url: string, gateway: boolean): Workload {
  return {
    name,
    kind: 'call',
    sdk: false,
    gateway,
    once: async () => {
      const response = await fetch(url, { method: 'POST', headers, body: chatBody });
      const body = (await response.json()) as { request_id?: string };
      if (response.status !== 200 || !body.request_id) throw new Error(`${name}: status ${response.status}`);
      return 0;
    },
  };
}

/**
 * Reads the SSE body with `getReader()` until done, as the gateway's own docs do. The server
 * writes it in HTTP chunks of a few KB, or (`eventChunks`) one chunk per event.
 */
export function fetchStream(name: string, url: string, payloads: Payloads, eventChunks = false): Workload {
  const body = eventChunks ? eventChunksBody : streamBody;
  return {
    name,
    kind: 'stream',
    sdk: false,
    gateway: true,
    once: async () => {
      const response = await fetch(url, { method: 'POST', headers, body });
      const reader = response.body!.getReader();
      let bytes = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        streamReads.count++;
      }
      if (response.status !== 200 || bytes !== payloads.sseBytes)
        throw new Error(`${name}: status ${response.status}, ${bytes} of ${payloads.sseBytes} bytes`);
      return bytes;
    },
  };
}

/** The part of an openai client (6 or 7) the workloads use. */
export interface ChatClient {
  chat: { completions: { create(params: object): Promise<unknown> } };
}

export function openaiCall(name: string, client: ChatClient): Workload {
  return {
    name,
    kind: 'call',
    sdk: true,
    gateway: true,
    once: async () => {
      const completion = (await client.chat.completions.create(CHAT_REQUEST)) as { choices?: unknown[] };
      if (completion.choices?.length !== 1) throw new Error(`${name}: unexpected completion`);
      return 0;
    },
  };
}

/** Iterates the SDK's stream of parsed chunks to its end (the SDK itself parses every event). */
export function openaiStream(name: string, client: ChatClient, payloads: Payloads): Workload {
  return {
    name,
    kind: 'stream',
    sdk: true,
    gateway: true,
    once: async () => {
      const stream = (await client.chat.completions.create(STREAM_REQUEST)) as AsyncIterable<unknown>;
      let events = 0;
      for await (const _chunk of stream) events++;
      if (events !== payloads.sseJsonEvents) throw new Error(`${name}: ${events} of ${payloads.sseJsonEvents} chunks`);
      return payloads.sseBytes;
    },
  };
}
