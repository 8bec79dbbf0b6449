import { JSON_SCAN_WINDOW_BYTES, MAX_PARSED_JSON_BYTES } from './limits';
import { unescapeJsonString } from './request';
import { MAX_CHOICES, responseInfoFromObject, withUnfinishedChoices } from './response';
import type { BodyEnd, BodyObserver, BodyObserverOptions, ResponseInfo } from './types';
import { parseErrorEnvelope } from './errors';

/**
 * Observes a JSON (or unknown-type) response body with memory bounded by
 * MAX_PARSED_JSON_BYTES. Bodies that fit are parsed exactly. For larger ones only the first
 * and last JSON_SCAN_WINDOW_BYTES are kept and scanned: the gateway puts `request_id`,
 * `request.model` and `model` before `choices`, and `usage` after them.
 */
export class JsonBodyObserver implements BodyObserver {
  private readonly captureContent: boolean;
  private readonly stableChunks: boolean;

  /** `captureContent` as a boolean is the older form of `{ captureContent }`. */
  constructor(options: boolean | BodyObserverOptions = false) {
    const { captureContent = false, stableChunks = false } =
      typeof options === 'boolean' ? { captureContent: options } : options;
    this.captureContent = captureContent;
    this.stableChunks = stableChunks;
  }

  private chunks: Uint8Array[] = [];
  private size = 0;
  private head: Uint8Array | undefined;
  private tail: Uint8Array | undefined;

  write(chunk: Uint8Array): void {
    const before = this.size;
    this.size += chunk.byteLength;
    if (this.head === undefined) {
      if (this.size <= MAX_PARSED_JSON_BYTES) {
        // Copy unless the transport promised never to reuse or transfer the chunk.
        this.chunks.push(this.stableChunks ? chunk : chunk.slice());
        return;
      }
      // Too large to parse whole: keep both ends only, copying no more of this chunk than that.
      const head = concat([...this.chunks, chunk.subarray(0, Math.max(0, JSON_SCAN_WINDOW_BYTES - before))]);
      this.head = head.slice(0, JSON_SCAN_WINDOW_BYTES);
      this.tail = lastBytes(concat(this.chunks), chunk, JSON_SCAN_WINDOW_BYTES);
      this.chunks = [];
      return;
    }
    this.tail = lastBytes(this.tail!, chunk, JSON_SCAN_WINDOW_BYTES);
  }

  finish(end?: BodyEnd): ResponseInfo {
    if (this.head === undefined) {
      const text = utf8.decode(concat(this.chunks));
      this.chunks = [];
      return responseInfoFromJsonText(text, this.captureContent, end);
    }
    return scanJsonText(utf8.decode(this.head), utf8.decode(this.tail), end);
  }
}

// Decoding without `stream: true` keeps no state, so one decoder serves every call.
const utf8 = new TextDecoder();

/**
 * What a whole JSON body (as the application read it with `text()`) tells: parsed exactly up
 * to MAX_PARSED_JSON_BYTES characters, scanned at both ends beyond, or when it is not JSON.
 */
export function responseInfoFromJsonText(text: string, captureContent = false, end?: BodyEnd): ResponseInfo {
  if (text.length === 0) return end ? withUnfinishedChoices({}, new Map(), [], end) : {};
  if (text.length > MAX_PARSED_JSON_BYTES) {
    return scanJsonText(text.slice(0, JSON_SCAN_WINDOW_BYTES), text.slice(-JSON_SCAN_WINDOW_BYTES), end);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return scanJsonText(text, text, end);
  }
  return responseInfoFromObject(body, captureContent, end);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

function lastBytes(previous: Uint8Array, chunk: Uint8Array, max: number): Uint8Array {
  if (chunk.byteLength >= max) return chunk.slice(chunk.byteLength - max);
  const keep = Math.min(previous.byteLength, max - chunk.byteLength);
  const out = new Uint8Array(keep + chunk.byteLength);
  out.set(previous.subarray(previous.byteLength - keep), 0);
  out.set(chunk, keep);
  return out;
}

// Escaped quotes inside JSON strings (\"request_id\") never match these patterns.
const STRING_FIELD = (name: string) => new RegExp(`"${name}"\\s*:\\s*"((?:[^"\\\\]|\\\\.){1,256})"`, 'g');
const INTEGER_FIELD = (name: string) => new RegExp(`"${name}"\\s*:\\s*(\\d{1,15})(?![\\d.eE])`, 'g');
const PATTERNS = {
  requestId: STRING_FIELD('request_id'),
  model: STRING_FIELD('model'),
  finishReason: STRING_FIELD('finish_reason'),
  inputTokens: INTEGER_FIELD('input_tokens'),
  promptTokens: INTEGER_FIELD('prompt_tokens'),
  outputTokens: INTEGER_FIELD('output_tokens'),
  completionTokens: INTEGER_FIELD('completion_tokens'),
  cachedTokens: INTEGER_FIELD('cached_tokens'),
  cacheReadInputTokens: INTEGER_FIELD('cache_read_input_tokens'),
  cacheWriteTokens: INTEGER_FIELD('cache_write_tokens'),
  cacheCreationInputTokens: INTEGER_FIELD('cache_creation_input_tokens'),
  reasoningTokens: INTEGER_FIELD('reasoning_tokens'),
  llmStatusCode: INTEGER_FIELD('llm_status_code'),
  responseTime: INTEGER_FIELD('response_time'),
};

function matches(pattern: RegExp, text: string): string[] {
  pattern.lastIndex = 0;
  const found: string[] = [];
  for (const m of text.matchAll(pattern)) found.push(m[1]);
  return found;
}

function firstString(pattern: RegExp, ...texts: string[]): string | undefined {
  for (const text of texts) {
    const m = matches(pattern, text)[0];
    if (m !== undefined) return unescapeJsonString(m);
  }
  return undefined;
}

function lastString(pattern: RegExp, text: string): string | undefined {
  const all = matches(pattern, text);
  return all.length > 0 ? unescapeJsonString(all[all.length - 1]) : undefined;
}

function lastInteger(pattern: RegExp, text: string): number | undefined {
  const all = matches(pattern, text);
  return all.length > 0 ? Number(all[all.length - 1]) : undefined;
}

/**
 * Best effort for bodies that cannot be parsed whole (too large, truncated, not JSON).
 * `head` and `tail` may be the same text. Finish reasons are taken in the order found, as
 * choices 0, 1, ...: a cut `choices` array loses its last ones, which `end` may mark.
 */
function scanJsonText(head: string, tail: string, end?: BodyEnd): ResponseInfo {
  // The two windows never overlap (a body scanned at both ends is larger than both).
  const reasons: string[] = [];
  for (const text of head === tail ? [head] : [head, tail]) {
    for (const r of matches(PATTERNS.finishReason, text))
      if (reasons.length < MAX_CHOICES) reasons.push(unescapeJsonString(r));
  }
  const info: ResponseInfo = {
    requestId: firstString(PATTERNS.requestId, head, tail),
    // The gateway writes `request.model` (asked) before the top-level `model` (served).
    responseModel: lastString(PATTERNS.model, head) ?? firstString(PATTERNS.model, tail),
    inputTokens: lastInteger(PATTERNS.inputTokens, tail) ?? lastInteger(PATTERNS.promptTokens, tail),
    outputTokens: lastInteger(PATTERNS.outputTokens, tail) ?? lastInteger(PATTERNS.completionTokens, tail),
  };
  scanUsageDetails(info, tail);
  // A small error body that failed to parse (cut short) can still name its code and message.
  if (head === tail && head.length < 4096 && /"(error|message)"\s*:/.test(head)) {
    const code = firstString(STRING_FIELD('code'), head);
    const message = firstString(STRING_FIELD('message'), head) ?? firstString(STRING_FIELD('error'), head);
    if (code !== undefined || message !== undefined) info.error = parseErrorEnvelope({ code, message });
  }
  const byIndex = new Map(reasons.map((reason, index) => [index, reason] as const));
  if (end) return withUnfinishedChoices(info, byIndex, [], end);
  info.finishReasons = reasons.length > 0 ? reasons : undefined;
  return info;
}

/** The usage details and the gateway's envelope, which come after `choices`. */
function scanUsageDetails(info: ResponseInfo, tail: string): void {
  const set = (key: keyof ResponseInfo, value: number | undefined) => {
    if (value !== undefined) (info as Record<string, unknown>)[key] = value;
  };
  set(
    'cacheReadInputTokens',
    lastInteger(PATTERNS.cachedTokens, tail) ?? lastInteger(PATTERNS.cacheReadInputTokens, tail),
  );
  set(
    'cacheWriteInputTokens',
    lastInteger(PATTERNS.cacheWriteTokens, tail) ?? lastInteger(PATTERNS.cacheCreationInputTokens, tail),
  );
  set('reasoningOutputTokens', lastInteger(PATTERNS.reasoningTokens, tail));
  const status = lastInteger(PATTERNS.llmStatusCode, tail);
  set('providerStatusCode', status !== undefined && status >= 100 && status <= 599 ? status : undefined);
  const nanoseconds = lastInteger(PATTERNS.responseTime, tail);
  set('gatewayDurationSeconds', nanoseconds === undefined ? undefined : nanoseconds / 1e9);
}
