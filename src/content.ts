import type { RedactMessageContent } from './types';
import { MAX_CAPTURED_CONTENT_CHARS, MAX_CAPTURED_TOOL_CALLS } from './parse/limits';
import type { OutputMessage, OutputToolCall } from './parse/types';
import { isRecord, shortString } from './parse/values';

/** About what one message's JSON frame (`{"role":..,"parts":[{"type":"text","content":..}]}`) costs. */
const MESSAGE_FRAME_CHARS = 48;
/** About what one tool call part's frame (`{"type":"tool_call","id":..,"name":..,"arguments":..}`) costs. */
const TOOL_CALL_FRAME_CHARS = 48;
/** What a piece becomes when the redaction hook throws: never the unredacted text. */
const REDACTION_FAILED = '[redaction failed]';

type Direction = 'input' | 'output';

// The GenAI semconv message parts (gen-ai-input-messages.json / gen-ai-output-messages.json).
interface TextPart {
  type: 'text';
  content: string;
}
interface ToolCallPart {
  type: 'tool_call';
  id?: string;
  name: string;
  /** The parsed JSON when the arguments parse, else the string as sent. */
  arguments: unknown;
}
interface ToolCallResponsePart {
  type: 'tool_call_response';
  id?: string;
  response: unknown;
}
type MessagePart = TextPart | ToolCallPart | ToolCallResponsePart;
interface SemconvMessage {
  role: string;
  parts: MessagePart[];
  finish_reason?: string;
}

/** What is left of MAX_CAPTURED_CONTENT_CHARS for one attribute, and its redaction hook. */
interface Writer {
  left: number;
  redact: RedactMessageContent | undefined;
  direction: Direction;
}

/**
 * `gen_ai.input.messages` in the GenAI semconv structure (`[{role, parts:[...]}]`) from a
 * request's `messages` or `prompt`: text parts, `tool_call` parts for an assistant message's
 * `tool_calls`, a `tool_call_response` part for a `tool` message. Redacted, and capped at
 * MAX_CAPTURED_CONTENT_CHARS of content in all.
 */
export function formatInputMessages(messages: unknown, redact: RedactMessageContent | undefined): string | undefined {
  const out: SemconvMessage[] = [];
  const writer: Writer = { left: MAX_CAPTURED_CONTENT_CHARS, redact, direction: 'input' };
  if (typeof messages === 'string') {
    out.push({ role: 'user', parts: textParts([messages], 'user', writer) });
  } else if (Array.isArray(messages)) {
    for (const message of messages) {
      // The cap bounds the whole attribute: stop at the budget, and charge each message's frame.
      if (writer.left <= 0) break;
      writer.left -= MESSAGE_FRAME_CHARS;
      if (!isRecord(message)) continue;
      const role = typeof message.role === 'string' ? message.role.slice(0, 32) : 'user';
      out.push({ role, parts: inputParts(message, role, writer) });
    }
  }
  return out.length > 0 ? JSON.stringify(out) : undefined;
}

function inputParts(message: Record<string, unknown>, role: string, writer: Writer): MessagePart[] {
  const texts = textsOf(message.content);
  if (role === 'tool') {
    // A tool result: its content is the response to the call named by tool_call_id.
    const [response] = textParts([texts.join('')], role, writer);
    if (response === undefined) return [];
    const part: ToolCallResponsePart = { type: 'tool_call_response', response: response.content };
    const id = shortString(message.tool_call_id);
    if (id !== undefined) part.id = id;
    return [part];
  }
  const parts: MessagePart[] = textParts(texts, role, writer);
  if (Array.isArray(message.tool_calls))
    parts.push(...toolCallParts(requestedToolCalls(message.tool_calls), role, writer));
  return parts;
}

/** An assistant message's `tool_calls` as sent (`[{id, type, function:{name, arguments}}]`). */
function requestedToolCalls(calls: unknown[]): OutputToolCall[] {
  const out: OutputToolCall[] = [];
  for (const call of calls) {
    if (!isRecord(call) || out.length >= MAX_CAPTURED_TOOL_CALLS) continue;
    const fn = isRecord(call.function) ? call.function : {};
    const args =
      typeof fn.arguments === 'string' ? fn.arguments : fn.arguments === undefined ? '' : JSON.stringify(fn.arguments);
    out.push({ id: shortString(call.id), name: shortString(fn.name), arguments: args });
  }
  return out;
}

/** `gen_ai.output.messages` from the assistant's reply (assembled from deltas for a stream). */
export function formatOutputMessages(
  messages: OutputMessage[] | undefined,
  redact: RedactMessageContent | undefined,
): string | undefined {
  if (!messages || messages.length === 0) return undefined;
  const writer: Writer = { left: MAX_CAPTURED_CONTENT_CHARS, redact, direction: 'output' };
  const out: SemconvMessage[] = [];
  for (const m of messages) {
    if (writer.left <= 0) break;
    writer.left -= MESSAGE_FRAME_CHARS;
    const calls = m.toolCalls ?? [];
    // A message that only calls tools has no text worth a part.
    const parts: MessagePart[] =
      m.content.length > 0 || calls.length === 0 ? textParts([m.content], m.role, writer) : [];
    parts.push(...toolCallParts(calls, m.role, writer));
    out.push({ role: m.role, parts, ...(m.finishReason ? { finish_reason: m.finishReason } : {}) });
  }
  return JSON.stringify(out);
}

/**
 * `gen_ai.tool.definitions` from a request's `tools`: `[{type, name}]`, the properties the
 * semconv requires (descriptions and parameter schemas are large and left out), bounded.
 */
export function formatToolDefinitions(tools: unknown): string | undefined {
  if (!Array.isArray(tools)) return undefined;
  const out: Array<{ type: string; name: string }> = [];
  let left = MAX_CAPTURED_CONTENT_CHARS;
  for (const tool of tools) {
    if (out.length >= MAX_CAPTURED_TOOL_CALLS || left <= 0) break;
    if (!isRecord(tool)) continue;
    // Chat Completions nests the name under `function`; other APIs put it on the tool.
    const fn = isRecord(tool.function) ? tool.function : tool;
    const name = shortString(fn.name);
    if (name === undefined) continue;
    const type = shortString(tool.type, 32) ?? 'function';
    left -= name.length + type.length + 24;
    out.push({ type, name });
  }
  return out.length > 0 ? JSON.stringify(out) : undefined;
}

/** User content may be a string or `[{type: "text", text}]` (text parts only, per the gateway). */
function textsOf(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  return content.flatMap((part) => (isRecord(part) && typeof part.text === 'string' ? [part.text] : []));
}

function textParts(texts: string[], role: string, writer: Writer): TextPart[] {
  return texts.flatMap((text) => {
    if (writer.left <= 0) return [];
    return [{ type: 'text' as const, content: redacted(text, role, writer) }];
  });
}

/** Tool call parts; arguments are redacted as text, then kept as JSON when they still parse. */
function toolCallParts(calls: OutputToolCall[], role: string, writer: Writer): ToolCallPart[] {
  const parts: ToolCallPart[] = [];
  for (const call of calls) {
    if (writer.left <= 0) break;
    writer.left -= TOOL_CALL_FRAME_CHARS + (call.id?.length ?? 0) + (call.name?.length ?? 0);
    const text = redacted(call.arguments, role, writer);
    const part: ToolCallPart = { type: 'tool_call', name: call.name ?? '', arguments: parsedOrText(text) };
    if (call.id !== undefined) part.id = call.id;
    parts.push(part);
  }
  return parts;
}

/** One piece through the redaction hook, then cut to what the budget has left (and charged). */
function redacted(text: string, role: string, writer: Writer): string {
  let content: string;
  try {
    content = writer.redact ? String(writer.redact(text, { role, direction: writer.direction })) : text;
  } catch {
    // A redaction hook that fails must not let the unredacted text through.
    content = REDACTION_FAILED;
  }
  content = content.slice(0, Math.max(0, writer.left));
  writer.left -= content.length;
  return content;
}

function parsedOrText(text: string): unknown {
  if (text.length === 0) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
