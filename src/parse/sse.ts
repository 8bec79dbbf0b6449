import { MAX_CAPTURED_CONTENT_CHARS, MAX_SSE_LINE_BYTES, SSE_TAIL_WINDOW_BYTES } from './limits';
import { mergeMissing, responseInfoFromObject, usageTokens } from './response';
import type { BodyObserver, ResponseInfo } from './types';
import { isRecord } from './values';

const LF = 10;
const CR = 13;
// Only events that can change what we report are JSON-parsed: the first one (id, model),
// those with a non-null finish_reason, a request_id or an error. `usage` may be repeated on
// every chunk (vLLM does), so only the last such event is kept, as text, and parsed at the end.
/** More choices than this in one stream are not tracked (n is small in practice). */
const MAX_CHOICES = 64;
const FINISH_REASON_SET = /"finish_reason"\s*:\s*"/;
// A usage object, not `"usage": null` (OpenAI sends null on every chunk but the last one).
const USAGE_SET = /"usage"\s*:\s*\{/;

/**
 * Incremental parser for a `text/event-stream` body of OpenAI-style `chat.completion.chunk`
 * events (WHATWG SSE framing: LF, CR or CRLF line ends, `:` comments, multi-line `data:`).
 * Memory is bounded by MAX_SSE_LINE_BYTES whatever the length of the stream, and the result
 * does not depend on how the bytes were split into chunks.
 */
export class SseEventParser implements BodyObserver {
  /** Set once the first JSON event was read, when only that one was asked for. */
  stopped = false;
  private readonly decoder = new TextDecoder();
  private pendingLine = '';
  private droppingLine = false;
  private skipLeadingLf = false;
  private data: string | undefined;
  private droppingEvent = false;
  private sawFirstEvent = false;
  private lastUsageData: string | undefined;
  private readonly finishReasons = new Map<number, string>();
  private readonly info: ResponseInfo = {};
  /** `data: [DONE]` was seen: the stream ended as the protocol intends. */
  done = false;
  events = 0;

  private readonly firstEventOnly: boolean;
  private readonly captureContent: boolean;
  /** Assembled delta content per choice index, when capturing (bounded in total). */
  private readonly content = new Map<number, string>();
  private contentLength = 0;

  constructor(options: { firstEventOnly?: boolean; captureContent?: boolean } = {}) {
    this.firstEventOnly = options.firstEventOnly ?? false;
    this.captureContent = options.captureContent ?? false;
  }

  write(chunk: Uint8Array): void {
    if (this.stopped) return;
    this.feed(this.decoder.decode(chunk, { stream: true }));
  }

  finish(): ResponseInfo {
    if (!this.stopped) this.feed(this.decoder.decode());
    // Per the SSE spec an event not closed by a blank line at end of stream is discarded.
    this.pendingLine = '';
    this.data = undefined;
    if (this.lastUsageData !== undefined) {
      const usage = parseJson(this.lastUsageData);
      if (isRecord(usage) && isRecord(usage.usage)) {
        const tokens = usageTokens(usage.usage);
        this.info.inputTokens = tokens.input;
        this.info.outputTokens = tokens.output;
      }
      this.lastUsageData = undefined;
    }
    if (this.finishReasons.size > 0) {
      this.info.finishReasons = [...this.finishReasons.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
    }
    if (this.captureContent && this.content.size > 0) {
      this.info.outputMessages = [...this.content.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([index, content]) => ({ role: 'assistant', content, finishReason: this.finishReasons.get(index) }));
    }
    return this.info;
  }

  private feed(text: string): void {
    let start = 0;
    if (this.skipLeadingLf && text.length > 0) {
      this.skipLeadingLf = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    // Search positions are cached so a chunk with many lines is scanned once, not per line.
    let nextLf = text.indexOf('\n', start);
    let nextCr = text.indexOf('\r', start);
    while (start < text.length) {
      if (nextLf !== -1 && nextLf < start) nextLf = text.indexOf('\n', start);
      if (nextCr !== -1 && nextCr < start) nextCr = text.indexOf('\r', start);
      const end = nextCr === -1 ? nextLf : nextLf === -1 ? nextCr : Math.min(nextLf, nextCr);
      if (end === -1) {
        this.appendPending(text.slice(start));
        return;
      }
      this.appendPending(text.slice(start, end));
      this.endLine();
      if (this.stopped) return;
      if (text.charCodeAt(end) === CR) {
        if (end + 1 === text.length) this.skipLeadingLf = true;
        else if (text.charCodeAt(end + 1) === LF) {
          start = end + 2;
          continue;
        }
      }
      start = end + 1;
    }
  }

  private appendPending(part: string): void {
    if (this.droppingLine || part.length === 0) return;
    if (this.pendingLine.length + part.length > MAX_SSE_LINE_BYTES) {
      this.pendingLine = '';
      this.droppingLine = true;
      return;
    }
    this.pendingLine += part;
  }

  private endLine(): void {
    const line = this.pendingLine;
    const dropped = this.droppingLine;
    this.pendingLine = '';
    this.droppingLine = false;
    if (dropped) {
      // An oversized line is not parsed, and neither is the event it belongs to.
      this.droppingEvent = true;
      return;
    }
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (this.data === undefined) this.data = value;
    else if (this.data.length + value.length < MAX_SSE_LINE_BYTES) this.data += `\n${value}`;
    else this.droppingEvent = true;
  }

  private dispatch(): void {
    const data = this.data;
    const dropped = this.droppingEvent;
    this.data = undefined;
    this.droppingEvent = false;
    // Per the SSE spec an event whose data buffer is empty (`data:` alone) is not dispatched.
    if (data === undefined || data === '' || dropped) return;
    this.events++;
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    if (USAGE_SET.test(data)) this.lastUsageData = data;
    const interesting =
      this.captureContent ||
      !this.sawFirstEvent ||
      FINISH_REASON_SET.test(data) ||
      data.includes('"request_id"') ||
      data.includes('"error"');
    if (!interesting) return;
    const event = parseJson(data);
    if (!isRecord(event)) return;
    // Only a JSON object counts as the first chunk: a keep-alive or malformed event before it
    // must not make the observer skip the chunk that carries id and model.
    this.sawFirstEvent = true;
    mergeMissing(this.info, responseInfoFromObject(event));
    this.collectFinishReasons(event.choices);
    if (this.captureContent) this.collectContent(event.choices);
    if (this.firstEventOnly) this.stopped = true;
  }

  private collectContent(choices: unknown): void {
    if (!Array.isArray(choices)) return;
    choices.forEach((choice, position) => {
      if (!isRecord(choice) || !isRecord(choice.delta) || typeof choice.delta.content !== 'string') return;
      const room = MAX_CAPTURED_CONTENT_CHARS - this.contentLength;
      if (room <= 0) return;
      const index = typeof choice.index === 'number' ? choice.index : position;
      if (!this.content.has(index) && this.content.size >= MAX_CHOICES) return;
      const piece = choice.delta.content.slice(0, room);
      this.content.set(index, (this.content.get(index) ?? '') + piece);
      this.contentLength += piece.length;
    });
  }

  private collectFinishReasons(choices: unknown): void {
    if (!Array.isArray(choices)) return;
    choices.forEach((choice, position) => {
      if (!isRecord(choice) || typeof choice.finish_reason !== 'string') return;
      const index = typeof choice.index === 'number' ? choice.index : position;
      if (!this.finishReasons.has(index) && this.finishReasons.size >= MAX_CHOICES) return;
      this.finishReasons.set(index, choice.finish_reason.slice(0, 64));
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Observes a streamed chat completion at a cost that does not grow with the stream: it parses
 * events only until the first JSON chunk (id, model, request_id), and otherwise copies the
 * bytes into a fixed ring of the last SSE_TAIL_WINDOW_BYTES. At the end it parses that tail,
 * where the gateway puts what is left to learn: the finishing chunks (finish_reason), the
 * usage-only chunk, an error event and `[DONE]`. Parsing every chunk of a long stream as it
 * passes cost more than the application's own reading (see bench/).
 */
export class SseObserver implements BodyObserver {
  private readonly head = new SseEventParser({ firstEventOnly: true });
  private readonly ring = new Uint8Array(SSE_TAIL_WINDOW_BYTES);
  private total = 0;
  /** `data: [DONE]` was seen at the end of the stream. */
  done = false;

  write(chunk: Uint8Array): void {
    if (!this.head.stopped) this.head.write(chunk);
    this.keepTail(chunk);
  }

  finish(): ResponseInfo {
    const info = this.head.finish();
    const tail = new SseEventParser();
    tail.write(this.tailFromEventBoundary());
    const tailInfo = tail.finish();
    this.done = tail.done;
    mergeMissing(info, tailInfo);
    // Finish reasons and usage are the stream's last word: only the tail has them.
    delete info.finishReasons;
    delete info.inputTokens;
    delete info.outputTokens;
    if (tailInfo.finishReasons !== undefined) info.finishReasons = tailInfo.finishReasons;
    if (tailInfo.inputTokens !== undefined) info.inputTokens = tailInfo.inputTokens;
    if (tailInfo.outputTokens !== undefined) info.outputTokens = tailInfo.outputTokens;
    return info;
  }

  private keepTail(chunk: Uint8Array): void {
    const window = this.ring.byteLength;
    const kept = chunk.byteLength > window ? chunk.subarray(chunk.byteLength - window) : chunk;
    const position = (this.total + chunk.byteLength - kept.byteLength) % window;
    const first = Math.min(kept.byteLength, window - position);
    this.ring.set(kept.subarray(0, first), position);
    if (first < kept.byteLength) this.ring.set(kept.subarray(first), 0);
    this.total += chunk.byteLength;
  }

  /** The kept bytes in stream order, starting at an event boundary when the start was cut off. */
  private tailFromEventBoundary(): Uint8Array {
    const window = this.ring.byteLength;
    if (this.total <= window) return this.ring.subarray(0, this.total);
    const start = this.total % window;
    const ordered = Buffer.concat([this.ring.subarray(start), this.ring.subarray(0, start)]);
    // The first blank line in the window ends a (cut) event; what follows starts a whole one.
    let boundary = -1;
    for (const blankLine of ['\n\n', '\r\n\r\n', '\r\r']) {
      const at = ordered.indexOf(blankLine);
      if (at !== -1 && (boundary === -1 || at + blankLine.length < boundary)) boundary = at + blankLine.length;
    }
    return boundary === -1 ? new Uint8Array(0) : ordered.subarray(boundary);
  }
}
