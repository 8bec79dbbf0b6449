/**
 * Client adapters for the version matrix: the same calls as test/support/clients.ts, made with a
 * client version installed in a scratch app (`.cache/versions/<client>-<version>/`, see
 * scripts/versions.ts) and loaded from there, so its own dependencies come with it. Each client
 * runs with its defaults: the `openai` SDK with the fetch it picks itself (node-fetch over
 * node:http in v4, the global fetch from v5 on).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type ChatOptions, requestBody } from '../support/chat-request';
import type { GatewayClient } from '../support/clients';

/** The clients of the matrix, by the npm name their scratch app installs. */
export const MATRIX_CLIENTS = ['openai', 'axios', 'node-fetch', 'assemblyai', 'undici'] as const;
export type MatrixClient = (typeof MATRIX_CLIENTS)[number];

type Headers = Record<string, string>;

interface ChatError {
  status?: number;
  requestId?: string;
  message?: string;
}

const chatUrl = (o: ChatOptions) => `${o.baseUrl}/v1/chat/completions`;
const jsonHeaders = (o: ChatOptions): Headers => ({ authorization: o.apiKey, 'content-type': 'application/json' });

/** A module's default export, whether it was loaded as CommonJS or (require(esm)) as an ES module. */
function defaultExport<T>(module: unknown): T {
  return ((module as { default?: T }).default ?? module) as T;
}

/** Where `client` resolves from the scratch app at `dir`, and the version found there. */
export function installedVersion(client: MatrixClient, dir: string): { path: string; version: string } {
  const load = createRequire(join(dir, 'package.json'));
  const path = load.resolve(client);
  const manifest = load(join(dir, 'node_modules', client, 'package.json')) as { version: string };
  return { path, version: manifest.version };
}

/** The adapters for `client` as installed in the scratch app at `dir`. */
export function loadMatrixClients(client: MatrixClient, dir: string): GatewayClient[] {
  // Resolved from the scratch app: the client and its dependencies are the tested versions.
  const load = createRequire(join(dir, 'package.json'));
  switch (client) {
    case 'openai':
      return [openaiClient(defaultExport(load('openai')))];
    case 'axios':
      return [axiosClient(defaultExport(load('axios')))];
    case 'node-fetch':
      return [nodeFetchClient(defaultExport(load('node-fetch')))];
    case 'assemblyai':
      return [assemblyaiClient((load('assemblyai') as { AssemblyAI: AssemblyAIConstructor }).AssemblyAI)];
    case 'undici': {
      const undici = load('undici') as Undici;
      return [undiciFetchClient(undici), undiciRequestClient(undici)];
    }
  }
}

interface OpenAIClient {
  chat: { completions: { create(body: Record<string, unknown>): Promise<unknown> } };
}
type OpenAIConstructor = new (options: Record<string, unknown>) => OpenAIClient;

/**
 * The `openai` SDK with its own fetch. The bodies are what the SDK hands back: the completion
 * (it keeps the body's `request_id`) or the stream's chunks; an APIError keeps only the body's
 * `error` member, so for errors the case checks the request_id's shape, not its value.
 */
function openaiClient(OpenAI: OpenAIConstructor): GatewayClient {
  return {
    name: 'openai',
    canStream: true,
    async chat(o) {
      const client = new OpenAI({
        apiKey: o.apiKey,
        baseURL: `${o.baseUrl}/v1`,
        maxRetries: 0,
        organization: null,
        project: null,
      });
      try {
        const result = await client.chat.completions.create(requestBody(o));
        if (!o.stream) return { ok: true, status: 200, bodies: [JSON.stringify(result)] };
        const events: string[] = [];
        for await (const chunk of result as AsyncIterable<unknown>) events.push(`data: ${JSON.stringify(chunk)}\n\n`);
        return { ok: true, status: 200, bodies: [events.join('')] };
      } catch (error) {
        return { ok: false, status: (error as ChatError).status, bodies: [], error };
      }
    },
  };
}

interface AxiosResponse {
  status: number;
  data: AsyncIterable<Buffer>;
}
type Axios = { post(url: string, body: unknown, config: Record<string, unknown>): Promise<AxiosResponse> };

function axiosClient(axios: Axios): GatewayClient {
  return {
    name: 'axios',
    canStream: true,
    async chat(o) {
      const response = await axios.post(chatUrl(o), requestBody(o), {
        headers: { authorization: o.apiKey },
        responseType: 'stream',
        validateStatus: () => true,
      });
      return { ok: response.status < 300, status: response.status, bodies: [await readAll(response.data)] };
    },
  };
}

type NodeFetch = (
  url: string,
  init: Record<string, unknown>,
) => Promise<{ ok: boolean; status: number; body: AsyncIterable<Buffer> }>;

/** node-fetch 2 (CommonJS) or 3 (an ES module, loaded with require(esm)), over node:http. */
function nodeFetchClient(nodeFetch: NodeFetch): GatewayClient {
  return {
    name: 'node-fetch',
    canStream: true,
    async chat(o) {
      const response = await nodeFetch(chatUrl(o), {
        method: 'POST',
        headers: jsonHeaders(o),
        body: JSON.stringify(requestBody(o)),
      });
      return { ok: response.ok, status: response.status, bodies: [await readAll(response.body)] };
    },
  };
}

type AssemblyAIConstructor = new (options: Record<string, unknown>) => {
  llmGateway: { chatCompletions(request: unknown): Promise<unknown> };
};

/** The assemblyai SDK's llmGateway service (it refuses stream: true). */
function assemblyaiClient(AssemblyAI: AssemblyAIConstructor): GatewayClient {
  return {
    name: 'assemblyai',
    canStream: false,
    async chat(o) {
      const client = new AssemblyAI({ apiKey: o.apiKey, llmGatewayBaseUrl: o.baseUrl });
      try {
        const result = await client.llmGateway.chatCompletions(requestBody(o));
        return { ok: true, status: 200, bodies: [JSON.stringify(result)] };
      } catch (error) {
        const e = error as ChatError;
        // LlmGatewayError carries the body's request_id.
        return {
          ok: false,
          status: e.status,
          bodies: [JSON.stringify({ request_id: e.requestId, message: e.message })],
          error,
        };
      }
    },
  };
}

interface Undici {
  fetch(url: string, init: Record<string, unknown>): Promise<{ ok: boolean; status: number; text(): Promise<string> }>;
  request(
    url: string,
    options: Record<string, unknown>,
  ): Promise<{ statusCode: number; body: { text(): Promise<string> } }>;
}

/** npm undici's own fetch: not the global one, so no global wrapper sees it. */
function undiciFetchClient(undici: Undici): GatewayClient {
  return {
    name: 'undici fetch',
    canStream: true,
    async chat(o) {
      const response = await undici.fetch(chatUrl(o), {
        method: 'POST',
        headers: jsonHeaders(o),
        body: JSON.stringify(requestBody(o)),
      });
      return { ok: response.ok, status: response.status, bodies: [await response.text()] };
    },
  };
}

/** npm undici's `request()`, its fastest API, which goes through no fetch at all. */
function undiciRequestClient(undici: Undici): GatewayClient {
  return {
    name: 'undici request',
    canStream: true,
    async chat(o) {
      const { statusCode, body } = await undici.request(chatUrl(o), {
        method: 'POST',
        headers: jsonHeaders(o),
        body: JSON.stringify(requestBody(o)),
      });
      const text = await body.text();
      return { ok: statusCode >= 200 && statusCode < 300, status: statusCode, bodies: [text] };
    },
  };
}

async function readAll(stream: AsyncIterable<Buffer | Uint8Array | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}
