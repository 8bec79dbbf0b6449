/**
 * A simulated AssemblyAI LLM Gateway on loopback.
 *
 * It answers like the live gateway described in shared/reference/gateway-api.md (the response
 * shapes, the two error envelopes, the per-model rate-limit headers, the vLLM-style SSE stream)
 * so the `openai` SDK, the `assemblyai` SDK, axios, node-fetch and raw fetch all work against it.
 * Scenarios (forced statuses, other error envelopes, broken streams, huge bodies) are chosen per
 * request with `x-sim-*` headers or an `x_sim` object in the JSON body.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { constants as zlibConstants, createGzip, gzip } from 'node:zlib';
import { PromptCache, type CacheUse } from './prompt-cache';
import { jsonReplyFor, toolCallFor, type SimulatedToolCall, type ToolDefinition } from './structured';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/** One entry of `GET /v1/models` (the fields the live catalog returns). */
export interface ModelInfo {
  id: string;
  name: string;
  description: string;
  creator: string;
  context_length: number;
  supported_parameters: string[];
  default_parameters: Record<string, unknown>;
  top_provider: { is_moderated: boolean; context_length: number; max_completion_tokens: number };
  pricing: { global: { prompt: string; completions: string } };
  /** 0 = not retiring; otherwise a unix timestamp (seconds). In the past = retired. */
  retirement_date: number;
  available_regions: string[];
}

export type ErrorEnvelope = 'seed' | 'flat' | 'auth' | 'documented' | 'html' | 'empty';

export type ScenarioMode =
  'json-instead-of-stream' | 'gzip' | 'truncate' | 'reset' | 'stall' | 'slow' | 'request-id-header';

/** The `x_sim` object a client may put at the top level of a JSON request body. */
export interface ScenarioRequest {
  status?: number;
  envelope?: ErrorEnvelope;
  /** One ScenarioMode, a comma-separated list of them, or an array. */
  mode?: ScenarioMode[] | string;
  replyBytes?: number;
  streamRequestId?: boolean;
  /** Report this many cached input tokens (at most the input), whatever the prompt cache says. */
  cachedTokens?: number;
  /** Report this many reasoning tokens (added to the output tokens). */
  reasoningTokens?: number;
  /** Models whose provider fails (the gateway then tries the request's `fallbacks`); a list or comma-separated. */
  failModels?: string[] | string;
  /** Answer with a call of the first tool of `tools` (or the one `tool_choice` names). */
  toolCall?: boolean;
  /** Where a JSON reply puts `tool_calls`: on the message (default, the newer docs) or on the choice (the spec). */
  toolCallsAt?: 'message' | 'choice';
  /** Usage detail names: `openai` (`prompt_tokens_details.cached_tokens`, default) or `anthropic` (`cache_read_input_tokens`). */
  usageNames?: 'openai' | 'anthropic';
  /** Put `llm_status_code` and `response_time` on the last chunk of a stream too. */
  streamEnvelope?: boolean;
}

/** The request headers equivalent to the `x_sim` body fields. */
export const SCENARIO_HEADERS = {
  status: 'x-sim-status',
  envelope: 'x-sim-envelope',
  mode: 'x-sim-mode',
  replyBytes: 'x-sim-reply-bytes',
  streamRequestId: 'x-sim-stream-request-id',
  cachedTokens: 'x-sim-cached-tokens',
  reasoningTokens: 'x-sim-reasoning-tokens',
  failModels: 'x-sim-fail-models',
  toolCall: 'x-sim-tool-call',
  toolCallsAt: 'x-sim-tool-calls-at',
  usageNames: 'x-sim-usage-names',
  streamEnvelope: 'x-sim-stream-envelope',
} as const;

export interface SimulatedGatewayOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. Anything but loopback is refused unless `allowNonLoopback` is set. */
  host?: string;
  allowNonLoopback?: boolean;
  /** Requests per model per window (default 30, the documented paid-tier limit). */
  rateLimit?: number;
  /** Length of the fixed rate-limit window (default 60). */
  windowSeconds?: number;
  /** Delay before every response head (default 0). */
  latencyMs?: number;
  /** Delay between SSE events (default 0). */
  chunkDelayMs?: number;
  /** Which API keys authenticate. Default: any non-empty key that does not start with "bad". */
  acceptKey?: (key: string) => boolean;
  /** Replaces the built-in catalog. */
  models?: ModelInfo[];
}

export interface SimulatedGateway {
  /** `http://127.0.0.1:PORT` (no `/v1`). */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** Stops listening and destroys every open socket (stalled streams included). */
  close(): Promise<void>;
  resetRateLimits(): void;
  /** Forgets every cached prompt prefix. */
  resetPromptCache(): void;
  /** Number of requests received so far. */
  readonly requests: number;
}

/** Status -> stable error code, from reference/api-errors.txt. */
export const ERROR_CODES: Readonly<Record<number, string>> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
  500: 'internal_error',
  502: 'bad_gateway',
  503: 'upstream_unavailable',
  504: 'timeout',
};

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

const FULL_PARAMETERS = ['max_tokens', 'temperature', 'top_p', 'stream', 'tools', 'tool_choice', 'response_format'];

function model(
  id: string,
  name: string,
  creator: string,
  contextLength: number,
  maxCompletionTokens: number,
  prices: [prompt: string, completions: string],
  details: Partial<Pick<ModelInfo, 'supported_parameters' | 'available_regions' | 'retirement_date'>> = {},
): ModelInfo {
  return {
    id,
    name,
    description: `${name} by ${creator}, served through the AssemblyAI LLM Gateway (simulated).`,
    creator,
    context_length: contextLength,
    supported_parameters: details.supported_parameters ?? FULL_PARAMETERS,
    default_parameters: {},
    top_provider: { is_moderated: false, context_length: contextLength, max_completion_tokens: maxCompletionTokens },
    pricing: { global: { prompt: prices[0], completions: prices[1] } },
    retirement_date: details.retirement_date ?? 0,
    available_regions: details.available_regions ?? ['us', 'eu'],
  };
}

/** A small catalog shaped like the live one (March-September 2026 ids). */
export const DEFAULT_MODELS: readonly ModelInfo[] = [
  model('claude-sonnet-4-6', 'Claude Sonnet 4.6', 'anthropic', 200_000, 64_000, ['0.000003', '0.000015']),
  model('claude-opus-4-6', 'Claude Opus 4.6', 'anthropic', 200_000, 32_000, ['0.000005', '0.000025']),
  model('claude-haiku-4-5-20251001', 'Claude Haiku 4.5', 'anthropic', 200_000, 64_000, ['0.000001', '0.000005']),
  model('gpt-5', 'GPT-5', 'openai', 400_000, 128_000, ['0.00000125', '0.00001'], { available_regions: ['us'] }),
  model('gpt-5-mini', 'GPT-5 mini', 'openai', 400_000, 128_000, ['0.00000025', '0.000002'], {
    available_regions: ['us'],
  }),
  // The live catalog lists `stream` for every model except gpt-oss-*; the docs say gpt-oss has no response_format.
  model('gpt-oss-20b', 'gpt-oss-20b', 'openai', 131_072, 32_768, ['0.00000007', '0.0000003'], {
    supported_parameters: ['max_tokens', 'temperature', 'top_p', 'tools', 'tool_choice'],
    available_regions: ['us'],
  }),
  model('gemini-2.5-flash', 'Gemini 2.5 Flash', 'google', 1_048_576, 65_536, ['0.0000003', '0.0000025']),
  // Live: qwen rejects tools, tool_choice and response_format with a 400.
  model('qwen3.5-4b-32k-fast', 'Qwen3.5 4B (32k, fast)', 'qwen', 32_768, 8_192, ['0.00000005', '0.0000002'], {
    supported_parameters: ['max_tokens', 'temperature', 'top_p', 'stream'],
  }),
  model('claude-3-haiku-20240307', 'Claude 3 Haiku', 'anthropic', 200_000, 4_096, ['0.00000025', '0.00000125'], {
    retirement_date: Date.UTC(2026, 3, 20) / 1000, // the documented retirement, 2026-04-20
  }),
];

function isRetired(info: ModelInfo, now = Date.now()): boolean {
  return info.retirement_date > 0 && info.retirement_date * 1000 <= now;
}

// ---------------------------------------------------------------------------------------------
// Errors and envelopes
// ---------------------------------------------------------------------------------------------

interface GatewayError {
  status: number;
  message: string;
  /** `metadata.errors` of the flat envelope (omitted when absent, as on live 404/429 bodies). */
  details?: string[];
  /** The offending field, for the seed envelope. */
  param?: string;
  /** The envelope the live gateway uses for this error when no scenario overrides it. */
  envelope: ErrorEnvelope;
  /** More top-level fields of the flat envelope (the provider's status behind an upstream failure). */
  extra?: Record<string, unknown>;
}

const NO_ACCESS_MESSAGE =
  'Your account does not have access to LLM Gateway. Please upgrade or contact us at support@assemblyai.com for more information.';
const BAD_KEY_MESSAGE = 'Authentication error, API token missing/invalid';

const DEFAULT_MESSAGES: Readonly<Record<number, string>> = {
  400: 'invalid request body',
  401: BAD_KEY_MESSAGE,
  403: 'Your account does not have access to this LLM Gateway model',
  404: 'not found',
  409: 'conflict',
  413: 'request body too large',
  415: 'content-type must be application/json',
  422: 'request could not be processed',
  429: 'too many requests for this action',
  500: 'internal server error',
  502: 'bad gateway',
  503: 'upstream model provider unavailable',
  504: 'upstream request timed out',
};

/** The field a forced 400/422 names in the seed envelope's `param`. */
const FORCED_PARAMS: Readonly<Record<number, string>> = { 400: 'model', 422: 'messages' };

function errorCode(status: number): string {
  return ERROR_CODES[status] ?? `http_${status}`;
}

function forcedError(status: number): GatewayError {
  const message = DEFAULT_MESSAGES[status] ?? (STATUS_CODES[status] ?? 'error').toLowerCase();
  return { status, message, details: [message], param: FORCED_PARAMS[status], envelope: 'seed' };
}

function invalidRequest(details: string[], param?: string): GatewayError {
  return { status: 400, message: 'invalid request body', details, param, envelope: 'flat' };
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `req_` + 26 Crockford base32 characters, the id format of the seed envelope. */
function seedRequestId(): string {
  const bytes = randomBytes(26);
  let id = 'req_';
  for (const byte of bytes) id += CROCKFORD[byte & 31];
  return id;
}

interface RenderedError {
  contentType?: string;
  body: Buffer;
  /** The id the body carries, if any (echoed by the `request-id-header` mode). */
  requestId?: string;
}

function renderError(error: GatewayError, envelope: ErrorEnvelope, uuid: string): RenderedError {
  const json = (value: unknown, requestId?: string): RenderedError => ({
    contentType: 'application/json',
    body: Buffer.from(JSON.stringify(value)),
    requestId,
  });
  switch (envelope) {
    case 'seed': {
      const requestId = seedRequestId();
      const param = error.status === 400 || error.status === 422 ? error.param : undefined;
      const message = error.details?.join('; ') ?? error.message;
      return json({ error: { code: errorCode(error.status), message, param, request_id: requestId } }, requestId);
    }
    case 'flat': {
      const metadata = error.details ? { metadata: { errors: error.details } } : {};
      return json({ ...metadata, request_id: uuid, message: error.message, code: error.status, ...error.extra }, uuid);
    }
    case 'auth':
      return json({ error: error.message, status: 'error', request_id: uuid }, uuid);
    case 'documented':
      return json({ error: { code: error.status, message: error.details?.join('; ') ?? error.message, metadata: {} } });
    case 'html':
      return { contentType: 'text/html', body: Buffer.from(proxyErrorPage(error.status)) };
    case 'empty':
      return { body: Buffer.alloc(0) };
  }
}

/** What an nginx in front of the gateway sends when the upstream fails. */
function proxyErrorPage(status: number): string {
  const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  return (
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n` +
    `<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`
  );
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

const ENVELOPES: readonly ErrorEnvelope[] = ['seed', 'flat', 'auth', 'documented', 'html', 'empty'];
const MODES: readonly ScenarioMode[] = [
  'json-instead-of-stream',
  'gzip',
  'truncate',
  'reset',
  'stall',
  'slow',
  'request-id-header',
];
/** Large enough for any benchmark, small enough to stay below V8's string limit. */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

interface Scenario {
  status?: number;
  envelope?: ErrorEnvelope;
  modes: ReadonlySet<ScenarioMode>;
  replyBytes?: number;
  streamRequestId: boolean;
  cachedTokens?: number;
  reasoningTokens?: number;
  failModels: ReadonlySet<string>;
  toolCall: boolean;
  toolCallsAt: 'message' | 'choice';
  usageNames: 'openai' | 'anthropic';
  streamEnvelope: boolean;
}

const NO_SCENARIO: Scenario = {
  modes: new Set(),
  streamRequestId: false,
  failModels: new Set(),
  toolCall: false,
  toolCallsAt: 'message',
  usageNames: 'openai',
  streamEnvelope: false,
};

function isTrue(value: unknown): boolean {
  return value === true || value === 'true' || value === '1';
}

/**
 * A list field of `x_sim` (an array, or a comma-separated string) as its non-empty items,
 * trimmed; an item that is not a string as JSON. Undefined when the field is neither.
 */
function listField(value: unknown): string[] | undefined {
  const items: unknown[] | undefined =
    typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  return items?.map((item) => (typeof item === 'string' ? item : JSON.stringify(item)).trim()).filter(Boolean);
}

type Parsed<T> = { ok: true; value: T } | { ok: false; error: GatewayError };

/** Merges the body's `x_sim` with the `x-sim-*` headers (headers win) and validates the result. */
function readScenario(req: IncomingMessage, body: unknown): Parsed<Scenario> {
  const fromBody = isObject(body) && isObject(body.x_sim) ? body.x_sim : {};
  const raw: Record<string, unknown> = { ...fromBody };
  for (const [field, header] of Object.entries(SCENARIO_HEADERS)) {
    const value = req.headers[header];
    if (typeof value === 'string') raw[field] = value;
  }

  const problems: string[] = [];
  const scenario: Scenario = { ...NO_SCENARIO, modes: new Set(), failModels: new Set() };

  if (raw.status !== undefined) {
    const status = Number(raw.status);
    if (Number.isInteger(status) && status >= 400 && status <= 599) scenario.status = status;
    else problems.push(`x_sim.status must be an HTTP status from 400 to 599, got ${JSON.stringify(raw.status)}`);
  }
  if (raw.envelope !== undefined) {
    if (ENVELOPES.includes(raw.envelope as ErrorEnvelope)) scenario.envelope = raw.envelope as ErrorEnvelope;
    else problems.push(`x_sim.envelope must be one of ${ENVELOPES.join(', ')}`);
  }
  if (raw.mode !== undefined) {
    const modes = listField(raw.mode);
    if (modes === undefined) problems.push('x_sim.mode must be a mode, a comma-separated list of modes, or an array');
    for (const mode of modes ?? []) {
      if (MODES.includes(mode as ScenarioMode)) (scenario.modes as Set<ScenarioMode>).add(mode as ScenarioMode);
      else problems.push(`x_sim.mode ${JSON.stringify(mode)} is not one of ${MODES.join(', ')}`);
    }
  }
  if (raw.replyBytes !== undefined) {
    const bytes = Number(raw.replyBytes);
    if (Number.isInteger(bytes) && bytes >= 1 && bytes <= MAX_REPLY_BYTES) scenario.replyBytes = bytes;
    else problems.push(`x_sim.replyBytes must be an integer from 1 to ${MAX_REPLY_BYTES}`);
  }
  if (raw.streamRequestId !== undefined) scenario.streamRequestId = isTrue(raw.streamRequestId);
  for (const field of ['cachedTokens', 'reasoningTokens'] as const) {
    if (raw[field] === undefined) continue;
    const tokens = Number(raw[field]);
    if (Number.isInteger(tokens) && tokens >= 0 && tokens <= 10_000_000) scenario[field] = tokens;
    else problems.push(`x_sim.${field} must be an integer from 0 to 10000000`);
  }
  if (raw.failModels !== undefined) {
    const models = listField(raw.failModels);
    if (models === undefined) problems.push('x_sim.failModels must be a comma-separated list of models, or an array');
    else scenario.failModels = new Set(models);
  }
  if (raw.toolCall !== undefined) scenario.toolCall = isTrue(raw.toolCall);
  if (raw.streamEnvelope !== undefined) scenario.streamEnvelope = isTrue(raw.streamEnvelope);
  if (raw.toolCallsAt !== undefined) {
    if (raw.toolCallsAt === 'message' || raw.toolCallsAt === 'choice') scenario.toolCallsAt = raw.toolCallsAt;
    else problems.push('x_sim.toolCallsAt must be message or choice');
  }
  if (raw.usageNames !== undefined) {
    if (raw.usageNames === 'openai' || raw.usageNames === 'anthropic') scenario.usageNames = raw.usageNames;
    else problems.push('x_sim.usageNames must be openai or anthropic');
  }

  return problems.length ? { ok: false, error: invalidRequest(problems, 'x_sim') } : { ok: true, value: scenario };
}

/** The mode that cuts a response short, if any (one is enough; stall wins, then reset). */
function interruption(scenario: Scenario): 'stall' | 'reset' | 'truncate' | undefined {
  for (const mode of ['stall', 'reset', 'truncate'] as const) if (scenario.modes.has(mode)) return mode;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Chat requests
// ---------------------------------------------------------------------------------------------

interface ChatRequest {
  model: ModelInfo;
  /** The messages as sent (objects only), for the prompt cache. */
  messages: Record<string, any>[];
  /** The text of every message (and the prompt), for the input token count. */
  texts: string[];
  lastUserText: string;
  /** The last message is a tool result: the model answers it in text, not with another call. */
  answersToolResult: boolean;
  maxTokens: number;
  temperature?: number;
  stream: boolean;
  includeUsage: boolean;
  /** `n`: how many choices to return. */
  choices: number;
  tools: ToolDefinition[];
  toolChoice: 'auto' | 'none' | 'required' | { name: string };
  responseFormat?: { type: 'json_object' } | { type: 'json_schema'; schema: unknown };
  reasoningEffort?: ReasoningEffort;
  /** The request's `fallbacks`, in order, with their overrides. */
  fallbacks: Array<{ model: ModelInfo; maxTokens?: number; temperature?: number }>;
}

const DEFAULT_MAX_TOKENS = 1000; // SPEC default
/** Parameters the live gateway rejects when the model's `supported_parameters` lacks them. */
const GATED_PARAMETERS = ['temperature', 'top_p', 'top_k', 'tools', 'tool_choice', 'response_format'];
const MAX_CHOICES = 8;
const MAX_FALLBACKS = 8;
type ReasoningEffort = 'minimal' | 'low' | 'medium' | 'high';
/** Reasoning tokens spent per effort (undocumented for the gateway: a plausible scale). */
const REASONING_TOKENS: Readonly<Record<ReasoningEffort, number>> = { minimal: 0, low: 128, medium: 512, high: 2048 };
/** What `{{ transcript }}` becomes for a known transcript_id (ids starting with "missing" are unknown). */
const TRANSCRIPT_TEXT =
  'Speaker A: Thanks for joining the call. Speaker B: Happy to be here, let us review the launch plan.';

function validateChatRequest(body: unknown, models: ReadonlyMap<string, ModelInfo>): Parsed<ChatRequest> {
  if (!isObject(body)) return { ok: false, error: invalidRequest(['request body must be a JSON object']) };

  const errors: string[] = [];
  let param: string | undefined;
  const fail = (message: string, field: string) => {
    errors.push(message);
    param ??= field;
  };

  const info = typeof body.model === 'string' ? models.get(body.model) : undefined;
  if (info && isRetired(info)) {
    return { ok: false, error: { status: 404, message: `model ${info.id} has been retired`, envelope: 'flat' } };
  }
  if (typeof body.model !== 'string' || body.model === '') fail('model is required', 'model');
  else if (!info) fail(`model ${body.model} is not supported`, 'model');

  const hasMessages = body.messages !== undefined && body.messages !== null;
  const hasPrompt = body.prompt !== undefined && body.prompt !== null;
  if (!hasMessages && !hasPrompt) fail('one of messages or prompt required', 'messages');
  if (hasMessages && !Array.isArray(body.messages)) fail('messages must be an array', 'messages');
  if (hasPrompt && typeof body.prompt !== 'string') fail('prompt must be a string', 'prompt');

  const contextLength = info?.context_length ?? Number.MAX_SAFE_INTEGER;
  // The newer OpenAI name counts when max_tokens is absent (the openai SDK sends it).
  const maxTokens = body.max_tokens ?? body.max_completion_tokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1 || (maxTokens as number) >= contextLength) {
    fail(`max_tokens must be an integer in [1, ${info ? contextLength : 'context_length'})`, 'max_tokens');
  }
  const temperature = body.temperature;
  if (temperature !== undefined && (typeof temperature !== 'number' || temperature < 0 || temperature > 2)) {
    fail('temperature must be a number between 0 and 2', 'temperature');
  }

  if (info) {
    for (const name of GATED_PARAMETERS) {
      if (body[name] !== undefined && body[name] !== null && !info.supported_parameters.includes(name)) {
        fail(`model ${info.id} does not support ${name}`, name);
      }
    }
    if (body.stream === true && !info.supported_parameters.includes('stream')) {
      fail(`model ${info.id} does not support stream`, 'stream');
    }
  }
  const extras = validateExtras(body, models, fail);

  if (errors.length || !info || !extras) return { ok: false, error: invalidRequest(errors, param) };
  if (typeof body.transcript_id === 'string' && body.transcript_id.startsWith('missing')) {
    return { ok: false, error: { status: 404, message: 'transcript not found', envelope: 'flat' } };
  }

  const messages = Array.isArray(body.messages) ? body.messages.filter(isObject) : [];
  if (typeof body.transcript_id === 'string') substituteTranscript(messages);
  const texts = messages.map((message) => messageText(message.content));
  const userTexts = messages
    .filter((message) => message.role === 'user')
    .map((message) => messageText(message.content));
  if (typeof body.prompt === 'string') {
    texts.push(body.prompt);
    userTexts.push(body.prompt);
  }
  const streamOptions = isObject(body.stream_options) ? body.stream_options : {};
  return {
    ok: true,
    value: {
      model: info,
      messages,
      texts,
      lastUserText: userTexts.at(-1) ?? '',
      answersToolResult: messages.at(-1)?.role === 'tool',
      maxTokens: maxTokens as number,
      temperature: typeof temperature === 'number' ? temperature : undefined,
      stream: body.stream === true,
      includeUsage: streamOptions.include_usage === true,
      ...extras,
    },
  };
}

type Extras = Pick<
  ChatRequest,
  'choices' | 'tools' | 'toolChoice' | 'responseFormat' | 'reasoningEffort' | 'fallbacks'
>;

/** n, tools, tool_choice, response_format, reasoning, model_region and fallbacks; undefined when any is wrong. */
function validateExtras(
  body: Record<string, any>,
  models: ReadonlyMap<string, ModelInfo>,
  fail: (message: string, field: string) => void,
): Extras | undefined {
  let ok = true;
  const wrong = (message: string, field: string) => {
    ok = false;
    fail(message, field);
  };
  const choices = body.n ?? 1;
  if (!Number.isInteger(choices) || choices < 1 || choices > MAX_CHOICES)
    wrong(`n must be an integer from 1 to ${MAX_CHOICES}`, 'n');
  // Live: "us" gives 400 "model_region can only be set to global".
  if (body.model_region !== undefined && body.model_region !== 'global')
    wrong('model_region can only be set to global', 'model_region');

  const effort = body.reasoning_effort ?? (isObject(body.reasoning) ? body.reasoning.effort : undefined);
  if (effort !== undefined && !(effort in REASONING_TOKENS))
    wrong(`reasoning_effort must be one of ${Object.keys(REASONING_TOKENS).join(', ')}`, 'reasoning_effort');

  const tools: ToolDefinition[] = [];
  if (body.tools !== undefined && body.tools !== null) {
    const valid =
      Array.isArray(body.tools) &&
      body.tools.every(
        (t: unknown) =>
          isObject(t) && t.type === 'function' && isObject(t.function) && typeof t.function.name === 'string',
      );
    if (valid)
      for (const tool of body.tools) tools.push({ name: tool.function.name, parameters: tool.function.parameters });
    else wrong('tools must be an array of {type: "function", function: {name, parameters?}}', 'tools');
  }
  const toolChoice = toolChoiceOf(body.tool_choice, tools);
  if (toolChoice === undefined)
    wrong(
      'tool_choice must be none, auto, required or {type: "function", function: {name}} naming one of tools',
      'tool_choice',
    );

  const format = body.response_format;
  let responseFormat: Extras['responseFormat'];
  if (format !== undefined && format !== null) {
    if (
      isObject(format) &&
      format.type === 'json_schema' &&
      isObject(format.json_schema) &&
      isObject(format.json_schema.schema)
    ) {
      responseFormat = { type: 'json_schema', schema: format.json_schema.schema };
    } else if (isObject(format) && format.type === 'json_object') responseFormat = { type: 'json_object' };
    else if (!(isObject(format) && format.type === 'text'))
      wrong(
        'response_format must be {type: "json_schema", json_schema: {name, schema}}, {type: "json_object"} or {type: "text"}',
        'response_format',
      );
  }

  const fallbacks: Extras['fallbacks'] = [];
  if (body.fallbacks !== undefined && body.fallbacks !== null) {
    if (!Array.isArray(body.fallbacks) || body.fallbacks.length > MAX_FALLBACKS)
      wrong(`fallbacks must be an array of at most ${MAX_FALLBACKS} {model} objects`, 'fallbacks');
    else {
      for (const entry of body.fallbacks) {
        const model = isObject(entry) && typeof entry.model === 'string' ? models.get(entry.model) : undefined;
        if (!model || isRetired(model)) {
          wrong(
            `fallback model ${isObject(entry) ? String(entry.model) : String(entry)} is not supported`,
            'fallbacks',
          );
          continue;
        }
        fallbacks.push({
          model,
          maxTokens: Number.isInteger(entry.max_tokens) && entry.max_tokens >= 1 ? entry.max_tokens : undefined,
          temperature: typeof entry.temperature === 'number' ? entry.temperature : undefined,
        });
      }
    }
  }
  if (!ok || toolChoice === undefined) return undefined;
  return {
    choices,
    tools,
    toolChoice,
    responseFormat,
    reasoningEffort: effort as ReasoningEffort | undefined,
    fallbacks,
  };
}

function toolChoiceOf(choice: unknown, tools: ToolDefinition[]): ChatRequest['toolChoice'] | undefined {
  if (choice === undefined || choice === null || choice === 'auto') return 'auto';
  if (choice === 'none' || choice === 'required') return choice;
  if (isObject(choice) && isObject(choice.function) && tools.some((t) => t.name === choice.function.name))
    return { name: choice.function.name };
  return undefined;
}

/** Replaces the first literal `{{ transcript }}` in the first message holding it, as the gateway does. */
function substituteTranscript(messages: Record<string, any>[]): void {
  const TAG = '{{ transcript }}';
  const index = messages.findIndex((m) => typeof m.content === 'string' && m.content.includes(TAG));
  if (index === -1) return;
  messages[index] = { ...messages[index], content: messages[index].content.replace(TAG, TRANSCRIPT_TEXT) };
}

/** `content` is a string, or (for user messages) an array of `{type:"text", text}` parts. */
function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((part): part is { text: string } => isObject(part) && typeof part.text === 'string')
    .map((part) => part.text)
    .join(' ');
}

// ---------------------------------------------------------------------------------------------
// Replies (tokens = whitespace-separated words)
// ---------------------------------------------------------------------------------------------

const LOREM =
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.';

/** About 1 KB of lorem ending in a space: the repeated unit of large replies and their stream chunks. */
const LARGE_UNIT = `${LOREM} `.repeat(Math.ceil(1024 / (LOREM.length + 1)));
const LARGE_UNIT_TOKENS = countWords(LARGE_UNIT);

interface ReplyPiece {
  text: string;
  tokens: number;
}

interface Reply {
  /** The content in stream-sized pieces: one word each, ~1 KB each for `replyBytes`, 4 characters of JSON. */
  pieces: ReplyPiece[];
  /** Visible output tokens of one choice (reasoning tokens are counted apart). */
  outputTokens: number;
  finishReason: 'stop' | 'length' | 'tool_calls';
  /** A tool-call reply has no content, only these. */
  toolCalls?: SimulatedToolCall[];
}

function countWords(text: string): number {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const space = code === 32 || (code >= 9 && code <= 13);
    if (!space && !inWord) words++;
    inWord = !space;
  }
  return words;
}

function buildReply(request: ChatRequest, scenario: Scenario): Reply {
  if (scenario.replyBytes !== undefined) return largeReply(scenario.replyBytes);
  if (wantsToolCall(request, scenario)) return toolCallReply(request);
  if (request.responseFormat !== undefined) return jsonReply(request, request.responseFormat);
  return wordReply(request);
}

/** A model calls a tool when it was given tools, was not told not to, and has no tool result to answer yet. */
function wantsToolCall(request: ChatRequest, scenario: Scenario): boolean {
  if (request.tools.length === 0 || request.toolChoice === 'none' || request.answersToolResult) return false;
  return scenario.toolCall || request.toolChoice === 'required' || typeof request.toolChoice === 'object';
}

function toolCallReply(request: ChatRequest): Reply {
  const choice = request.toolChoice;
  const tool = typeof choice === 'object' ? request.tools.find((t) => t.name === choice.name)! : request.tools[0];
  const call = toolCallFor(tool, snippetOf(request));
  return {
    pieces: [],
    outputTokens: Math.ceil(call.arguments.length / 4),
    finishReason: 'tool_calls',
    toolCalls: [call],
  };
}

/** JSON content that fits the response_format, streamed 4 characters (about one token) at a time. */
function jsonReply(request: ChatRequest, format: NonNullable<ChatRequest['responseFormat']>): Reply {
  const pieces = (jsonReplyFor(format, snippetOf(request)).match(/[\s\S]{1,4}/g) ?? []).map((text) => ({
    text,
    tokens: 1,
  }));
  const truncated = pieces.length > request.maxTokens;
  const kept = truncated ? pieces.slice(0, request.maxTokens) : pieces;
  return { pieces: kept, outputTokens: kept.length, finishReason: truncated ? 'length' : 'stop' };
}

function snippetOf(request: ChatRequest): string {
  return request.lastUserText.replace(/\s+/g, ' ').trim().slice(0, 40) || '(empty)';
}

/** "Simulated reply to: <start of the last user message>. Lorem ...", cut at max_tokens words. */
function wordReply(request: ChatRequest): Reply {
  const snippet = request.lastUserText.replace(/\s+/g, ' ').trim().slice(0, 40) || '(empty)';
  const stop = /[.!?]$/.test(snippet) ? '' : '.';
  const words = `Simulated reply to: ${snippet}${stop} ${LOREM}`.match(/\S+\s*/g) ?? [];
  const truncated = words.length > request.maxTokens;
  const kept = truncated ? words.slice(0, request.maxTokens) : words;
  if (truncated) kept[kept.length - 1] = kept[kept.length - 1].trimEnd();
  return {
    pieces: kept.map((text) => ({ text, tokens: 1 })),
    outputTokens: kept.length,
    finishReason: truncated ? 'length' : 'stop',
  };
}

/** Exactly `bytes` bytes of ASCII lorem. It ignores max_tokens: the size is the point of the scenario. */
function largeReply(bytes: number): Reply {
  const pieces: ReplyPiece[] = [];
  const whole = Math.floor(bytes / LARGE_UNIT.length);
  // Every whole piece shares one string, so a 64 MB reply costs no more than its final join.
  for (let i = 0; i < whole; i++) pieces.push({ text: LARGE_UNIT, tokens: LARGE_UNIT_TOKENS });
  const rest = LARGE_UNIT.slice(0, bytes % LARGE_UNIT.length);
  if (rest) pieces.push({ text: rest, tokens: countWords(rest) });
  const outputTokens = pieces.reduce((sum, piece) => sum + piece.tokens, 0);
  return { pieces, outputTokens, finishReason: 'stop' };
}

/** Token counts of one completion: the input, its cached parts, and the output with its reasoning. */
interface UsageCounts {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  reasoning: number;
}

function usageCounts(request: ChatRequest, reply: Reply, cache: CacheUse, scenario: Scenario): UsageCounts {
  const input = request.texts.reduce((sum, text) => sum + countWords(text), 0);
  const reasoning =
    scenario.reasoningTokens ?? (request.reasoningEffort ? REASONING_TOKENS[request.reasoningEffort] : 0);
  return {
    input,
    // Reasoning tokens are billed as output: a subset of the output count, as OpenAI reports them.
    output: reply.outputTokens * request.choices + reasoning,
    cacheRead: Math.min(input, scenario.cachedTokens ?? cache.read),
    cacheWrite: Math.min(input, cache.written),
    reasoning,
  };
}

/** The usage object: both naming schemes (as live), with the details in the OpenAI or Anthropic names. */
function usageObject(counts: UsageCounts, names: Scenario['usageNames'], stream: boolean): Record<string, unknown> {
  const { input, output } = counts;
  const base: Record<string, unknown> = stream
    ? { prompt_tokens: input, completion_tokens: output, total_tokens: input + output }
    : {
        input_tokens: input,
        prompt_tokens: input,
        output_tokens: output,
        completion_tokens: output,
        total_tokens: input + output,
      };
  // The live stream's usage had no details; a JSON reply always has them (0 when nothing was cached).
  const details = counts.cacheRead > 0 || counts.cacheWrite > 0 || counts.reasoning > 0;
  if (stream && !details) return base;
  if (names === 'anthropic') {
    base.cache_read_input_tokens = counts.cacheRead;
    base.cache_creation_input_tokens = counts.cacheWrite;
  } else {
    base.prompt_tokens_details =
      counts.cacheWrite > 0
        ? { cached_tokens: counts.cacheRead, cache_write_tokens: counts.cacheWrite }
        : { cached_tokens: counts.cacheRead };
  }
  base.completion_tokens_details = { reasoning_tokens: counts.reasoning };
  return base;
}

function completionBody(
  request: ChatRequest,
  reply: Reply,
  usage: Record<string, unknown>,
  scenario: Scenario,
  requestId: string,
  startedAt: bigint,
): unknown {
  const content = reply.toolCalls ? null : reply.pieces.map((piece) => piece.text).join('');
  const toolCalls = reply.toolCalls?.map((call) => ({
    id: call.id,
    type: 'function',
    function: { name: call.name, arguments: call.arguments },
  }));
  const choices = Array.from({ length: request.choices }, (_, index) => {
    const message: Record<string, unknown> = { role: 'assistant', content };
    // The live reply has no `index`; several choices need one.
    const choice: Record<string, unknown> = request.choices > 1 ? { index } : {};
    choice.message = message;
    choice.finish_reason = reply.finishReason;
    if (toolCalls && scenario.toolCallsAt === 'choice') choice.tool_calls = toolCalls;
    else if (toolCalls) message.tool_calls = toolCalls;
    return choice;
  });
  return {
    request: { model: request.model.id, max_tokens: request.maxTokens, temperature: request.temperature },
    request_id: requestId,
    model: request.model.id,
    choices,
    usage,
    http_status_code: 200,
    response_time: Number(process.hrtime.bigint() - startedAt),
    llm_status_code: 200,
  };
}

const DONE_EVENT = 'data: [DONE]\n\n';

/** The SSE events of a streamed completion, `data: [DONE]` included, built lazily. */
function* completionEvents(
  request: ChatRequest,
  reply: Reply,
  counts: UsageCounts,
  scenario: Scenario,
  requestId: string | undefined,
  startedAt: bigint,
): Generator<string, void, undefined> {
  const base = {
    id: `chatcmpl-${randomBytes(12).toString('hex')}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: request.model.id,
    ...(requestId ? { request_id: requestId } : {}),
  };
  let completionTokens = 0;
  // Like the live vLLM stream: with include_usage, a running usage rides on every chunk; the
  // details (and the reasoning tokens, spent before the first word) only on the last one.
  const running = () =>
    request.includeUsage
      ? {
          usage: {
            prompt_tokens: counts.input,
            completion_tokens: completionTokens,
            total_tokens: counts.input + completionTokens,
          },
        }
      : {};
  const envelope = () =>
    scenario.streamEnvelope ? { llm_status_code: 200, response_time: Number(process.hrtime.bigint() - startedAt) } : {};
  const indices = Array.from({ length: request.choices }, (_, index) => index);
  const chunk = (index: number, delta: object, finishReason: string | null, extra: object = {}) =>
    sse({ ...base, choices: [{ index, delta, logprobs: null, finish_reason: finishReason }], ...running(), ...extra });

  for (const index of indices) yield chunk(index, { role: 'assistant', content: reply.toolCalls ? null : '' }, null);
  if (reply.toolCalls) {
    yield* toolCallDeltas(reply.toolCalls, indices, chunk);
    completionTokens = counts.output;
    for (const index of indices)
      yield chunk(index, {}, 'tool_calls', !request.includeUsage && index === indices.at(-1) ? envelope() : {});
  } else {
    const last = reply.pieces.length - 1;
    for (const [i, piece] of reply.pieces.entries()) {
      for (const index of indices) {
        completionTokens += piece.tokens;
        if (i === last && index === indices.at(-1)) completionTokens = counts.output;
        const final = i === last;
        yield chunk(
          index,
          { content: piece.text },
          final ? reply.finishReason : null,
          final && !request.includeUsage && index === indices.at(-1) ? envelope() : {},
        );
      }
    }
  }
  if (request.includeUsage)
    yield sse({ ...base, choices: [], usage: usageObject(counts, scenario.usageNames, true), ...envelope() });
  yield DONE_EVENT;
}

/** The deltas of tool calls: id and name first, then the arguments in pieces of about 8 characters. */
function* toolCallDeltas(
  calls: SimulatedToolCall[],
  indices: number[],
  chunk: (index: number, delta: object, finishReason: string | null) => string,
) {
  for (const [callIndex, call] of calls.entries()) {
    for (const index of indices) {
      yield chunk(
        index,
        {
          tool_calls: [
            { index: callIndex, id: call.id, type: 'function', function: { name: call.name, arguments: '' } },
          ],
        },
        null,
      );
    }
    for (const piece of call.arguments.match(/[\s\S]{1,8}/g) ?? []) {
      for (const index of indices)
        yield chunk(index, { tool_calls: [{ index: callIndex, function: { arguments: piece } }] }, null);
    }
  }
}

function sse(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

// ---------------------------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------------------------

interface RateLimitState {
  limit: number;
  /** limit - count; goes negative past the limit, as observed live. */
  remaining: number;
  /** Seconds until the window resets (relative, like the live header). */
  resetSeconds: number;
}

/** Who a rate limit belongs to, and how its headers describe it. */
interface RateLimitScope {
  key: string;
  service: 'llmgw' | 'speech-understanding';
  model?: string;
  feature?: string;
}

/** A fixed window per key, started by the key's first request. */
class FixedWindowRateLimiter {
  readonly #windows = new Map<string, { startedAt: number; count: number }>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts one request and returns the state after it. */
  hit(key: string): RateLimitState {
    const window = this.#current(key);
    window.count++;
    return this.#state(window);
  }

  /** The state without counting a request (and without starting a window). */
  peek(key: string): RateLimitState {
    const window = this.#windows.get(key);
    if (!window || Date.now() >= window.startedAt + this.windowMs) {
      return { limit: this.limit, remaining: this.limit, resetSeconds: Math.ceil(this.windowMs / 1000) };
    }
    return this.#state(window);
  }

  reset(): void {
    this.#windows.clear();
  }

  #current(key: string) {
    const now = Date.now();
    let window = this.#windows.get(key);
    if (!window || now >= window.startedAt + this.windowMs) {
      window = { startedAt: now, count: 0 };
      this.#windows.set(key, window);
    }
    return window;
  }

  #state(window: { startedAt: number; count: number }): RateLimitState {
    const msLeft = window.startedAt + this.windowMs - Date.now();
    return {
      limit: this.limit,
      remaining: this.limit - window.count,
      resetSeconds: Math.max(0, Math.ceil(msLeft / 1000)),
    };
  }
}

function rateLimitHeaders(scope: RateLimitScope, state: RateLimitState): Record<string, string> {
  const headers: Record<string, string> = {
    'X-RateLimit-Limit': String(state.limit),
    'X-RateLimit-Remaining': String(state.remaining),
    'X-RateLimit-Reset': String(state.resetSeconds),
  };
  if (scope.model) headers['X-RateLimit-Model'] = scope.model;
  headers['X-RateLimit-Service'] = scope.service;
  if (scope.feature) headers['X-RateLimit-Feature'] = scope.feature;
  return headers;
}

/**
 * The request as the first model that works serves it: the requested one, else the first of its
 * `fallbacks` whose provider does not fail, with that entry's overrides. "The response looks
 * exactly as if you had made the original request with the fallback model" (§10 G4).
 */
function serve(request: ChatRequest, failing: ReadonlySet<string>): ChatRequest | undefined {
  if (!failing.has(request.model.id)) return request;
  const fallback = request.fallbacks.find((entry) => !failing.has(entry.model.id));
  if (!fallback) return undefined;
  return {
    ...request,
    model: fallback.model,
    maxTokens: fallback.maxTokens ?? request.maxTokens,
    temperature: fallback.temperature ?? request.temperature,
  };
}

/** The primary's error when no model could serve: the gateway's 503, with the provider's own status. */
function upstreamFailed(request: ChatRequest, startedAt: bigint): GatewayError {
  // Anthropic answers an overloaded upstream with 529; the others with 503.
  const providerStatus = request.model.creator === 'anthropic' ? 529 : 503;
  return {
    status: 503,
    message: 'upstream model provider unavailable',
    details: [`model ${request.model.id}: provider returned ${providerStatus}`],
    envelope: 'flat',
    extra: {
      http_status_code: 503,
      response_time: Number(process.hrtime.bigint() - startedAt),
      llm_status_code: providerStatus,
    },
  };
}

function rateLimited(): GatewayError {
  return { status: 429, message: 'too many requests for this action', envelope: 'flat' };
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/** One request and everything its handlers need. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  body: unknown;
  /** uuid v4, used by successes and the flat/auth envelopes. */
  requestId: string;
  startedAt: bigint;
  /** Aborted when the response closes (finished, or the socket went away). */
  signal: AbortSignal;
  scenario: Scenario;
}

const UNDERSTANDING_SCOPE: RateLimitScope = {
  key: 'understanding',
  service: 'speech-understanding',
  feature: 'understanding',
};

class GatewaySimulator {
  served = 0;
  readonly promptCache = new PromptCache();
  readonly #models: ReadonlyMap<string, ModelInfo>;

  constructor(
    private readonly settings: { latencyMs: number; chunkDelayMs: number; acceptKey: (key: string) => boolean },
    private readonly catalog: readonly ModelInfo[],
    readonly limiter: FixedWindowRateLimiter,
  ) {
    this.#models = new Map(catalog.map((info) => [info.id, info]));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.served++;
    const aborter = new AbortController();
    res.once('close', () => aborter.abort());
    const ex: Exchange = {
      req,
      res,
      body: undefined,
      requestId: randomUUID(),
      startedAt: process.hrtime.bigint(),
      signal: aborter.signal,
      scenario: NO_SCENARIO,
    };
    try {
      ex.body = parseJson(await readBody(req));
      if (this.settings.latencyMs > 0) await sleep(this.settings.latencyMs, undefined, { signal: ex.signal });
      await this.#route(ex);
    } catch (error) {
      if (ex.signal.aborted) return; // the client or close() went away; nothing left to answer
      if (!res.headersSent) {
        await this.#sendError(ex, { ...forcedError(500), details: [String(error)] });
      } else {
        res.destroy();
      }
    }
  }

  async #route(ex: Exchange): Promise<void> {
    const path = new URL(ex.req.url ?? '/', 'http://gateway').pathname.replace(/\/+$/, '');
    const method = ex.req.method ?? 'GET';
    if (method === 'GET' && path === '/v1/models') return this.#listModels(ex);
    if (method === 'POST' && path === '/v1/chat/completions') return this.#chat(ex);
    if (method === 'POST' && path === '/v1/understanding') return this.#understanding(ex, false);
    if (method === 'POST' && path === '/v1/understanding/validate') return this.#understanding(ex, true);
    const notFound: GatewayError = { status: 404, message: `no route for ${method} ${path || '/'}`, envelope: 'seed' };
    return this.#sendError(ex, notFound);
  }

  /** `GET /v1/models` needs no key (documented, and confirmed live). */
  async #listModels(ex: Exchange): Promise<void> {
    const scenarioError = this.#applyScenario(ex);
    if (scenarioError) return this.#sendError(ex, scenarioError);
    if (ex.scenario.status) return this.#sendForced(ex, { key: 'models', service: 'llmgw' });
    return this.#sendJson(ex, 200, {}, { data: this.catalog });
  }

  async #chat(ex: Exchange): Promise<void> {
    const authError = this.#authenticate(ex.req);
    if (authError) return this.#sendError(ex, authError);
    const scenarioError = this.#applyScenario(ex);
    if (scenarioError) return this.#sendError(ex, scenarioError);

    const requestedModel = isObject(ex.body) && typeof ex.body.model === 'string' ? ex.body.model : undefined;
    const scope: RateLimitScope = { key: `chat:${requestedModel ?? ''}`, service: 'llmgw', model: requestedModel };
    if (ex.scenario.status) return this.#sendForced(ex, scope);

    // Validation errors are answered before the rate limiter and carry no rate-limit headers (live).
    const parsed = validateChatRequest(ex.body, this.#models);
    if (!parsed.ok) return this.#sendError(ex, parsed.error);
    const request = parsed.value;

    const limit = this.limiter.hit(scope.key);
    const headers = rateLimitHeaders(scope, limit);
    if (limit.remaining < 0)
      return this.#sendError(ex, rateLimited(), { ...headers, 'Retry-After': String(limit.resetSeconds) });

    const served = serve(request, ex.scenario.failModels);
    if (!served) return this.#sendError(ex, upstreamFailed(request, ex.startedAt), headers);

    const cache = this.promptCache.use(served.model, served.messages, (message) =>
      countWords(messageText(message.content)),
    );
    const reply = buildReply(served, ex.scenario);
    const counts = usageCounts(served, reply, cache, ex.scenario);
    if (served.stream && !ex.scenario.modes.has('json-instead-of-stream')) {
      const streamRequestId = ex.scenario.streamRequestId ? ex.requestId : undefined;
      return this.#sendEvents(
        ex,
        headers,
        completionEvents(served, reply, counts, ex.scenario, streamRequestId, ex.startedAt),
      );
    }
    const usage = usageObject(counts, ex.scenario.usageNames, false);
    return this.#sendJson(
      ex,
      200,
      headers,
      completionBody(served, reply, usage, ex.scenario, ex.requestId, ex.startedAt),
    );
  }

  /** `/v1/understanding` (rate-limited, own service) and `/validate` (200, empty body). */
  async #understanding(ex: Exchange, validateOnly: boolean): Promise<void> {
    const authError = this.#authenticate(ex.req);
    if (authError) return this.#sendError(ex, authError);
    const scenarioError = this.#applyScenario(ex);
    if (scenarioError) return this.#sendError(ex, scenarioError);
    if (ex.scenario.status) return this.#sendForced(ex, UNDERSTANDING_SCOPE);

    const body = ex.body;
    const request =
      isObject(body) && isObject(body.speech_understanding) ? body.speech_understanding.request : undefined;
    if (!isObject(request)) {
      return this.#sendError(ex, invalidRequest(['speech_understanding.request is required'], 'speech_understanding'));
    }
    if (validateOnly) return this.#sendBody(ex, 200, {}, Buffer.alloc(0));

    const limit = this.limiter.hit(UNDERSTANDING_SCOPE.key);
    const headers = rateLimitHeaders(UNDERSTANDING_SCOPE, limit);
    if (limit.remaining < 0)
      return this.#sendError(ex, rateLimited(), { ...headers, 'Retry-After': String(limit.resetSeconds) });

    const response = Object.fromEntries(Object.keys(request).map((feature) => [feature, { status: 'success' }]));
    const transcriptId = isObject(body) && typeof body.transcript_id === 'string' ? body.transcript_id : null;
    return this.#sendJson(ex, 200, headers, { request_id: ex.requestId, transcript_id: transcriptId, response });
  }

  /** Pre-auth check. Both `Authorization: <key>` (documented) and `Bearer <key>` (works live) pass. */
  #authenticate(req: IncomingMessage): GatewayError | undefined {
    const header = req.headers.authorization;
    if (header === undefined) return { status: 401, message: NO_ACCESS_MESSAGE, envelope: 'auth' };
    const key = header.replace(/^Bearer(\s+|$)/i, '').trim();
    if (!key || !this.settings.acceptKey(key)) return { status: 401, message: BAD_KEY_MESSAGE, envelope: 'auth' };
    return undefined;
  }

  /** Reads the scenario into `ex`; a malformed one is answered with a 400, never ignored. */
  #applyScenario(ex: Exchange): GatewayError | undefined {
    const scenario = readScenario(ex.req, ex.body);
    if (!scenario.ok) return scenario.error;
    ex.scenario = scenario.value;
    return undefined;
  }

  /** A forced status: no validation, no counting; a 429 still gets rate-limit headers. */
  #sendForced(ex: Exchange, scope: RateLimitScope): Promise<void> {
    const status = ex.scenario.status!;
    let headers: Record<string, string> = {};
    if (status === 429) {
      const state = { ...this.limiter.peek(scope.key), remaining: 0 };
      headers = { ...rateLimitHeaders(scope, state), 'Retry-After': String(state.resetSeconds) };
    }
    return this.#sendError(ex, forcedError(status), headers);
  }

  #sendError(ex: Exchange, error: GatewayError, headers: Record<string, string> = {}): Promise<void> {
    const rendered = renderError(error, ex.scenario.envelope ?? error.envelope, ex.requestId);
    const head = rendered.contentType ? { ...headers, 'Content-Type': rendered.contentType } : headers;
    return this.#sendBody(ex, error.status, head, rendered.body, rendered.requestId);
  }

  #sendJson(ex: Exchange, status: number, headers: Record<string, string>, value: unknown): Promise<void> {
    const body = Buffer.from(JSON.stringify(value));
    return this.#sendBody(ex, status, { ...headers, 'Content-Type': 'application/json' }, body);
  }

  /** Sends a whole body, applying the gzip / request-id-header / truncate / reset / stall modes. */
  async #sendBody(
    ex: Exchange,
    status: number,
    headers: Record<string, string>,
    body: Buffer,
    requestId: string | undefined = ex.requestId,
  ): Promise<void> {
    const head = this.#withModeHeaders(ex, headers, requestId);
    let payload = body;
    if (ex.scenario.modes.has('gzip') && body.length > 0) {
      payload = await gzipAsync(body);
      head['Content-Encoding'] = 'gzip';
    }
    const cut = interruption(ex.scenario);
    if (!cut) {
      ex.res.writeHead(status, { ...head, 'Content-Length': String(payload.length) }).end(payload);
      return;
    }
    // A broken body is sent chunked, so no Content-Length gives the break away before it happens.
    ex.res.writeHead(status, head);
    await writeAndWait(ex.res, payload.subarray(0, Math.floor(payload.length / 2)));
    return this.#interrupt(ex, cut);
  }

  /** Sends SSE events one `write` each, with the chunk delay and the stream modes. */
  async #sendEvents(ex: Exchange, headers: Record<string, string>, events: Iterable<string>): Promise<void> {
    const head = this.#withModeHeaders(ex, headers, ex.requestId);
    head['Content-Type'] = 'text/event-stream; charset=utf-8';
    head['Cache-Control'] = 'no-cache';
    const gzipped = ex.scenario.modes.has('gzip');
    if (gzipped) head['Content-Encoding'] = 'gzip';
    ex.res.writeHead(200, head);
    const sink = gzipped ? gzipSink(ex.res, ex.signal) : plainSink(ex.res, ex.signal);

    const delayMs = ex.scenario.modes.has('slow') ? 20 : this.settings.chunkDelayMs;
    const cut = interruption(ex.scenario);
    // Stall after the first event; reset and truncate after a few, so clients have started parsing.
    const fullEvents = cut === 'stall' ? 1 : cut ? 3 : Infinity;
    let sent = 0;
    for (const event of events) {
      if (ex.signal.aborted) return;
      // A short reply may reach [DONE] before the cut point; a broken stream must never send it.
      const cutHere = cut !== undefined && (sent === fullEvents || event === DONE_EVENT);
      if (cutHere && cut === 'truncate') {
        // End cleanly, but half-way through an event and without `[DONE]`.
        await sink.write(event.slice(0, Math.floor(event.length / 2)));
        return sink.end();
      }
      if (cutHere) return this.#interrupt(ex, cut);
      if (sent > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal: ex.signal });
      await sink.write(event);
      sent++;
    }
    await sink.end();
  }

  #withModeHeaders(ex: Exchange, headers: Record<string, string>, requestId: string | undefined) {
    const head: Record<string, string> = { ...headers };
    if (ex.scenario.modes.has('request-id-header')) head['x-request-id'] = requestId ?? ex.requestId;
    return head;
  }

  async #interrupt(ex: Exchange, cut: 'stall' | 'reset' | 'truncate'): Promise<void> {
    if (cut === 'truncate') {
      ex.res.end();
    } else if (cut === 'reset') {
      // Let the partial body reach the client before the connection dies under it.
      await sleep(20, undefined, { signal: ex.signal });
      ex.res.socket?.destroy();
    } else if (!ex.signal.aborted) {
      // Stall: keep the socket open until the client gives up or close() destroys it.
      await once(ex.res, 'close');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small I/O helpers
// ---------------------------------------------------------------------------------------------

const gzipAsync = promisify(gzip);

interface EventSink {
  write(text: string): Promise<void>;
  end(): Promise<void>;
}

/** Writes straight to the response, waiting for `drain` so a huge stream is never buffered whole. */
function plainSink(res: ServerResponse, signal: AbortSignal): EventSink {
  return {
    async write(text) {
      if (!res.write(text)) await once(res, 'drain', { signal });
    },
    end() {
      res.end();
      return Promise.resolve();
    },
  };
}

/** Gzips the stream with a sync flush after every event, so each event arrives on its own. */
function gzipSink(res: ServerResponse, signal: AbortSignal): EventSink {
  const gz = createGzip();
  gz.on('error', () => res.destroy());
  gz.pipe(res);
  return {
    async write(text) {
      const ready = gz.write(text);
      await new Promise<void>((resolve) => gz.flush(zlibConstants.Z_SYNC_FLUSH, () => resolve()));
      if (!ready) await once(gz, 'drain', { signal });
    },
    async end() {
      gz.end();
      await once(res, 'finish', { signal }).catch(() => undefined);
    },
  };
}

function writeAndWait(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => res.write(chunk, () => resolve()));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The parsed JSON body, or undefined when there is none or it is not JSON. */
function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '::ffff:127.0.0.1' || /^127(\.\d{1,3}){3}$/.test(host);
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

export async function startSimulatedGateway(options: SimulatedGatewayOptions = {}): Promise<SimulatedGateway> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host) && !options.allowNonLoopback) {
    throw new Error(`refusing to bind the simulated gateway to non-loopback host ${host} (set allowNonLoopback)`);
  }
  const limiter = new FixedWindowRateLimiter(options.rateLimit ?? 30, (options.windowSeconds ?? 60) * 1000);
  const simulator = new GatewaySimulator(
    {
      latencyMs: options.latencyMs ?? 0,
      chunkDelayMs: options.chunkDelayMs ?? 0,
      acceptKey: options.acceptKey ?? ((key) => key.length > 0 && !key.startsWith('bad')),
    },
    options.models ?? DEFAULT_MODELS,
    limiter,
  );

  const server = createServer((req, res) => void simulator.handle(req, res));
  server.listen(options.port ?? 0, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]: Error[]) => Promise.reject(error)),
  ]);
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    host,
    get requests() {
      return simulator.served;
    },
    resetRateLimits: () => limiter.reset(),
    resetPromptCache: () => simulator.promptCache.clear(),
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Stalled and keep-alive sockets would otherwise hold close() open forever.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
