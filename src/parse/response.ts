import { parseErrorEnvelope } from './errors';
import { MAX_CAPTURED_CONTENT_CHARS, MAX_CAPTURED_TOOL_CALLS } from './limits';
import type { BodyEnd, OutputMessage, OutputToolCall, ResponseInfo } from './types';
import { finiteNumber, isRecord, nonNegativeInteger, shortString } from './values';

/** More choices than this in one response are not tracked (n is small in practice). */
export const MAX_CHOICES = 64;
/** The finish reason given to a choice whose own finish reason never came. */
export const UNFINISHED_CHOICE_REASON = 'error';

/**
 * Reads a parsed response body: a chat completion, a stream chunk, a models list, or an
 * error body. The gateway's non-streamed replies carry `request_id` and echo the model
 * both as `model` and as `request.model`; stream chunks carry an OpenAI-style `id`.
 * `end` says whether the body was whole (see BodyEnd); without it, it was.
 */
export function responseInfoFromObject(body: unknown, captureContent = false, end?: BodyEnd): ResponseInfo {
  if (!isRecord(body)) return end ? withUnfinishedChoices({}, new Map(), [], end) : {};
  const request = isRecord(body.request) ? body.request : undefined;
  const nestedError = isRecord(body.error) ? body.error : undefined;
  const isError = 'error' in body || ('code' in body && 'message' in body);
  const info: ResponseInfo = {
    requestId: shortString(body.request_id) ?? shortString(nestedError?.request_id),
    responseModel: shortString(body.model) ?? shortString(request?.model),
    responseId: shortString(body.id),
    finishReasons: undefined,
    error: isError ? parseErrorEnvelope(body) : undefined,
    outputMessages: captureContent ? outputMessagesOf(body.choices) : undefined,
  };
  if (isRecord(body.usage)) addUsage(info, body.usage);
  addEnvelope(info, body);
  if (end === undefined || end.complete) {
    info.finishReasons = completeReasons(body.choices);
    return info;
  }
  const { reasons, indices } = finishReasonsOf(body.choices);
  return withUnfinishedChoices(info, reasons, indices, end);
}

/** The finish reasons of a whole body, by choice index (one choice, the usual case, is quick). */
function completeReasons(choices: unknown): string[] | undefined {
  if (!Array.isArray(choices) || choices.length === 0) return undefined;
  if (choices.length === 1) {
    const reason = isRecord(choices[0]) ? shortString(choices[0].finish_reason, 64) : undefined;
    return reason === undefined ? undefined : [reason];
  }
  return orderedReasons(finishReasonsOf(choices).reasons);
}

/**
 * `finishReasons` by choice index, with `error` for the choices a body that did not complete
 * cut off: those seen without a finish reason, and those never seen below `expectedChoices`.
 */
export function withUnfinishedChoices(
  info: ResponseInfo,
  reasons: Map<number, string>,
  seen: Iterable<number>,
  end: BodyEnd,
): ResponseInfo {
  if (!end.complete) {
    const all = new Map(reasons);
    let slots = Math.min(MAX_CHOICES, end.expectedChoices ?? 0);
    for (const index of seen) slots = Math.max(slots, Math.min(MAX_CHOICES, index + 1));
    for (const index of reasons.keys()) slots = Math.max(slots, Math.min(MAX_CHOICES, index + 1));
    for (let index = 0; index < slots; index++) if (!all.has(index)) all.set(index, UNFINISHED_CHOICE_REASON);
    info.finishReasons = orderedReasons(all);
  } else {
    info.finishReasons = orderedReasons(reasons);
  }
  return info;
}

/** Reasons in choice-index order, without gaps; undefined when there is none. */
export function orderedReasons(reasons: Map<number, string>): string[] | undefined {
  if (reasons.size === 0) return undefined;
  return [...reasons.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}

/** The choice's `index` when it is a usable one, else its position in `choices`. */
export function choiceIndex(choice: Record<string, unknown>, position: number): number {
  const index = choice.index;
  return typeof index === 'number' && Number.isInteger(index) && index >= 0 ? index : position;
}

function finishReasonsOf(choices: unknown): { reasons: Map<number, string>; indices: number[] } {
  const reasons = new Map<number, string>();
  const indices: number[] = [];
  if (!Array.isArray(choices)) return { reasons, indices };
  choices.forEach((choice, position) => {
    if (!isRecord(choice) || indices.length >= MAX_CHOICES) return;
    const index = choiceIndex(choice, position);
    indices.push(index);
    const reason = shortString(choice.finish_reason, 64);
    if (reason !== undefined) reasons.set(index, reason);
  });
  return { reasons, indices };
}

/** The envelope the gateway adds to its JSON replies (gateway-api.md §2, §10 G10), set on `info` when present. */
export function addEnvelope(info: ResponseInfo, body: Record<string, unknown>): void {
  const status = nonNegativeInteger(body.llm_status_code);
  if (status !== undefined && status >= 100 && status <= 599) info.providerStatusCode = status;
  const nanoseconds = finiteNumber(body.response_time);
  if (nanoseconds !== undefined && nanoseconds >= 0) info.gatewayDurationSeconds = nanoseconds / 1e9;
}

/**
 * The gateway sends both naming schemes; the Anthropic-style names win when present. The
 * details are subsets of the input/output counts, in the OpenAI (`*_tokens_details`) or the
 * Anthropic (`cache_*_input_tokens`) names.
 */
export function addUsage(info: ResponseInfo, usage: Record<string, unknown>): void {
  info.inputTokens = nonNegativeInteger(usage.input_tokens) ?? nonNegativeInteger(usage.prompt_tokens);
  info.outputTokens = nonNegativeInteger(usage.output_tokens) ?? nonNegativeInteger(usage.completion_tokens);
  const prompt = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : undefined;
  const completion = isRecord(usage.completion_tokens_details) ? usage.completion_tokens_details : undefined;
  const cacheRead =
    nonNegativeInteger(prompt?.cached_tokens) ??
    (isRecord(usage.input_tokens_details) ? nonNegativeInteger(usage.input_tokens_details.cached_tokens) : undefined) ??
    nonNegativeInteger(usage.cache_read_input_tokens);
  const cacheWrite =
    nonNegativeInteger(prompt?.cache_write_tokens) ?? nonNegativeInteger(usage.cache_creation_input_tokens);
  const reasoning =
    nonNegativeInteger(completion?.reasoning_tokens) ??
    (isRecord(usage.output_tokens_details)
      ? nonNegativeInteger(usage.output_tokens_details.reasoning_tokens)
      : undefined);
  if (cacheRead !== undefined) info.cacheReadInputTokens = cacheRead;
  if (cacheWrite !== undefined) info.cacheWriteInputTokens = cacheWrite;
  if (reasoning !== undefined) info.reasoningOutputTokens = reasoning;
}

/** The assistant messages of a non-streamed completion, for opt-in content capture. */
function outputMessagesOf(choices: unknown): OutputMessage[] | undefined {
  if (!Array.isArray(choices)) return undefined;
  const messages: OutputMessage[] = [];
  const budget = { left: MAX_CAPTURED_CONTENT_CHARS };
  for (const choice of choices) {
    if (!isRecord(choice)) continue;
    const message = isRecord(choice.message) ? choice.message : undefined;
    // The spec puts tool_calls on the choice, the newer docs on the message (gateway-api.md §2).
    const calls = message?.tool_calls ?? choice.tool_calls;
    if (message === undefined && !Array.isArray(calls)) continue;
    const content = typeof message?.content === 'string' ? message.content.slice(0, Math.max(0, budget.left)) : '';
    budget.left -= content.length;
    const toolCalls = toolCallsOf(calls, budget);
    const output: OutputMessage = {
      role: shortString(message?.role, 32) ?? 'assistant',
      content,
      finishReason: shortString(choice.finish_reason, 64),
    };
    if (toolCalls !== undefined) output.toolCalls = toolCalls;
    messages.push(output);
  }
  return messages.length > 0 ? messages : undefined;
}

/** `[{id, type:"function", function:{name, arguments}}]`, arguments charged to the content budget. */
function toolCallsOf(calls: unknown, budget: { left: number }): OutputToolCall[] | undefined {
  if (!Array.isArray(calls)) return undefined;
  const out: OutputToolCall[] = [];
  for (const call of calls) {
    if (!isRecord(call) || out.length >= MAX_CAPTURED_TOOL_CALLS) continue;
    const fn = isRecord(call.function) ? call.function : {};
    const raw =
      typeof fn.arguments === 'string' ? fn.arguments : fn.arguments === undefined ? '' : safeStringify(fn.arguments);
    const args = raw.slice(0, Math.max(0, budget.left));
    budget.left -= args.length;
    const toolCall: OutputToolCall = { arguments: args };
    const id = shortString(call.id);
    const name = shortString(fn.name);
    if (id !== undefined) toolCall.id = id;
    if (name !== undefined) toolCall.name = name;
    out.push(toolCall);
  }
  return out.length > 0 ? out : undefined;
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

/** Fills the fields `into` lacks from `from` (first value wins). */
export function mergeMissing(into: ResponseInfo, from: ResponseInfo): void {
  for (const key of ['requestId', 'responseModel', 'responseId', 'error'] as const) {
    if (into[key] === undefined && from[key] !== undefined) (into as Record<string, unknown>)[key] = from[key];
  }
}
