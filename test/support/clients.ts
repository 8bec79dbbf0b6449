import { AssemblyAI } from 'assemblyai';
import axios from 'axios';
import http from 'node:http';
import https from 'node:https';
import nodeFetch from 'node-fetch';
import OpenAI from 'openai';
import { type ChatOptions, requestBody } from './chat-request';

export type { ChatOptions } from './chat-request';

/** What a client call returned to the application, and the bodies that crossed the wire. */
export interface ClientResult {
  ok: boolean;
  status?: number;
  /** The response bodies the application received (text), in order, for request_id checks. */
  bodies: string[];
  error?: unknown;
}

export interface GatewayClient {
  name: string;
  canStream: boolean;
  chat(options: ChatOptions): Promise<ClientResult>;
}

/** Global fetch, as the gateway docs' own examples call it (raw key, no Bearer). */
export const fetchClient: GatewayClient = {
  name: 'fetch',
  canStream: true,
  async chat(o) {
    const response = await fetch(`${o.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: o.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify(requestBody(o)),
    });
    const text = await response.text();
    return { ok: response.ok, status: response.status, bodies: [text] };
  },
};

/** The openai SDK pointed at the gateway. A capturing fetch records the bodies it was given. */
export const openaiClient: GatewayClient = {
  name: 'openai',
  canStream: true,
  async chat(o) {
    const bodies: Promise<string>[] = [];
    const client = new OpenAI({
      apiKey: o.apiKey,
      baseURL: `${o.baseUrl}/v1`,
      maxRetries: 0,
      organization: null,
      project: null,
      // Calls the (instrumented) global fetch; the clone is this test's own, not the instrumentation's.
      fetch: async (url, init) => {
        const response = await globalThis.fetch(url, init);
        bodies.push(response.clone().text());
        return response;
      },
    });
    const body = requestBody(o) as unknown as OpenAI.Chat.ChatCompletionCreateParams;
    try {
      if (o.stream) {
        const stream = await client.chat.completions.create({
          ...body,
          stream: true,
        } as OpenAI.Chat.ChatCompletionCreateParamsStreaming);
        for await (const _chunk of stream) {
          // consume
        }
      } else {
        await client.chat.completions.create({
          ...body,
          stream: false,
        } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
      }
      return { ok: true, status: 200, bodies: await Promise.all(bodies) };
    } catch (error) {
      const status = (error as { status?: number }).status;
      return { ok: false, status, bodies: await Promise.all(bodies), error };
    }
  },
};

/** The assemblyai SDK's llmGateway service (no streaming: it refuses stream: true). */
export const assemblyaiClient: GatewayClient = {
  name: 'assemblyai',
  canStream: false,
  async chat(o) {
    const client = new AssemblyAI({ apiKey: o.apiKey, llmGatewayBaseUrl: o.baseUrl });
    try {
      const result = await client.llmGateway.chatCompletions(requestBody(o) as never);
      return { ok: true, status: 200, bodies: [JSON.stringify(result)] };
    } catch (error) {
      const e = error as { status?: number; requestId?: string; message?: string };
      // LlmGatewayError carries the body's request_id; rebuild a body-like record from it.
      return {
        ok: false,
        status: e.status,
        bodies: [JSON.stringify({ request_id: e.requestId, message: e.message })],
        error,
      };
    }
  },
};

/** axios over node:http, streaming with `responseType: 'stream'`; every status resolves. */
export const axiosClient: GatewayClient = {
  name: 'axios',
  canStream: true,
  async chat(o) {
    const response = await axios.post(`${o.baseUrl}/v1/chat/completions`, requestBody(o), {
      headers: { authorization: o.apiKey },
      responseType: 'stream',
      validateStatus: () => true,
    });
    const text = await readAll(response.data as AsyncIterable<Buffer>);
    return { ok: response.status < 300, status: response.status, bodies: [text] };
  },
};

/** node-fetch v2 (the openai v4 SDK's transport) over node:http. */
export const nodeFetchClient: GatewayClient = {
  name: 'node-fetch',
  canStream: true,
  async chat(o) {
    const response = await nodeFetch(`${o.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: o.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify(requestBody(o)),
    });
    const text = await readAll(response.body);
    return { ok: response.ok, status: response.status, bodies: [text] };
  },
};

/** `https.request` as written by hand (node:http for the simulator's http: URL), body in two writes. */
export const httpsRequestClient: GatewayClient = {
  name: 'https.request',
  canStream: true,
  async chat(o) {
    const url = new URL(`${o.baseUrl}/v1/chat/completions`);
    const body = JSON.stringify(requestBody(o));
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request(url, {
        method: 'POST',
        headers: {
          authorization: o.apiKey,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      });
      request.on('response', resolve).on('error', reject);
      request.write(body.slice(0, 10));
      request.end(body.slice(10));
    });
    const text = await readAll(response);
    const status = response.statusCode ?? 0;
    return { ok: status >= 200 && status < 300, status, bodies: [text] };
  },
};

async function readAll(stream: AsyncIterable<Buffer | Uint8Array | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

export const ALL_CLIENTS = [
  fetchClient,
  openaiClient,
  assemblyaiClient,
  axiosClient,
  nodeFetchClient,
  httpsRequestClient,
];

/** The request_id a client's response body carried (success, error, or any stream chunk). */
export function requestIdIn(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { request_id?: string; error?: { request_id?: string } };
    return parsed.request_id ?? parsed.error?.request_id;
  } catch {
    return /"request_id"\s*:\s*"([^"]+)"/.exec(body)?.[1];
  }
}
