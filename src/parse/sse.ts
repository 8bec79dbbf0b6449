import { StringDecoder } from 'node:string_decoder';
import { parseErrorEnvelope } from './errors';
import {
  MAX_CAPTURED_CONTENT_CHARS,
  MAX_CAPTURED_TOOL_CALLS,
  MAX_SSE_LINE_BYTES,
  SSE_TAIL_WINDOW_BYTES,
} from './limits';
import {
  addEnvelope,
  addUsage,
  choiceIndex,
  MAX_CHOICES,
  mergeMissing,
  orderedReasons,
  UNFINISHED_CHOICE_REASON,
} from './response';
import type { BodyEnd, BodyObserver, BodyObserverOptions, OutputMessage, OutputToolCall, ResponseInfo } from './types';
import { isRecord, shortString } from './values';

const LF = 10;
const CR = 13;
// Only events that can change what we report are JSON-parsed: the first one (id, model),
// those with a non-null finish_reason, a request_id (until one is known) or an error. `usage`
// may be repeated on every chunk (vLLM does), so only the last such event is kept, as text,
// and parsed at the end; likewise the last `llm_status_code` and `response_time`.
const FINISH_REASON_SET = /"finish_reason"\s*:\s*"/;
// A usage object, not `"usage": null` (OpenAI sends null on every chunk but the last one).
const USAGE_SET = /"usage"\s*:\s*\{/;
// Regular expressions led by a literal, not String#includes: V8 runs these about 3x faster on
// a 200-byte event (the trailing class keeps it from turning the literal into a plain search).
const REQUEST_ID_SET = /"request_id"[\s\S]/;
const ERROR_SET = /"error"[\s\S]/;
const STATUS_SET = /"llm_status_code"[\s\S]/;
const TIME_SET = /"response_time"[\s\S]/;

interface SseEventParserOptions extends BodyObserverOptions {
  /** Stop after the first JSON event (the head of a windowed stream). */
  firstEventOnly?: boolean;
  /** @internal A tail parser: the head already read the first event and maybe a request_id. */
  tailAfter?: { requestIdKnown: boolean };
}

interface ToolCallDraft {
  id?: string;
  name?: string;
  arguments: string;
}

/**
 * Incremental parser for a `text/event-stream` body of OpenAI-style `chat.completion.chunk`
 * events (WHATWG SSE framing: LF, CR or CRLF line ends, `:` comments, multi-line `data:`).
 * Memory is bounded by MAX_SSE_LINE_BYTES whatever the length of the stream, and the result
 * does not depend on how the bytes were split into chunks. It never keeps a chunk: every
 * chunk is decoded into a string as it arrives, so `stableChunks` changes nothing here.
 */
export class SseEventParser implements BodyObserver {
  /** Set once the first JSON event was read, when only that one was asked for. */
  stopped = false;
  /** `data: [DONE]` was seen: the stream ended as the protocol intends. */
  done = false;
  events = 0;

  private readonly decoder = new TextDecoder();
  private pendingLine = '';
  private droppingLine = false;
  private skipLeadingLf = false;
  private data: string | undefined;
  private droppingEvent = false;
  private sawFirstEvent: boolean;
  private readonly requestIdKnown: boolean;
  private lastUsageData: string | undefined;
  private lastStatusData: string | undefined;
  private lastTimeData: string | undefined;
  /** @internal Which last-value events were seen (SseObserver checks its shortcut with them). */
  readonly sawLastValue = { usage: false, status: false, time: false };
  /** @internal Read by SseObserver. */
  readonly info: ResponseInfo = {};
  /** @internal Finish reasons by choice index. */
  readonly finishReasons = new Map<number, string>();
  /** @internal Choice indices of the events that were parsed (all of them when capturing). */
  readonly seenChoices = new Set<number>();

  private readonly firstEventOnly: boolean;
  private readonly captureContent: boolean;
  /** Assembled delta content and tool calls per choice index, when capturing (bounded in total). */
  private readonly content = new Map<number, string>();
  private readonly toolCalls = new Map<number, Map<number, ToolCallDraft>>();
  private contentLength = 0;

  constructor(options: SseEventParserOptions = {}) {
    this.firstEventOnly = options.firstEventOnly ?? false;
    this.captureContent = options.captureContent ?? false;
    this.sawFirstEvent = options.tailAfter !== undefined;
    this.requestIdKnown = options.tailAfter?.requestIdKnown ?? false;
  }

  write(chunk: Uint8Array): void {
    if (this.stopped) return;
    this.feed(this.decoder.decode(chunk, { stream: true }));
  }

  /** @internal Feeds already decoded text (the tail window of SseObserver). */
  writeText(text: string): void {
    if (!this.stopped) this.feed(text);
  }

  /**
   * Ends the stream and returns what it told. Choices that never got a finish reason get
   * `error` when the stream was cut: when the body did not complete (then also every choice
   * below `expectedChoices`), and when it ended without `data: [DONE]` or with an error event
   * (the gateway was cut off, or gave up, before that choice finished). After `[DONE]` nothing
   * is added: the stream ended as the protocol intends. Without `end` (the older call) no
   * `error` is added at all.
   */
  finish(end?: BodyEnd): ResponseInfo {
    this.settle();
    const unfinished = end
      ? unfinishedChoices(this.finishReasons, this.seenChoices, end, this.done && this.info.error === undefined)
      : [];
    const reasons = withReasons(this.finishReasons, unfinished);
    const finishReasons = orderedReasons(reasons);
    if (finishReasons !== undefined) this.info.finishReasons = finishReasons;
    if (this.captureContent) this.info.outputMessages = this.outputMessages(reasons);
    return this.info;
  }

  /** @internal Flushes the stream and reads the kept usage and envelope events. */
  settle(): void {
    if (!this.stopped) this.feed(this.decoder.decode());
    // Per the SSE spec an event not closed by a blank line at end of stream is discarded.
    this.pendingLine = '';
    this.data = undefined;
    const usage = parseJson(this.lastUsageData);
    if (isRecord(usage) && isRecord(usage.usage)) addUsage(this.info, usage.usage);
    const status = this.lastStatusData === this.lastUsageData ? usage : parseJson(this.lastStatusData);
    const time = this.lastTimeData === this.lastStatusData ? status : parseJson(this.lastTimeData);
    // Each from its own last event: read both from a scratch object and take the one that belongs.
    const envelope: ResponseInfo = {};
    if (isRecord(status)) addEnvelope(envelope, status);
    setDefined(this.info, 'providerStatusCode', envelope.providerStatusCode);
    const timing: ResponseInfo = {};
    if (isRecord(time)) addEnvelope(timing, time);
    setDefined(this.info, 'gatewayDurationSeconds', timing.gatewayDurationSeconds);
    this.lastUsageData = this.lastStatusData = this.lastTimeData = undefined;
  }

  private outputMessages(reasons: Map<number, string>): OutputMessage[] | undefined {
    const indices = [...new Set([...this.content.keys(), ...this.toolCalls.keys()])].sort((a, b) => a - b);
    if (indices.length === 0) return undefined;
    return indices.map((index) => {
      const message: OutputMessage = {
        role: 'assistant',
        content: this.content.get(index) ?? '',
        finishReason: reasons.get(index),
      };
      const calls = this.toolCalls.get(index);
      if (calls !== undefined && calls.size > 0) {
        message.toolCalls = [...calls.entries()].sort((a, b) => a[0] - b[0]).map(([, draft]) => toolCallOf(draft));
      }
      return message;
    });
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
    this.keepLastValues(data);
    const interesting =
      this.captureContent ||
      !this.sawFirstEvent ||
      FINISH_REASON_SET.test(data) ||
      (!this.requestIdKnown && this.info.requestId === undefined && REQUEST_ID_SET.test(data)) ||
      ERROR_SET.test(data);
    if (!interesting) return;
    const event = parseJson(data);
    if (!isRecord(event)) return;
    // Only a JSON object counts as the first chunk: a keep-alive or malformed event before it
    // must not make the observer skip the chunk that carries id and model.
    this.sawFirstEvent = true;
    this.mergeEvent(event);
    this.collectChoices(event.choices);
    if (this.firstEventOnly) this.stopped = true;
  }

  /** Usage and the gateway's envelope: the last event that carries each wins (parsed at the end). */
  private keepLastValues(data: string): void {
    if (USAGE_SET.test(data)) {
      this.lastUsageData = data;
      this.sawLastValue.usage = true;
    }
    if (STATUS_SET.test(data)) {
      this.lastStatusData = data;
      this.sawLastValue.status = true;
    }
    if (TIME_SET.test(data)) {
      this.lastTimeData = data;
      this.sawLastValue.time = true;
    }
  }

  /** Identity and error of the stream: the first value of each wins. */
  private mergeEvent(event: Record<string, unknown>): void {
    const info = this.info;
    const nestedError = isRecord(event.error) ? event.error : undefined;
    info.requestId ??= shortString(event.request_id) ?? shortString(nestedError?.request_id);
    info.responseModel ??=
      shortString(event.model) ?? (isRecord(event.request) ? shortString(event.request.model) : undefined);
    info.responseId ??= shortString(event.id);
    if (info.error === undefined && ('error' in event || ('code' in event && 'message' in event)))
      info.error = parseErrorEnvelope(event);
  }

  private collectChoices(choices: unknown): void {
    if (!Array.isArray(choices)) return;
    choices.forEach((choice, position) => {
      if (!isRecord(choice)) return;
      const index = choiceIndex(choice, position);
      if (!this.seenChoices.has(index) && this.seenChoices.size >= MAX_CHOICES) return;
      this.seenChoices.add(index);
      if (typeof choice.finish_reason === 'string' && choice.finish_reason.length > 0) {
        this.finishReasons.set(index, choice.finish_reason.slice(0, 64));
      }
      if (this.captureContent && isRecord(choice.delta)) this.collectDelta(index, choice.delta);
    });
  }

  private collectDelta(index: number, delta: Record<string, unknown>): void {
    if (typeof delta.content === 'string') {
      const piece = this.takeBudget(delta.content);
      if (piece.length > 0 || !this.content.has(index))
        this.content.set(index, (this.content.get(index) ?? '') + piece);
    }
    if (!Array.isArray(delta.tool_calls)) return;
    let calls = this.toolCalls.get(index);
    if (calls === undefined) this.toolCalls.set(index, (calls = new Map<number, ToolCallDraft>()));
    delta.tool_calls.forEach((call, position) => {
      if (!isRecord(call)) return;
      const callIndex = choiceIndex(call, position);
      let draft = calls.get(callIndex);
      if (draft === undefined) {
        if (calls.size >= MAX_CAPTURED_TOOL_CALLS) return;
        calls.set(callIndex, (draft = { arguments: '' }));
      }
      const fn = isRecord(call.function) ? call.function : {};
      // id and name come with the first delta of a call; later deltas carry argument pieces.
      draft.id ??= shortString(call.id);
      draft.name ??= shortString(fn.name);
      if (typeof fn.arguments === 'string') draft.arguments += this.takeBudget(fn.arguments);
    });
  }

  /** The part of `text` the content cap still has room for. */
  private takeBudget(text: string): string {
    const room = MAX_CAPTURED_CONTENT_CHARS - this.contentLength;
    if (room <= 0) return '';
    const piece = text.length > room ? text.slice(0, room) : text;
    this.contentLength += piece.length;
    return piece;
  }
}

function toolCallOf(draft: ToolCallDraft): OutputToolCall {
  const call: OutputToolCall = { arguments: draft.arguments };
  if (draft.id !== undefined) call.id = draft.id;
  if (draft.name !== undefined) call.name = draft.name;
  return call;
}

/**
 * The choices whose finish reason never came and that count as cut: every one seen, and when
 * the body did not complete, or the stream did not end as the protocol intends ([DONE]), every
 * one below `expectedChoices` too (a choice the head and the tail window both missed was still
 * asked for); none after a clean end.
 */
function unfinishedChoices(
  reasons: Map<number, string>,
  seen: Set<number>,
  end: BodyEnd,
  endedAsIntended: boolean,
): number[] {
  if (end.complete && endedAsIntended) return [];
  const cut = new Set<number>();
  let slots = Math.min(MAX_CHOICES, end.expectedChoices ?? 0);
  for (const index of seen) slots = Math.max(slots, Math.min(MAX_CHOICES, index + 1));
  for (let index = 0; index < slots; index++) if (!reasons.has(index)) cut.add(index);
  return [...cut];
}

function withReasons(reasons: Map<number, string>, unfinished: number[]): Map<number, string> {
  if (unfinished.length === 0) return reasons;
  const all = new Map(reasons);
  for (const index of unfinished) all.set(index, UNFINISHED_CHOICE_REASON);
  return all;
}

function setDefined<K extends keyof ResponseInfo>(
  info: ResponseInfo,
  key: K,
  value: ResponseInfo[K] | undefined,
): void {
  if (value !== undefined) info[key] = value;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Observes a streamed chat completion at a cost that does not grow with the stream: it parses
 * events only until the first JSON chunk (id, model, request_id), and otherwise keeps the last
 * SSE_TAIL_WINDOW_BYTES. At the end it reads that tail, where the gateway puts what is left
 * to learn: the finishing chunks (finish_reason), the usage chunk, an error event and
 * `[DONE]`. Even there it frames and parses only from the first event that can matter (see
 * tailStart): the ordinary content events before it are skipped by a native search.
 *
 * With `stableChunks` the tail is kept as references to the chunks the transport handed over
 * (it promised never to reuse them); otherwise it is copied into a fixed ring.
 */
export class SseObserver implements BodyObserver {
  private readonly head = new SseEventParser({ firstEventOnly: true });
  private readonly stableChunks: boolean;
  /** Copy mode: the last bytes, in a ring. */
  private ring: Uint8Array | undefined;
  /** Stable mode: the last chunks, by reference, covering at least the window. */
  /** The kept chunks; those before `keptFrom` are no longer needed (dropped in batches). */
  private kept: Uint8Array[] = [];
  private keptFrom = 0;
  private keptBytes = 0;
  private total = 0;
  /** `data: [DONE]` was seen at the end of the stream. */
  done = false;

  constructor(options: BodyObserverOptions = {}) {
    this.stableChunks = options.stableChunks ?? false;
  }

  write(chunk: Uint8Array): void {
    if (!this.head.stopped) this.head.write(chunk);
    if (this.stableChunks) this.keepReference(chunk);
    else this.keepCopy(chunk);
    this.total += chunk.byteLength;
  }

  /** See SseEventParser.finish for when a choice gets `error`. */
  finish(end?: BodyEnd): ResponseInfo {
    const head = this.head;
    head.settle();
    const info = head.info;
    const text = this.tailText();
    const tail = new SseEventParser({ tailAfter: { requestIdKnown: info.requestId !== undefined } });
    const cut = this.total > SSE_TAIL_WINDOW_BYTES;
    const start = tailStart(text, cut, info.requestId !== undefined);
    tail.writeText(start.from < text.length ? text.slice(start.from) : '');
    tail.settle();
    // A last usage (or envelope) marker that was not a real event hid an earlier real one:
    // read the whole window, as the exact answer needs. Only crafted streams get here.
    if (start.floor < start.from && !start.lastMarkersFound(tail.sawLastValue))
      return this.finishFromWindow(text.slice(start.floor), end);
    return this.combine(tail, end);
  }

  private finishFromWindow(text: string, end: BodyEnd | undefined): ResponseInfo {
    const tail = new SseEventParser({ tailAfter: { requestIdKnown: this.head.info.requestId !== undefined } });
    tail.writeText(text);
    tail.settle();
    return this.combine(tail, end);
  }

  /** The head's identity, and from the tail the stream's last word: finish reasons, usage, envelope. */
  private combine(tail: SseEventParser, end: BodyEnd | undefined): ResponseInfo {
    const head = this.head;
    const info = head.info;
    mergeMissing(info, tail.info);
    for (const key of TAIL_FIELDS) {
      delete info[key];
      if (tail.info[key] !== undefined) (info as Record<string, unknown>)[key] = tail.info[key];
    }
    this.done = tail.done;
    const seen = new Set([...head.seenChoices, ...tail.seenChoices]);
    const unfinished = end
      ? unfinishedChoices(tail.finishReasons, seen, end, tail.done && info.error === undefined)
      : [];
    const reasons = orderedReasons(withReasons(tail.finishReasons, unfinished));
    if (reasons !== undefined) info.finishReasons = reasons;
    return info;
  }

  private keepCopy(chunk: Uint8Array): void {
    const window = SSE_TAIL_WINDOW_BYTES;
    this.ring ??= new Uint8Array(window);
    const kept = chunk.byteLength > window ? chunk.subarray(chunk.byteLength - window) : chunk;
    const position = (this.total + chunk.byteLength - kept.byteLength) % window;
    const first = Math.min(kept.byteLength, window - position);
    this.ring.set(kept.subarray(0, first), position);
    if (first < kept.byteLength) this.ring.set(kept.subarray(first), 0);
  }

  private keepReference(chunk: Uint8Array): void {
    const window = SSE_TAIL_WINDOW_BYTES;
    // A chunk larger than the window would pin a large buffer for the whole stream: its end is copied.
    const kept = chunk.byteLength > 2 * window ? chunk.slice(chunk.byteLength - window) : chunk;
    const chunks = this.kept;
    chunks.push(kept);
    this.keptBytes += kept.byteLength;
    // A stream can hand over thousands of small chunks: what fell out of the window is dropped
    // in batches, once twice the window is held, not chunk by chunk.
    if (this.keptBytes < 2 * window) return;
    let from = this.keptFrom;
    while (chunks.length - from > 1 && this.keptBytes - chunks[from].byteLength >= window)
      this.keptBytes -= chunks[from++].byteLength;
    if (from > 64 && from * 2 > chunks.length) {
      this.kept = chunks.slice(from);
      from = 0;
    }
    this.keptFrom = from;
  }

  /**
   * The last min(total, window) bytes of the stream, in order, as text. The pieces are decoded
   * one after the other, not joined first: a buffer of the window's size would be allocated for
   * every stream, which costs more than the decoding.
   */
  private tailText(): string {
    const window = SSE_TAIL_WINDOW_BYTES;
    let pieces: Uint8Array[];
    if (this.stableChunks) {
      const chunks = this.kept;
      let first = chunks.length;
      let bytes = 0;
      while (first > this.keptFrom && bytes < window) bytes += chunks[--first].byteLength;
      pieces = chunks.slice(first);
      // Only the window's last bytes of the first piece.
      if (bytes > window) pieces[0] = pieces[0].subarray(bytes - window);
    } else if (this.ring === undefined) {
      return '';
    } else if (this.total <= window) {
      pieces = [this.ring.subarray(0, this.total)];
    } else {
      const start = this.total % window;
      pieces = [this.ring.subarray(start), this.ring.subarray(0, start)];
    }
    // Decoded piece by piece, a character split between two pieces joined again.
    if (pieces.length === 1)
      return Buffer.from(pieces[0].buffer, pieces[0].byteOffset, pieces[0].byteLength).toString('utf8');
    const decoder = new StringDecoder('utf8');
    let text = '';
    for (const piece of pieces) text += decoder.write(piece);
    return text + decoder.end();
  }
}

/** What only the tail of a stream tells. */
const TAIL_FIELDS = [
  'inputTokens',
  'outputTokens',
  'cacheReadInputTokens',
  'cacheWriteInputTokens',
  'reasoningOutputTokens',
  'providerStatusCode',
  'gatewayDurationSeconds',
] as const;

// Raw-text markers of the events a tail parse must not skip. Each matches wherever the
// corresponding test on an event's joined `data` could match (a key may end one data line and
// its value start the next), so they find a superset of the interesting events. Each is a
// separate regular expression: V8 scans a literal-led pattern at memchr speed, an alternation
// of them several times slower.
const FINISH_MARK = /"finish_reason"[ \t]*(?:[\r\n]|:[ \t]*(?:"|[\r\n]))/g;
const REQUEST_ID_MARK = /"request_id"[\s\S]/g;
const ERROR_MARK = /"error"[\s\S]/g;
const DONE_MARK = /\[DONE\][\r\n]/g;
const USAGE_MARK = /"usage"[ \t]*(?:[\r\n]|:[ \t]*(?:\{|[\r\n]))/g;
const USAGE_MARK_AT = /"usage"[ \t]*(?:[\r\n]|:[ \t]*(?:\{|[\r\n]))/y;
const STATUS_MARK = /"llm_status_code"[\s\S]/g;
const STATUS_MARK_AT = /"llm_status_code"[\s\S]/y;
const TIME_MARK = /"response_time"[\s\S]/g;
const TIME_MARK_AT = /"response_time"[\s\S]/y;

interface TailStart {
  /** Where the tail's first whole event starts. */
  floor: number;
  /** Where parsing starts: the start of the event holding the earliest marker. */
  from: number;
  /** Whether the parse found the last-value events whose markers placed `from`. */
  lastMarkersFound(saw: SseEventParser['sawLastValue']): boolean;
}

/**
 * Where the tail parse can start without changing its result: at the event holding the first
 * marker of a first-value or every-value field (finish_reason, request_id, error, [DONE]) or
 * the last marker of a last-value field (usage, llm_status_code, response_time). The events
 * before it are ordinary content deltas the full parse would frame and skip anyway.
 */
function tailStart(text: string, cut: boolean, requestIdKnown: boolean): TailStart {
  // A window that cut the stream starts mid-event: its first whole event follows a blank line.
  const floor = cut ? firstBlankLineEnd(text) : 0;
  if (floor === -1) return { floor: text.length, from: text.length, lastMarkersFound: () => true };
  let earliest = text.length;
  const first = (mark: RegExp) => {
    mark.lastIndex = floor;
    const at = mark.exec(text)?.index;
    if (at !== undefined && at < earliest) earliest = at;
    return at;
  };
  first(FINISH_MARK);
  if (!requestIdKnown) first(REQUEST_ID_MARK);
  first(ERROR_MARK);
  first(DONE_MARK);
  const lastMarks: Array<keyof SseEventParser['sawLastValue']> = [];
  const last = (mark: RegExp, markAt: RegExp, literal: string, field: keyof SseEventParser['sawLastValue']) => {
    mark.lastIndex = floor;
    const firstAt = mark.exec(text)?.index;
    if (firstAt === undefined) return;
    // Search back from the end: the last value is usually in the stream's last events.
    let at = text.lastIndexOf(literal);
    for (; at > firstAt; at = text.lastIndexOf(literal, at - 1)) {
      markAt.lastIndex = at;
      if (markAt.test(text)) break;
    }
    at = Math.max(at, firstAt);
    if (at < earliest) earliest = at;
    lastMarks.push(field);
  };
  last(USAGE_MARK, USAGE_MARK_AT, '"usage"', 'usage');
  last(STATUS_MARK, STATUS_MARK_AT, '"llm_status_code"', 'status');
  last(TIME_MARK, TIME_MARK_AT, '"response_time"', 'time');
  const from = earliest === text.length ? text.length : Math.max(floor, lastBlankLineEnd(text, earliest, floor));
  return {
    floor,
    from,
    lastMarkersFound: (saw) => lastMarks.every((field) => saw[field]),
  };
}

function isLineEnd(code: number): boolean {
  return code === LF || code === CR;
}

/**
 * The index just after the first blank line, or -1. Line ends are LF, CR or CRLF; a blank
 * line is a line end that immediately follows another. The text's first line end may be the
 * second half of a CRLF cut by the window, so it never counts as following another.
 */
function firstBlankLineEnd(text: string): number {
  // LF-only framing (what the gateway sends): one native search.
  if (text.indexOf('\r') === -1) {
    const at = text.indexOf('\n\n');
    return at === -1 ? -1 : at + 2;
  }
  let previousEnd = -2;
  let i = 0;
  while (i < text.length) {
    const lf = text.indexOf('\n', i);
    const cr = text.indexOf('\r', i);
    const s = cr === -1 ? lf : lf === -1 ? cr : Math.min(lf, cr);
    if (s === -1) return -1;
    const e = text.charCodeAt(s) === CR && text.charCodeAt(s + 1) === LF ? s + 1 : s;
    if (previousEnd === s - 1) return e + 1;
    previousEnd = e;
    i = e + 1;
  }
  return -1;
}

/**
 * The index just after the last blank line that ends at or before `position` (and after
 * `floor`), or `floor`. A line end is recognised locally: an LF after a CR is one CRLF.
 */
function lastBlankLineEnd(text: string, position: number, floor: number): number {
  // LF-only framing (what the gateway sends): a blank line is "\n\n", found in one native search.
  if (text.indexOf('\r', floor) === -1) {
    const at = text.lastIndexOf('\n\n', position - 2);
    return at >= floor ? at + 2 : floor;
  }
  let i = position - 1;
  while (i > floor) {
    const t = Math.max(text.lastIndexOf('\n', i), text.lastIndexOf('\r', i));
    if (t <= floor) return floor;
    const s = text.charCodeAt(t) === LF && t > 0 && text.charCodeAt(t - 1) === CR ? t - 1 : t;
    if (s - 1 >= floor && isLineEnd(text.charCodeAt(s - 1))) return t + 1;
    i = s - 1;
  }
  return floor;
}
