import {
  context as contextApi,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type DiagLogger,
  type Logger,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { safeExecuteInTheMiddle } from '@opentelemetry/instrumentation';
import type { ResolvedConfig } from './config';
import { formatInputMessages, formatOutputMessages } from './content';
import { diagnose, type RequestHeaders } from './diagnostics';
import { emitCallRecord, type LlmGatewayCallRecord } from './record';
import { redactUrl } from './gateway';
import type { GatewayMetrics } from './metrics';
import { errorCodeForStatus } from './parse/errors';
import { parseRateLimitHeaders, type HeaderLookup, type RateLimitInfo } from './parse/headers';
import { JsonBodyObserver, responseInfoFromJsonText } from './parse/json-body';
import { responseInfoFromObject } from './parse/response';
import { SseEventParser, SseObserver } from './parse/sse';
import type { BodyObserver, RequestInfo, ResponseInfo } from './parse/types';
import { shortString } from './parse/values';
import * as semconv from './semconv';
import { sendingObserved } from './transports/shared';

/** What a call needs from the instrumentation, read when needed (the meter provider may change). */
export interface CallEnvironment {
  readonly tracer: Tracer;
  readonly metrics: GatewayMetrics;
  readonly config: ResolvedConfig;
  readonly diag: DiagLogger;
  readonly logger: Logger;
}

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

/** How a call ended, when it did not end with its body fully read. */
type Outcome =
  | { kind: 'completed' }
  | { kind: 'failed'; error: unknown }
  | { kind: 'cancelled' }
  | { kind: 'abandoned'; why: 'unread' | 'max_duration' };

/** Runs the layer below a transport for `call`: in its context, marked as an observed call being sent. */
export function sendObserved<T>(call: GatewayCall, send: () => T): T {
  return sendingObserved(() => contextApi.with(call.context, send));
}

/**
 * One observed gateway call: starts the span, learns from the response head and body as the
 * transport hands them over, and ends the span and records metrics exactly once, whichever
 * of completion, failure, cancel, abandonment or the duration cap comes first.
 * No method throws: a telemetry problem goes to diag, never to the application.
 */
export class GatewayCall {
  readonly span: Span;
  /** The context to run the underlying request in: the span is the parent of its HTTP span. */
  readonly context: Context;
  private readonly startedAt = performance.now();
  private lastActivityAt = this.startedAt;
  private firstChunkAt: number | undefined;
  private status: number | undefined;
  private rateLimit: RateLimitInfo = {};
  private rateLimitModel: string | undefined;
  private headerRequestId: string | undefined;
  private body: BodyObserver | undefined;
  /** Set when the application's own read of the body already told everything. */
  private readInfo: ResponseInfo | undefined;
  private eventStream = false;
  private ended = false;
  private finished = false;
  private errorCode: string | undefined;

  constructor(
    private readonly env: CallEnvironment,
    private readonly start: CallStart,
    parent: Context = contextApi.active(),
  ) {
    const attributes: Attributes = {
      [semconv.ATTR_GEN_AI_OPERATION_NAME]: start.operation,
      [semconv.ATTR_GEN_AI_PROVIDER_NAME]: semconv.GEN_AI_PROVIDER_NAME_VALUE,
      ...requestAttributes(start.request),
      [semconv.ATTR_SERVER_ADDRESS]: start.url.hostname,
      [semconv.ATTR_SERVER_PORT]: portOf(start.url),
      [semconv.ATTR_HTTP_REQUEST_METHOD]: start.method,
      [semconv.ATTR_URL_FULL]: redactUrl(start.url),
      [semconv.ATTR_ASSEMBLYAI_REGION]: start.region,
    };
    this.span = env.tracer.startSpan(spanName(start.operation, start.request), { kind: SpanKind.CLIENT, attributes }, parent);
    this.context = trace.setSpan(parent, this.span);
    openCalls.add(this);
    scheduleSweep();
  }

  /**
   * The request body, when it became known only after the span started: node:http writes it
   * after `http.request()` returns, and the span must already exist then for an HTTP span
   * started under it (by the http instrumentation) to be its child.
   */
  requestBody(request: RequestInfo): void {
    // Until the span is actually ended: a fetch Request's body may be read after the response.
    if (this.finished) return;
    this.guard(() => {
      this.start.request = request;
      this.span.setAttributes(requestAttributes(request));
      this.span.updateName(spanName(this.start.operation, request));
    });
  }

  /** The status line and headers arrived. */
  responseHead(status: number, getHeader: HeaderLookup): void {
    if (this.ended) return;
    this.guard(() => {
      this.lastActivityAt = performance.now();
      this.status = status;
      this.span.setAttribute(semconv.ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      this.headerRequestId = shortString(getHeader('x-request-id') ?? undefined);
      this.rateLimitModel = shortString(getHeader('x-ratelimit-model') ?? undefined);
      this.rateLimit = parseRateLimitHeaders(getHeader);
      this.recordRateLimit(this.rateLimit);
      const contentType = (getHeader('content-type') ?? '').toLowerCase();
      this.eventStream = contentType.includes('text/event-stream');
      const capture = this.env.config.captureMessageContent;
      // An HTML page (a proxy's 502) has nothing to tell; everything else may be JSON.
      // Capturing content needs every delta of a stream, not just its first event and tail.
      if (this.eventStream) this.body = capture ? new SseEventParser({ captureContent: true }) : new SseObserver();
      else if (!contentType.includes('text/html')) this.body = new JsonBodyObserver(capture);
    });
  }

  /** A chunk of the (decoded) response body passed to the application. */
  bodyChunk(chunk: Uint8Array): void {
    if (this.ended) return;
    this.guard(() => {
      this.lastActivityAt = performance.now();
      this.firstChunkAt ??= this.lastActivityAt;
      this.body?.write(chunk);
    });
  }

  /** The application read the whole body. */
  bodyEnd(): void {
    this.end({ kind: 'completed' });
  }

  /**
   * The application read the whole body at once (`json()`, `text()`, `arrayBuffer()`): what it
   * got is read here, so the body is neither copied nor parsed a second time when avoidable.
   */
  bodyRead(body: ConsumedBody): void {
    if (this.ended) return;
    this.guard(() => {
      this.lastActivityAt = performance.now();
      const observer = this.body;
      if (observer === undefined) return;
      const capture = this.env.config.captureMessageContent;
      if (!this.eventStream && 'json' in body) this.readInfo = responseInfoFromObject(body.json, capture);
      else if (!this.eventStream && 'text' in body) this.readInfo = responseInfoFromJsonText(body.text, capture);
      else if ('bytes' in body) observer.write(body.bytes);
      else if ('text' in body) observer.write(new TextEncoder().encode(body.text));
    });
    this.end({ kind: 'completed' });
  }

  /** The request or the body failed: network error, abort, timeout. */
  fail(error: unknown): void {
    this.end({ kind: 'failed', error });
  }

  /** The application cancelled the body (reader.cancel(), `break` out of `for await`). */
  cancel(): void {
    this.end({ kind: 'cancelled' });
  }

  /** The body will never be read (garbage collected), or nothing happened for maxCallDurationMs. */
  abandon(why: 'unread' | 'max_duration'): void {
    this.end({ kind: 'abandoned', why });
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
    // Finished at once, not deferred: an application that shuts the SDK down right after its
    // last call must still export that call's span. The transports end a call only after
    // handing the application its last bytes.
    this.finish(timedOut ? { kind: 'failed', error: TIMED_OUT } : outcome, endedAt);
  }

  private finish(outcome: Outcome, endedAt: number): void {
    this.finished = true;
    let errorType: string | undefined;
    let info: ResponseInfo = {};
    this.guard(() => {
      info = this.readInfo ?? this.body?.finish() ?? {};
      this.body = undefined;
      this.readInfo = undefined;
      errorType = this.applyResponse(info, outcome);
    });
    this.guard(() => this.recordMetrics(info, errorType, endedAt));
    this.guard(() => this.explain(info, errorType, endedAt));
    // A performance.now() value: the SDK anchors it to the span's own start clock.
    this.guard(() => this.span.end(endedAt));
  }

  /** Puts what the response told on the span; returns error.type when the call failed. */
  private applyResponse(info: ResponseInfo, outcome: Outcome): string | undefined {
    const span = this.span;
    const requestId = info.requestId ?? this.headerRequestId;
    setIfDefined(span, semconv.ATTR_ASSEMBLYAI_REQUEST_ID, requestId);
    setIfDefined(span, semconv.ATTR_GEN_AI_RESPONSE_MODEL, info.responseModel);
    setIfDefined(span, semconv.ATTR_GEN_AI_RESPONSE_ID, info.responseId);
    setIfDefined(span, semconv.ATTR_GEN_AI_RESPONSE_FINISH_REASONS, info.finishReasons);
    setIfDefined(span, semconv.ATTR_GEN_AI_USAGE_INPUT_TOKENS, info.inputTokens);
    setIfDefined(span, semconv.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, info.outputTokens);

    let errorType: string | undefined;
    const httpError = this.status !== undefined && this.status >= 400;
    // An error event in a successful stream (the upstream failed mid-answer) is a failure too.
    if (httpError || info.error !== undefined) {
      const code = info.error?.code ?? (httpError ? errorCodeForStatus(this.status!) : STREAM_ERROR);
      this.errorCode = code;
      span.setAttribute(semconv.ATTR_ASSEMBLYAI_ERROR_CODE, code);
      setIfDefined(span, semconv.ATTR_ASSEMBLYAI_ERROR_MESSAGE, info.error?.message);
      setIfDefined(span, semconv.ATTR_ASSEMBLYAI_ERROR_PARAM, info.error?.param);
      errorType = code;
      span.setStatus({ code: SpanStatusCode.ERROR, message: info.error?.message ?? `HTTP ${this.status}` });
    }
    if (outcome.kind === 'failed') {
      // A transport failure after an error status keeps the gateway's code as error.type.
      const cause = errorTypeOf(outcome.error);
      errorType ??= cause;
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${cause}: ${safeMessage(outcome.error)}` });
    }
    setIfDefined(span, semconv.ATTR_ERROR_TYPE, errorType);
    return errorType;
  }

  /**
   * What the troubleshooting guide asks for: the diagnostics as span events, opt-in message
   * content, and the per-call record (log record and onCallEnd hook).
   */
  private explain(info: ResponseInfo, errorType: string | undefined, endedAt: number): void {
    const config = this.env.config;
    const span = this.span;
    const requestId = info.requestId ?? this.headerRequestId;
    const diagnostics = diagnose({
      operation: this.start.operation,
      url: this.start.url,
      request: this.start.request,
      requestHeaders: this.start.requestHeaders,
      status: this.status,
      isEventStream: this.eventStream,
      error: info.error,
      rateLimit: this.rateLimit,
      requestId,
    });
    for (const d of diagnostics) {
      span.addEvent(semconv.EVENT_ASSEMBLYAI_DIAGNOSTIC, {
        [semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_ID]: d.id,
        [semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_SEVERITY]: d.severity,
        [semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_MESSAGE]: d.message,
      });
    }
    if (config.captureMessageContent) {
      setIfDefined(span, semconv.ATTR_GEN_AI_INPUT_MESSAGES, formatInputMessages(this.start.request?.inputMessages, config.redactMessageContent));
      setIfDefined(span, semconv.ATTR_GEN_AI_OUTPUT_MESSAGES, formatOutputMessages(info.outputMessages, config.redactMessageContent));
    }
    if (!config.emitCallRecords && config.onCallEnd === undefined) return;
    const spanContext = span.spanContext();
    const record: LlmGatewayCallRecord = {
      timestamp: new Date(performance.timeOrigin + this.startedAt).toISOString(),
      durationMs: Math.round(endedAt - this.startedAt),
      operation: this.start.operation,
      requestId,
      model: this.start.request?.model,
      responseModel: info.responseModel,
      host: this.start.url.hostname,
      port: portOf(this.start.url),
      path: this.start.url.pathname,
      region: this.start.region,
      status: this.status,
      errorCode: this.errorCode,
      errorType,
      diagnostics: diagnostics.map((d) => d.id),
      traceId: spanContext.traceId,
      spanId: spanContext.spanId,
    };
    if (config.emitCallRecords) emitCallRecord(this.env.logger, record, this.context);
    const hook = config.onCallEnd;
    if (hook) {
      safeExecuteInTheMiddle(
        () => hook(record),
        (error) => error && this.env.diag.error('llm-gateway: onCallEnd hook threw', error),
        true,
      );
    }
  }

  private recordRateLimit(rateLimit: RateLimitInfo): void {
    const span = this.span;
    setIfDefined(span, semconv.ATTR_ASSEMBLYAI_RATELIMIT_LIMIT, rateLimit.limit);
    setIfDefined(span, semconv.ATTR_ASSEMBLYAI_RATELIMIT_REMAINING, rateLimit.remaining);
    setIfDefined(span, semconv.ATTR_ASSEMBLYAI_RATELIMIT_RESET, rateLimit.reset);
    setIfDefined(span, semconv.ATTR_ASSEMBLYAI_RETRY_AFTER, rateLimit.retryAfter);
    if (rateLimit.limit === undefined && rateLimit.remaining === undefined) return;
    this.env.metrics.recordRateLimit({
      model: this.start.request?.model ?? this.rateLimitModel,
      region: this.start.region,
      limit: rateLimit.limit,
      remaining: rateLimit.remaining,
    });
  }

  private recordMetrics(info: ResponseInfo, errorType: string | undefined, endedAt: number): void {
    this.env.metrics.recordCall({
      operation: this.start.operation,
      requestModel: this.start.request?.model,
      responseModel: info.responseModel,
      serverAddress: this.start.url.hostname,
      serverPort: portOf(this.start.url),
      region: this.start.region,
      errorType,
      durationSeconds: (endedAt - this.startedAt) / 1000,
      inputTokens: info.inputTokens,
      outputTokens: info.outputTokens,
      timeToFirstChunkSeconds:
        this.eventStream && this.firstChunkAt !== undefined ? (this.firstChunkAt - this.startedAt) / 1000 : undefined,
    });
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.env.diag.error('llm-gateway: telemetry for a call failed', error);
    }
  }
}

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

function requestAttributes(request: RequestInfo | undefined): Attributes {
  return {
    [semconv.ATTR_GEN_AI_REQUEST_MODEL]: request?.model,
    [semconv.ATTR_GEN_AI_REQUEST_MAX_TOKENS]: request?.maxTokens,
    [semconv.ATTR_GEN_AI_REQUEST_TEMPERATURE]: request?.temperature,
    [semconv.ATTR_GEN_AI_REQUEST_STREAM]: request?.stream ? true : undefined,
  };
}

/** `chat {model}` for chat calls whose model is known, else the operation. */
function spanName(operation: string, request: RequestInfo | undefined): string {
  return operation === semconv.GEN_AI_OPERATION_CHAT && request?.model ? `chat ${request.model}` : operation;
}

function setIfDefined(span: Span, key: string, value: string | number | boolean | string[] | undefined): void {
  if (value !== undefined) span.setAttribute(key, value);
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'http:' ? 80 : 443;
}

/**
 * A low-cardinality `error.type` for a transport failure: `aborted`, `timeout`, the
 * system/undici error code (`ECONNRESET`, `UND_ERR_SOCKET`, ...), else the error's name.
 */
export function errorTypeOf(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '_OTHER';
  const e = error as { name?: unknown; code?: unknown; cause?: unknown };
  if (e.name === 'AbortError') return 'aborted';
  if (e.name === 'TimeoutError') return 'timeout';
  const cause = e.cause as { code?: unknown; name?: unknown } | undefined;
  if (cause && typeof cause === 'object') {
    if (cause.name === 'AbortError') return 'aborted';
    if (cause.name === 'TimeoutError' || cause.code === 'UND_ERR_HEADERS_TIMEOUT' || cause.code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
    if (typeof cause.code === 'string') return cause.code;
  }
  if (e.code === 'ETIMEDOUT' || e.code === 'ESOCKETTIMEDOUT') return 'timeout';
  if (typeof e.code === 'string') return e.code;
  return typeof e.name === 'string' && e.name ? e.name : '_OTHER';
}

/**
 * An error message fit for a span status: bounded, and with every URL in it reduced to its
 * origin and path (undici quotes whole URLs, userinfo and query string included).
 */
export function safeMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, (url) => {
      try {
        return redactUrl(new URL(url));
      } catch {
        return 'REDACTED-URL';
      }
    })
    .replace(/\bbearer\s+\S+/gi, 'Bearer REDACTED')
    .slice(0, 200);
}
