import { MAX_CAPTURED_REQUEST_CHARS, MAX_PARSED_REQUEST_CHARS } from './limits';
import type { RequestInfo } from './types';
import { finiteNumber, isRecord, nonNegativeInteger, shortString } from './values';

/**
 * Reads model, max_tokens, temperature and stream from a chat request body.
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
    maxTokens: nonNegativeInteger(maxTokens),
    temperature: finiteNumber(body.temperature),
    stream: body.stream === true,
    shape: {
      hasModel: typeof body.model === 'string' && body.model.length > 0,
      messages: Array.isArray(body.messages) ? 'array' : typeof body.messages === 'string' ? 'string' : body.messages === undefined ? 'missing' : 'other',
      hasPrompt: typeof body.prompt === 'string',
      maxTokensValid: maxTokens === undefined || (Number.isInteger(maxTokens) && (maxTokens as number) >= 1),
    },
  };
  if (captureContent) info.inputMessages = body.messages ?? body.prompt;
  return info;
}

// Keys inside JSON string values are escaped (\"model\"), so these patterns only match
// real keys. Nested objects rarely carry these names with scalar values of these types.
const MODEL_PATTERN = /"model"\s*:\s*"((?:[^"\\]|\\.){1,256})"/;
const MAX_TOKENS_PATTERN = /"max_tokens"\s*:\s*(\d{1,9})(?![\d.eE])/;
const TEMPERATURE_PATTERN = /"temperature"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/;
const STREAM_PATTERN = /"stream"\s*:\s*true\b/;

function scanRequestText(text: string): RequestInfo {
  const model = MODEL_PATTERN.exec(text)?.[1];
  const maxTokens = MAX_TOKENS_PATTERN.exec(text)?.[1];
  const temperature = TEMPERATURE_PATTERN.exec(text)?.[1];
  return {
    model: model === undefined ? undefined : unescapeJsonString(model),
    maxTokens: maxTokens === undefined ? undefined : Number(maxTokens),
    temperature: temperature === undefined ? undefined : finiteNumber(Number(temperature)),
    stream: STREAM_PATTERN.test(text),
  };
}

export function unescapeJsonString(raw: string): string {
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}
