import { parseErrorEnvelope } from './errors';
import { MAX_CAPTURED_CONTENT_CHARS } from './limits';
import type { OutputMessage, ResponseInfo } from './types';
import { isRecord, nonNegativeInteger, shortString } from './values';

/**
 * Reads a parsed response body: a chat completion, a stream chunk, a models list, or an
 * error body. The gateway's non-streamed replies carry `request_id` and echo the model
 * both as `model` and as `request.model`; stream chunks carry an OpenAI-style `id`.
 */
export function responseInfoFromObject(body: unknown, captureContent = false): ResponseInfo {
  if (!isRecord(body)) return {};
  const request = isRecord(body.request) ? body.request : undefined;
  const nestedError = isRecord(body.error) ? body.error : undefined;
  const usage = isRecord(body.usage) ? usageTokens(body.usage) : undefined;
  const isError = 'error' in body || ('code' in body && 'message' in body);
  return {
    requestId: shortString(body.request_id) ?? shortString(nestedError?.request_id),
    responseModel: shortString(body.model) ?? shortString(request?.model),
    responseId: shortString(body.id),
    finishReasons: finishReasonsOf(body.choices),
    inputTokens: usage?.input,
    outputTokens: usage?.output,
    error: isError ? parseErrorEnvelope(body) : undefined,
    outputMessages: captureContent ? outputMessagesOf(body.choices) : undefined,
  };
}

/** The assistant messages of a non-streamed completion, for opt-in content capture. */
function outputMessagesOf(choices: unknown): OutputMessage[] | undefined {
  if (!Array.isArray(choices)) return undefined;
  const messages: OutputMessage[] = [];
  let room = MAX_CAPTURED_CONTENT_CHARS;
  for (const choice of choices) {
    if (!isRecord(choice) || !isRecord(choice.message)) continue;
    const content = typeof choice.message.content === 'string' ? choice.message.content.slice(0, Math.max(0, room)) : '';
    room -= content.length;
    messages.push({
      role: shortString(choice.message.role, 32) ?? 'assistant',
      content,
      finishReason: shortString(choice.finish_reason, 64),
    });
  }
  return messages.length > 0 ? messages : undefined;
}

/** The gateway sends both naming schemes; the Anthropic-style names win when present. */
export function usageTokens(usage: Record<string, unknown>): { input?: number; output?: number } {
  return {
    input: nonNegativeInteger(usage.input_tokens) ?? nonNegativeInteger(usage.prompt_tokens),
    output: nonNegativeInteger(usage.output_tokens) ?? nonNegativeInteger(usage.completion_tokens),
  };
}

function finishReasonsOf(choices: unknown): string[] | undefined {
  if (!Array.isArray(choices)) return undefined;
  const reasons: string[] = [];
  for (const choice of choices) {
    const reason = isRecord(choice) ? shortString(choice.finish_reason, 64) : undefined;
    if (reason !== undefined) reasons.push(reason);
  }
  return reasons.length > 0 ? reasons : undefined;
}

/** Fills the fields `into` lacks from `from` (first value wins). */
export function mergeMissing(into: ResponseInfo, from: ResponseInfo): void {
  for (const key of ['requestId', 'responseModel', 'responseId', 'error'] as const) {
    if (into[key] === undefined && from[key] !== undefined) (into as Record<string, unknown>)[key] = from[key];
  }
}
