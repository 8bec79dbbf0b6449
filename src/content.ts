import { MAX_CAPTURED_CONTENT_CHARS } from './parse/limits';
import type { OutputMessage } from './parse/types';
import { isRecord } from './parse/values';

/** About what one message's JSON frame (`{"role":..,"parts":[{"type":"text","content":..}]}`) costs. */
const MESSAGE_FRAME_CHARS = 48;

/** Rewrites one piece of captured message content before it is recorded (mask PII, drop it). */
export type RedactMessageContent = (content: string, context: { role: string; direction: 'input' | 'output' }) => string;

interface TextPart {
  type: 'text';
  content: string;
}
interface SemconvMessage {
  role: string;
  parts: TextPart[];
  finish_reason?: string;
}

/**
 * `gen_ai.input.messages` in the GenAI semconv structure (`[{role, parts:[{type, content}]}]`)
 * from a request's `messages` or `prompt`, redacted, and capped at MAX_CAPTURED_CONTENT_CHARS
 * of content in all.
 */
export function formatInputMessages(messages: unknown, redact: RedactMessageContent | undefined): string | undefined {
  const out: SemconvMessage[] = [];
  const budget = { left: MAX_CAPTURED_CONTENT_CHARS };
  if (typeof messages === 'string') {
    out.push({ role: 'user', parts: textParts([messages], 'user', 'input', redact, budget) });
  } else if (Array.isArray(messages)) {
    for (const message of messages) {
      // The cap bounds the whole attribute: stop at the budget, and charge each message's frame.
      if (budget.left <= 0) break;
      budget.left -= MESSAGE_FRAME_CHARS;
      if (!isRecord(message)) continue;
      const role = typeof message.role === 'string' ? message.role.slice(0, 32) : 'user';
      out.push({ role, parts: textParts(textsOf(message.content), role, 'input', redact, budget) });
    }
  }
  return out.length > 0 ? JSON.stringify(out) : undefined;
}

/** `gen_ai.output.messages` from the assistant's reply (assembled from deltas for a stream). */
export function formatOutputMessages(messages: OutputMessage[] | undefined, redact: RedactMessageContent | undefined): string | undefined {
  if (!messages || messages.length === 0) return undefined;
  const budget = { left: MAX_CAPTURED_CONTENT_CHARS };
  const out: SemconvMessage[] = [];
  for (const m of messages) {
    if (budget.left <= 0) break;
    budget.left -= MESSAGE_FRAME_CHARS;
    out.push({
      role: m.role,
      parts: textParts([m.content], m.role, 'output', redact, budget),
      ...(m.finishReason ? { finish_reason: m.finishReason } : {}),
    });
  }
  return JSON.stringify(out);
}

/** User content may be a string or `[{type: "text", text}]` (text parts only, per the gateway). */
function textsOf(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  return content.flatMap((part) => (isRecord(part) && typeof part.text === 'string' ? [part.text] : []));
}

function textParts(
  texts: string[],
  role: string,
  direction: 'input' | 'output',
  redact: RedactMessageContent | undefined,
  budget: { left: number },
): TextPart[] {
  return texts.flatMap((text) => {
    if (budget.left <= 0) return [];
    let content: string;
    try {
      content = redact ? String(redact(text, { role, direction })) : text;
    } catch {
      // A redaction hook that fails must not let the unredacted text through.
      content = '[redaction failed]';
    }
    content = content.slice(0, Math.max(0, budget.left));
    budget.left -= content.length;
    return [{ type: 'text' as const, content }];
  });
}
