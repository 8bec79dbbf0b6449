import { MAX_PARSED_REQUEST_CHARS } from './limits';
import type { RequestInfo } from './types';
import { finiteNumber, isRecord, nonNegativeInteger, shortString } from './values';

/**
 * Reads model, max_tokens, temperature and stream from a chat request body.
 * Small bodies are parsed exactly. A large body (a long transcript in `messages`) is only
 * scanned for the top-level scalars, so the application's request is never delayed by a
 * full parse of megabytes it is about to send.
 */
export function parseRequestBody(text: string): RequestInfo {
  if (text.length <= MAX_PARSED_REQUEST_CHARS) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (or cut short): the scan still finds the scalars of a truncated body.
      return scanRequestText(text);
    }
    // Valid JSON that is not an object (an array, a scalar) is not a chat request: scanning
    // it would report the fields of some nested object as the request's.
    return isRecord(body) ? requestInfoFromObject(body) : { stream: false };
  }
  return scanRequestText(text);
}

export function requestInfoFromObject(body: Record<string, unknown>): RequestInfo {
  return {
    model: shortString(body.model),
    maxTokens: nonNegativeInteger(body.max_tokens),
    temperature: finiteNumber(body.temperature),
    stream: body.stream === true,
  };
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
