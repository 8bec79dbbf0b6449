import {
  MAX_CAPTURED_REQUEST_CHARS,
  MAX_FALLBACK_MODELS,
  MAX_PARSED_REQUEST_CHARS,
  MAX_STOP_SEQUENCES,
  REQUEST_SCAN_WINDOW_CHARS,
} from './limits';
import type { RequestInfo } from './types';
import { finiteNumber, isRecord, nonNegativeInteger, shortString } from './values';

/**
 * Reads what a chat request body tells (model, sampling parameters, stream, fallbacks, ...).
 * Small bodies are parsed exactly. A large body (a long transcript in `messages`) is only
 * scanned for the top-level scalars, so the application's request is never delayed by a
 * full parse of megabytes it is about to send.
 */
export function parseRequestBody(text: string, captureContent = false): RequestInfo {
  // With content capture on, a body up to the capture limit is parsed whole for its messages.
  if (text.length <= MAX_PARSED_REQUEST_CHARS || (captureContent && text.length <= MAX_CAPTURED_REQUEST_CHARS)) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (or cut short): the scan still finds the scalars of a truncated body.
      return scanRequestText(text);
    }
    // Valid JSON that is not an object (an array, a scalar) is not a chat request: scanning
    // it would report the fields of some nested object as the request's.
    return isRecord(body) ? requestInfoFromObject(body, captureContent) : { stream: false };
  }
  return scanRequestText(text);
}

export function requestInfoFromObject(body: Record<string, unknown>, captureContent = false): RequestInfo {
  const maxTokens = body.max_tokens;
  const info: RequestInfo = {
    model: shortString(body.model),
    temperature: finiteNumber(body.temperature),
    ...optionalFields(body),
    maxTokens: nonNegativeInteger(maxTokens) ?? nonNegativeInteger(body.max_completion_tokens),
    stream: body.stream === true,
    shape: {
      hasModel: typeof body.model === 'string' && body.model.length > 0,
      messages: Array.isArray(body.messages)
        ? 'array'
        : typeof body.messages === 'string'
          ? 'string'
          : body.messages === undefined
            ? 'missing'
            : 'other',
      hasPrompt: typeof body.prompt === 'string',
      maxTokensValid: maxTokens === undefined || (Number.isInteger(maxTokens) && (maxTokens as number) >= 1),
    },
  };
  if (captureContent) {
    info.inputMessages = body.messages ?? body.prompt;
    if (body.tools !== undefined) info.toolDefinitions = body.tools;
  }
  return info;
}

/** The request keys optionalFields reads, which the scan of a large body looks for. */
const OPTIONAL_KEYS = [
  'max_completion_tokens',
  'top_p',
  'frequency_penalty',
  'presence_penalty',
  'top_k',
  'seed',
  'stop',
  'n',
  'response_format',
  'reasoning_effort',
  'reasoning',
  'fallbacks',
  'model_region',
  'transcript_id',
] as const;

type OptionalFields = Omit<
  RequestInfo,
  'model' | 'maxTokens' | 'temperature' | 'stream' | 'shape' | 'inputMessages' | 'toolDefinitions'
>;

/** The second-release request attributes, from a parsed body or from the keys a scan found. */
function optionalFields(body: Record<string, unknown>): OptionalFields {
  const fields: OptionalFields = {};
  const set = <K extends keyof OptionalFields>(key: K, value: OptionalFields[K] | undefined) => {
    if (value !== undefined) fields[key] = value;
  };
  set('topP', finiteNumber(body.top_p));
  set('frequencyPenalty', finiteNumber(body.frequency_penalty));
  set('presencePenalty', finiteNumber(body.presence_penalty));
  set('topK', nonNegativeInteger(body.top_k));
  set('seed', safeInteger(body.seed));
  set('stopSequences', stopSequences(body.stop));
  const n = nonNegativeInteger(body.n);
  set('choiceCount', n !== 1 ? n : undefined);
  set('outputType', outputType(body.response_format));
  const reasoning = isRecord(body.reasoning) ? body.reasoning.effort : undefined;
  set('reasoningLevel', shortString(body.reasoning_effort, 64) ?? shortString(reasoning, 64));
  set('fallbackModels', fallbackModels(body.fallbacks));
  set('modelRegion', shortString(body.model_region, 64));
  set('transcriptId', shortString(body.transcript_id));
  return fields;
}

function safeInteger(value: unknown): number | undefined {
  return Number.isSafeInteger(value) ? (value as number) : undefined;
}

function stopSequences(stop: unknown): string[] | undefined {
  const all = typeof stop === 'string' ? [stop] : Array.isArray(stop) ? stop : [];
  const kept: string[] = [];
  for (const s of all) {
    if (kept.length >= MAX_STOP_SEQUENCES) break;
    const bounded = shortString(s);
    if (bounded !== undefined) kept.push(bounded);
  }
  return kept.length > 0 ? kept : undefined;
}

function outputType(format: unknown): 'json' | 'text' | undefined {
  const type = isRecord(format) ? format.type : undefined;
  if (type === 'json_object' || type === 'json_schema') return 'json';
  return type === 'text' ? 'text' : undefined;
}

/** `fallbacks: [{model, ...overrides}]` (a bare model string is accepted too). */
function fallbackModels(fallbacks: unknown): string[] | undefined {
  if (!Array.isArray(fallbacks)) return undefined;
  const models: string[] = [];
  for (const entry of fallbacks) {
    if (models.length >= MAX_FALLBACK_MODELS) break;
    const model = shortString(isRecord(entry) ? entry.model : entry);
    if (model !== undefined) models.push(model);
  }
  return models.length > 0 ? models : undefined;
}

/**
 * `assemblyai.fallback.used`: undefined when the request named no fallbacks or the response
 * named no model; true when the response model is one of the fallbacks rather than the
 * requested model (the gateway's only sign: "the model field reflects the fallback model").
 */
export function fallbackServed(
  request: RequestInfo | undefined,
  responseModel: string | undefined,
): boolean | undefined {
  const fallbacks = request?.fallbackModels;
  if (fallbacks === undefined || responseModel === undefined) return undefined;
  if (responseModel === request?.model) return false;
  if (fallbacks.includes(responseModel)) return true;
  // Providers may answer with a dated id (claude-opus-4-6 -> claude-opus-4-6-20260101).
  const extendsName = (name: string) => responseModel.startsWith(`${name}-`);
  if (request?.model !== undefined && extendsName(request.model)) return false;
  return fallbacks.some(extendsName);
}

// Keys inside JSON string values are escaped (\"model\"), so these patterns only match
// real keys. Nested objects rarely carry these names with scalar values of these types.
const MODEL_PATTERN = /"model"\s*:\s*"((?:[^"\\]|\\.){1,256})"/;
const MAX_TOKENS_PATTERN = /"max_tokens"\s*:\s*(\d{1,9})(?![\d.eE])/;
const TEMPERATURE_PATTERN = /"temperature"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/;
const STREAM_PATTERN = /"stream"\s*:\s*true\b/;
const OPTIONAL_KEY_PATTERNS = OPTIONAL_KEYS.map((key) => [key, new RegExp(`"${key}"\\s*:\\s*`, 'g')] as const);

function scanRequestText(text: string): RequestInfo {
  const model = MODEL_PATTERN.exec(text)?.[1];
  const maxTokens = MAX_TOKENS_PATTERN.exec(text)?.[1];
  const temperature = TEMPERATURE_PATTERN.exec(text)?.[1];
  const scanned = scanOptionalKeys(text);
  const fields = optionalFields(scanned);
  return {
    model: model === undefined ? undefined : unescapeJsonString(model),
    maxTokens: maxTokens === undefined ? nonNegativeInteger(scanned.max_completion_tokens) : Number(maxTokens),
    temperature: temperature === undefined ? undefined : finiteNumber(Number(temperature)),
    ...fields,
    stream: STREAM_PATTERN.test(text),
  };
}

/**
 * The optional keys' values, read from both ends of the body only: a large body is large
 * because of `messages`, and clients write the top-level parameters before or after it.
 */
function scanOptionalKeys(text: string): Record<string, unknown> {
  const windows =
    text.length <= 2 * REQUEST_SCAN_WINDOW_CHARS
      ? [text]
      : [text.slice(0, REQUEST_SCAN_WINDOW_CHARS), text.slice(-REQUEST_SCAN_WINDOW_CHARS)];
  const found: Record<string, unknown> = {};
  for (const [key, pattern] of OPTIONAL_KEY_PATTERNS) {
    for (const window of windows) {
      pattern.lastIndex = 0;
      const match = pattern.exec(window);
      const value = match === null ? undefined : jsonValueAt(window, match.index + match[0].length);
      if (value !== undefined) {
        found[key] = value;
        break;
      }
    }
  }
  return found;
}

const SCALAR_VALUE = /"(?:[^"\\]|\\.){0,256}"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null/y;
/** Longest array or object value read by the scan (`stop`, `fallbacks`, `response_format`). */
const MAX_SCANNED_VALUE_CHARS = 4096;

/** The JSON value starting at `start`, or undefined when it is cut, too long or not JSON. */
function jsonValueAt(text: string, start: number): unknown {
  let end: number;
  const first = text.charCodeAt(start);
  if (first === 0x5b /* [ */ || first === 0x7b /* { */) {
    end = matchingBracket(text, start);
    if (end === -1) return undefined;
  } else {
    SCALAR_VALUE.lastIndex = start;
    if (!SCALAR_VALUE.test(text)) return undefined;
    end = SCALAR_VALUE.lastIndex;
  }
  try {
    return JSON.parse(text.slice(start, end));
  } catch {
    return undefined;
  }
}

/** The index after the bracket closing the one at `start`, skipping strings; -1 past the bound. */
function matchingBracket(text: string, start: number): number {
  const limit = Math.min(text.length, start + MAX_SCANNED_VALUE_CHARS);
  let depth = 0;
  let inString = false;
  for (let i = start; i < limit; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) depth++;
    else if ((c === 0x5d || c === 0x7d) && --depth === 0) return i + 1;
  }
  return -1;
}

export function unescapeJsonString(raw: string): string {
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}
