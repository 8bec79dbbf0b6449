import {
  context as contextApi,
  INVALID_SPAN_CONTEXT,
  trace,
  type Context,
  type DiagLogger,
  type Logger,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { applicationContextOf } from './context';
import { formatInputMessages, formatOutputMessages, formatToolDefinitions } from './content';
import type { ResolvedConfig } from './config';
import { diagnose, type Diagnostic } from './diagnostics';
import { errorTypeOf, portOf, safeMessage, type CallFacts, type Outcome, type RequestHeaders } from './facts';
import { guard } from './guard';
import { MAX_CHUNK_GAPS_PER_CALL, type GatewayMetrics } from './metrics';
import { errorCodeForStatus } from './parse/errors';
import { fallbackServed } from './parse/request';
import type { RateLimitInfo, ResponseHead } from './parse/headers';
import { JsonBodyObserver, responseInfoFromJsonText } from './parse/json-body';
import { responseInfoFromObject } from './parse/response';
import { SseEventParser, SseObserver } from './parse/sse';
import type { BodyObserver, RequestInfo, ResponseInfo } from './parse/types';
import { callRecord, emitCallRecord, emitInferenceDetails } from './record';
import * as semconv from './semconv';
import { findOuterGenAiSpan, type OuterGenAiSpan } from './cooperation';
import {
  applyCallFacts,
  enrichOuterSpan,
  setRequestAttributes,
  startCallSpan,
  type SpanContent,
  type SpanShape,
  type SpanStart,
} from './span';
import type { LlmGatewayContext } from './types';

export type { RequestHeaders } from './facts';

/** What a call needs from the instrumentation, read when needed (the meter provider may change). */
export interface CallEnvironment {
  readonly tracer: Tracer;
  readonly metrics: GatewayMetrics;
  readonly config: ResolvedConfig;
  readonly diag: DiagLogger;
  readonly logger: Logger;
}

/** What a transport knows when a call starts. */
export interface CallStart {
  method: string;
  url: URL;
  region: string;
  operation: string;
  request: RequestInfo | undefined;
  /** The request's headers, as sent. Read for diagnostics only; never copied to telemetry. */
  requestHeaders?: RequestHeaders;
}

/** A body the application read whole, in the form it read it. */
export type ConsumedBody = { json: unknown } | { text: string } | { bytes: Uint8Array };

/**
 * One observed gateway call. Its methods are the transport's messages, in the order they come
 * (request body, response head, body chunks, then one end: completed, failed, cancelled or
 * abandoned); it gathers the facts they tell, and at the end hands one CallFacts value to the
 * steps that report it: the span, the metric points, the diagnostics and the call record.
 * It ends exactly once, whichever end comes first. No method throws: a telemetry problem goes
 * to diag, never to the application.
 */
export class GatewayCall {
  /**
   * Our span: undefined while another instrumentation's GenAI span of this call stands for it
   * (`enrich`), until the end shows whether its facts go there or on a span of ours.
   */
  private span: Span | undefined;
  private readonly shape: SpanShape;
  /** Another instrumentation's GenAI span for this very call, active when it started. */
  private readonly outer: OuterGenAiSpan | undefined;
  private readonly parent: Context;
  /** The context to run the underlying request in: our span is the parent of its HTTP span. */
  readonly context: Context;
  private readonly startedAt = performance.now();
  private readonly serverPort: number;
  private readonly application: LlmGatewayContext | undefined;
  private lastActivityAt = this.startedAt;
  private firstChunkAt: number | undefined;
  /** Opt-in time_per_output_chunk (streams): seconds between consecutive body chunks. */
  private chunkGaps: number[] | undefined;
  private unstampedChunks = 0;
  private status: number | undefined;
  private rateLimit: RateLimitInfo = NO_RATE_LIMIT;
  private headerRequestId: string | undefined;
  private body: BodyObserver | undefined;
  /** Set when the application's own read of the body already told everything. */
  private readInfo: ResponseInfo | undefined;
  private eventStream = false;
  /** The body arrives compressed: compressedBodyChunk() times it, not the decoded chunks. */
  private compressed = false;
  private stableChunks = false;
  private ended = false;

  constructor(
    private readonly env: CallEnvironment,
    private readonly start: CallStart,
    parent: Context = contextApi.active(),
  ) {
    const { config } = env;
    this.serverPort = portOf(start.url);
    this.parent = parent;
    this.application = applicationContextOf(parent, config.readContextFromBaggage);
    this.outer =
      config.outerGenAiSpan !== 'independent' && INFERENCE_OPERATIONS.has(start.operation)
        ? findOuterGenAiSpan(parent, start.request?.model)
        : undefined;
    this.shape = this.outer === undefined ? 'own' : 'child';
    if (this.outer !== undefined && config.outerGenAiSpan === 'enrich') {
      this.context = parent;
    } else {
      // The span starts when the call's clock does: durations and time to first chunk agree.
      this.span = startCallSpan(env.tracer, this.spanStart(), parent, this.shape, this.startedAt);
      this.context = trace.setSpan(parent, this.span);
    }
    openCalls.add(this);
    scheduleSweep();
  }

  /**
   * The request body, when it became known only after the span started: node:http writes it
   * after `http.request()` returns, and the span must already exist then for an HTTP span
   * started under it (by the http instrumentation) to be its child.
   */
  requestBody(request: RequestInfo): void {
    if (this.ended) return;
    guard(this.env.diag, 'could not read a request body', () => {
      this.start.request = request;
      if (this.span !== undefined) setRequestAttributes(this.span, this.start.operation, request, this.shape);
    });
  }

  /** The status line and headers arrived. */
  responseHead(status: number, head: ResponseHead): void {
    if (this.ended) return;
    try {
      this.lastActivityAt = performance.now();
      this.status = status;
      this.headerRequestId = head.requestId;
      const rateLimit = head.rateLimit;
      this.rateLimit = rateLimit;
      if (rateLimit.limit !== undefined || rateLimit.remaining !== undefined) {
        const model = this.start.request?.model ?? head.rateLimitModel;
        this.env.metrics.noteRateLimit(model, this.start.region, rateLimit.limit, rateLimit.remaining);
      }
      const contentType = head.contentType;
      this.eventStream = contentType.includes('text/event-stream');
      if (this.eventStream && this.env.config.timePerOutputChunk) this.chunkGaps = [];
      const captureContent = this.env.config.captureMessageContent;
      const stableChunks = this.stableChunks;
      // An HTML page (a proxy's 502) has nothing to tell; everything else may be JSON.
      // Capturing content needs every delta of a stream, not just its first event and tail.
      if (this.eventStream)
        this.body = captureContent ? new SseEventParser({ captureContent }) : new SseObserver({ stableChunks });
      else if (!contentType.includes('text/html')) this.body = new JsonBodyObserver({ captureContent, stableChunks });
    } catch (error) {
      this.env.diag.error('llm-gateway: could not read a response head', error);
    }
  }

  /** A chunk of the (decoded) response body. */
  bodyChunk(chunk: Uint8Array): void {
    if (this.ended) return;
    try {
      if (!this.compressed) this.noteArrival();
      this.body?.write(chunk);
    } catch (error) {
      this.env.diag.error('llm-gateway: could not read a response body chunk', error);
      this.body = undefined;
    }
  }

  /**
   * Compressed body bytes arrived: they time the call (first chunk, activity); their decoded
   * bytes follow through bodyChunk once the side decoder has them.
   */
  compressedBodyChunk(): void {
    if (this.ended) return;
    this.compressed = true;
    this.noteArrival();
  }

  /**
   * Times a body chunk. A stream can bring thousands: the clock is read for the first chunk,
   * for every chunk when time_per_output_chunk is asked for, and otherwise every 32nd chunk,
   * which is all the idle cap and the end of an abandoned call need.
   */
  private noteArrival(): void {
    if (this.firstChunkAt === undefined) {
      this.lastActivityAt = this.firstChunkAt = performance.now();
    } else if (this.chunkGaps !== undefined) {
      const now = performance.now();
      if (this.chunkGaps.length < MAX_CHUNK_GAPS_PER_CALL) this.chunkGaps.push((now - this.lastActivityAt) / 1000);
      this.lastActivityAt = now;
    } else if (++this.unstampedChunks === 32) {
      this.unstampedChunks = 0;
      this.lastActivityAt = performance.now();
    }
  }

  /** The whole body was received (at the wire) or read by the application. */
  bodyEnd(): void {
    this.end(COMPLETED);
  }

  /**
   * The application read the whole body at once (`json()`, `text()`, `arrayBuffer()`): what it
   * got is read here, so the body is neither copied nor parsed a second time when avoidable.
   */
  bodyRead(body: ConsumedBody): void {
    if (this.ended) return;
    guard(this.env.diag, 'could not read a response body', () => {
      this.lastActivityAt = performance.now();
      const observer = this.body;
      if (observer === undefined) return;
      const capture = this.env.config.captureMessageContent;
      if (!this.eventStream && 'json' in body) this.readInfo = responseInfoFromObject(body.json, capture);
      else if (!this.eventStream && 'text' in body) this.readInfo = responseInfoFromJsonText(body.text, capture);
      else if ('bytes' in body) observer.write(body.bytes);
      else if ('text' in body) observer.write(new TextEncoder().encode(body.text));
    });
    this.end(COMPLETED);
  }

  /** The request or the body failed: network error, abort, timeout. */
  fail(error: unknown): void {
    this.end({ kind: 'failed', error });
  }

  /** The application cancelled the body (reader.cancel(), `break` out of `for await`). */
  cancel(): void {
    this.end(CANCELLED);
  }

  /** The body will never be read (garbage collected), or nothing happened for maxCallDurationMs. */
  abandon(why: 'unread' | 'max_duration'): void {
    this.end({ kind: 'abandoned', why });
  }

  /**
   * The transport hands over body chunks that are never reused or detached afterwards (undici's
   * body channel): the parsers may keep references instead of copies.
   */
  chunksAreStable(): void {
    this.stableChunks = true;
  }

  /** The response is a `text/event-stream` (known once the head arrived). */
  get isEventStream(): boolean {
    return this.eventStream;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Idle (no response head, no body chunk) for longer than maxCallDurationMs at `now`. */
  isIdleBeyondCap(now: number): boolean {
    return now - this.lastActivityAt >= this.env.config.maxCallDurationMs;
  }

  private end(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    openCalls.delete(this);
    // An abandoned call ends when it was last active, not when the GC or the sweep noticed;
    // unless no response ever came, which is a timeout that ends now.
    const timedOut = outcome.kind === 'abandoned' && outcome.why === 'max_duration' && this.status === undefined;
    const endedAt = outcome.kind === 'abandoned' && !timedOut ? this.lastActivityAt : performance.now();
    const facts = guard(this.env.diag, 'could not gather the facts of a call', () =>
      this.gatherFacts(timedOut ? { kind: 'failed', error: TIMED_OUT } : outcome, endedAt),
    );
    // Reported at once, not deferred: an application that shuts the SDK down right after its
    // last call must still export that call's span. The transports end a call before (wire)
    // or right after (tap) handing the application its last bytes.
    if (facts !== undefined) this.report(facts);
    const span = this.span;
    if (span !== undefined) guard(this.env.diag, 'could not end a span', () => span.end(endedAt));
  }

  private spanStart(): SpanStart {
    return { ...this.start, serverPort: this.serverPort, application: this.application };
  }

  /**
   * The named steps that report a finished call, each from the same facts and each guarded on
   * its own: a failure in one leaves the others (and the span's end) intact.
   */
  private report(facts: CallFacts): void {
    const { env, outer } = this;
    const { config, diag } = env;
    const diagnostics = guard(diag, 'could not diagnose a call', () => diagnose(facts)) ?? NO_DIAGNOSTICS;
    const content = config.captureMessageContent
      ? guard(diag, 'could not format message content', () => formatContent(facts, config))
      : undefined;
    let recordSpan: Span | undefined = this.span;
    if (outer !== undefined && recordSpan === undefined) {
      // enrich: a successful call's facts go on their span, once; a failed attempt (which a
      // retry may follow), or a span already ended or claimed, gets a span of ours under theirs.
      if (facts.errorType === undefined && outer.span.isRecording() && !enrichedOuterSpans.has(outer.span)) {
        enrichedOuterSpans.add(outer.span);
        guard(diag, 'could not add the facts of a call to its outer span', () =>
          enrichOuterSpan(outer, facts, diagnostics),
        );
        recordSpan = outer.span;
      } else {
        this.span = guard(diag, 'could not start a span', () =>
          startCallSpan(env.tracer, this.spanStart(), this.parent, 'child', facts.startedAt),
        );
        recordSpan = this.span;
      }
    }
    const span = this.span;
    if (span !== undefined) {
      const spanContent = config.contentOnSpan ? content : undefined;
      guard(diag, 'could not set the attributes of a span', () =>
        applyCallFacts(span, facts, diagnostics, spanContent, this.shape),
      );
    }
    // Token points once per call: not when the outer instrumentation records its own.
    const tokens = outer === undefined || !outer.recordsTokenMetrics || config.alwaysRecordTokenMetrics;
    guard(diag, 'could not record metrics', () => env.metrics.recordCall(facts, tokens, this.chunkGaps));
    const context = recordSpan === undefined ? this.context : trace.setSpan(this.parent, recordSpan);
    guard(diag, 'could not emit the record of a call', () =>
      emitRecords(env, recordSpan, context, facts, diagnostics, content),
    );
  }

  /** Everything the call told, in one value. */
  private gatherFacts(outcome: Outcome, endedAt: number): CallFacts {
    const { start, status } = this;
    // A 2xx chat call whose choices never all finished (cut, cancelled, failed) reports `error`
    // for each: the parsers know which finished; the request says how many were asked for.
    const answered =
      status !== undefined && status >= 200 && status < 300 && start.operation === semconv.GEN_AI_OPERATION_CHAT;
    const end = {
      complete: outcome.kind === 'completed',
      expectedChoices: answered ? (start.request?.choiceCount ?? 1) : undefined,
    };
    const response = this.readInfo ?? this.body?.finish(end) ?? NO_RESPONSE;
    this.body = undefined;
    this.readInfo = undefined;

    let errorCode: string | undefined;
    let errorType: string | undefined;
    let statusMessage: string | undefined;
    const httpError = status !== undefined && status >= 400;
    // An error event in a successful stream (the upstream failed mid-answer) is a failure too.
    if (httpError || response.error !== undefined) {
      errorCode = response.error?.code ?? (httpError ? errorCodeForStatus(status) : STREAM_ERROR);
      errorType = errorCode;
      statusMessage = response.error?.message ?? `HTTP ${status}`;
    }
    if (outcome.kind === 'failed') {
      // A transport failure after an error status keeps the gateway's code as error.type.
      const cause = errorTypeOf(outcome.error);
      errorType ??= cause;
      statusMessage = `${cause}: ${safeMessage(outcome.error)}`;
    }
    return {
      operation: start.operation,
      method: start.method,
      url: start.url,
      serverAddress: start.url.hostname,
      serverPort: this.serverPort,
      region: start.region,
      request: start.request,
      requestHeaders: start.requestHeaders,
      application: this.application,
      status,
      rateLimit: this.rateLimit,
      isEventStream: this.eventStream,
      response,
      requestId: response.requestId ?? this.headerRequestId,
      outcome,
      errorCode,
      errorType,
      statusMessage,
      fallbackUsed: fallbackServed(start.request, response.responseModel),
      startedAt: this.startedAt,
      endedAt,
      firstChunkAt: this.firstChunkAt,
    };
  }
}

function formatContent(facts: CallFacts, config: ResolvedConfig): SpanContent {
  return {
    input: formatInputMessages(facts.request?.inputMessages, config.redactMessageContent),
    output: formatOutputMessages(facts.response.outputMessages, config.redactMessageContent),
    toolDefinitions: formatToolDefinitions(facts.request?.toolDefinitions),
  };
}

/** The call record (log record and onCallEnd hook) and the content event, only when someone listens. */
function emitRecords(
  env: CallEnvironment,
  span: Span | undefined,
  context: Context,
  facts: CallFacts,
  diagnostics: readonly Diagnostic[],
  content: SpanContent | undefined,
): void {
  const { config, logger } = env;
  if (
    content !== undefined &&
    config.contentInEvent &&
    logger.enabled({ context, eventName: semconv.EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS })
  ) {
    emitInferenceDetails(logger, facts, content, context);
  }
  if (config.emitCallRecords && logger.enabled({ context, eventName: semconv.EVENT_ASSEMBLYAI_CALL })) {
    emitCallRecord(logger, facts, diagnostics, context);
  }
  const hook = config.onCallEnd;
  if (hook === undefined) return;
  const record = callRecord(facts, diagnostics, span?.spanContext() ?? INVALID_SPAN_CONTEXT);
  guard(env.diag, 'the onCallEnd hook threw', () => hook(record));
}

/** The operations other GenAI instrumentations make an inference span for. */
const INFERENCE_OPERATIONS: ReadonlySet<string> = new Set([
  semconv.GEN_AI_OPERATION_CHAT,
  semconv.GEN_AI_OPERATION_TEXT_COMPLETION,
]);
/** Outer spans a call's facts were already written to: a second call under one gets a span of its own. */
const enrichedOuterSpans = new WeakSet<Span>();
const COMPLETED: Outcome = { kind: 'completed' };
const CANCELLED: Outcome = { kind: 'cancelled' };
const NO_RATE_LIMIT: RateLimitInfo = Object.freeze({});
const NO_RESPONSE: ResponseInfo = Object.freeze({});
const NO_DIAGNOSTICS: readonly Diagnostic[] = Object.freeze([]);
/** error.type of an error event inside a successful (200) stream that names no code. */
const STREAM_ERROR = 'stream_error';
/** What a call that never got a response within maxCallDurationMs failed with. */
const TIMED_OUT = Object.assign(new Error('no response within maxCallDurationMs'), { name: 'TimeoutError' });

// One sweep timer for all open calls instead of a timer per call: calls are many and short,
// and only a body that is held but never finished ever reaches its deadline.
const openCalls = new Set<GatewayCall>();
const SWEEP_INTERVAL_MS = 1000;
let sweepTimer: NodeJS.Timeout | undefined;

function scheduleSweep(): void {
  if (sweepTimer !== undefined) return;
  sweepTimer = setInterval(sweepOpenCalls, SWEEP_INTERVAL_MS);
  sweepTimer.unref();
}

function sweepOpenCalls(): void {
  const now = performance.now();
  for (const call of openCalls) if (call.isIdleBeyondCap(now)) call.abandon('max_duration');
  if (openCalls.size === 0 && sweepTimer !== undefined) {
    clearInterval(sweepTimer);
    sweepTimer = undefined;
  }
}
