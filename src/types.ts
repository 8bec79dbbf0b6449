// The public types of this package, in one place: index.ts re-exports them and nothing else
// of the internals. A change here is a change to the package's API.
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

/** A host to treat as an LLM Gateway: a proxy, a private endpoint, a local simulator. */
export interface GatewayHost {
  /** `hostname` (any port) or `hostname:port`. Case-insensitive. */
  host: string;
  /** Value of `assemblyai.region` for calls to this host. Default `us`. */
  region?: string;
}

/**
 * Where captured message content goes: span attributes, the
 * `gen_ai.client.inference.operation.details` log record, or both. `true` is `span_only`.
 */
export type MessageContentCapture = boolean | 'span_only' | 'event_only' | 'span_and_event';

/**
 * What to do when a gateway call runs under another instrumentation's GenAI span for the same
 * call (the Vercel AI SDK, @opentelemetry/instrumentation-openai, OpenInference).
 */
export type OuterGenAiSpanMode = 'enrich' | 'child' | 'independent';

export interface LlmGatewayInstrumentationConfig extends InstrumentationConfig {
  /**
   * Hosts besides `llm-gateway.assemblyai.com` (us) and `llm-gateway.eu.assemblyai.com` (eu)
   * whose calls are gateway calls. Added to those of `OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS`.
   */
  hosts?: GatewayHost[];
  /**
   * A call with no activity (no response head, no body bytes) for this many milliseconds is
   * ended with what is known so far. Default 600000 (10 min).
   */
  maxCallDurationMs?: number;
  /**
   * Record prompts, completions, tool calls and tool definitions (size-capped). Default false,
   * or `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (`true`, `span_only`, `event_only`,
   * `span_and_event`). When off, no content is parsed or kept at all.
   */
  captureMessageContent?: MessageContentCapture;
  /** Rewrites each captured piece of content (mask PII); a hook that throws drops the piece. */
  redactMessageContent?: RedactMessageContent;
  /**
   * Called once per finished call with its record (request_id, model, status, ...), for apps
   * that log with pino or winston. Errors thrown by the hook go to the diag logger.
   */
  onCallEnd?: (record: LlmGatewayCallRecord) => void;
  /** Emit the per-call record as an OpenTelemetry log record (Logs API). Default true. */
  emitCallRecords?: boolean;
  /**
   * Also read `gen_ai.conversation.id`, `gen_ai.prompt.name` and `gen_ai.prompt.version` from
   * W3C baggage when the application context does not set them. Default false.
   */
  readContextFromBaggage?: boolean;
  /**
   * When a call runs under another instrumentation's GenAI span for the same call (README, "With
   * other GenAI instrumentations and frameworks"): `enrich` (default) puts the gateway's facts
   * and usage on that span and makes no second GenAI span; `child` makes ours a child of it with
   * the gateway's facts and no usage, model or operation (no backend bills it); `independent`
   * makes ours as if the other were not there (usage then counted twice).
   * Also `OTEL_INSTRUMENTATION_LLM_GATEWAY_OUTER_GENAI_SPAN`.
   */
  outerGenAiSpan?: OuterGenAiSpanMode;
  /**
   * Under such a span, token metric points are recorded only when that instrumentation records
   * none of its own (`auto`, default); `always` records them anyway (for an application that
   * drops the other instrumentation's token histogram with a View).
   */
  outerGenAiTokenMetrics?: 'auto' | 'always';
  /**
   * Record `gen_ai.client.operation.time_per_output_chunk`: one point per body chunk of a
   * stream after the first (at most 4096 a call). Default false: it costs a record per chunk.
   */
  timePerOutputChunkMetric?: boolean;
}

/** Rewrites one piece of captured message content before it is recorded (mask PII, drop it). */
export type RedactMessageContent = (
  content: string,
  context: { role: string; direction: 'input' | 'output' },
) => string;

/**
 * Per-call facts the application (or a framework) hands to the gateway calls made inside a
 * context: see `withLlmGatewayContext`.
 */
export interface LlmGatewayContext {
  /** `gen_ai.conversation.id`: the application's id of the conversation (the gateway keeps none). */
  conversationId?: string;
  /** `gen_ai.prompt.name`: the name of the prompt template the call was made from. */
  promptName?: string;
  /** `gen_ai.prompt.version`: its version. */
  promptVersion?: string;
}

/**
 * One record per call, as the gateway's troubleshooting guide asks every user to keep:
 * request_id, model, host and path, region, status, error code, time and duration, plus the
 * trace and span ids to find the call's span. Emitted as an OpenTelemetry log record and
 * handed to the `onCallEnd` hook.
 */
export interface LlmGatewayCallRecord {
  /** When the call started (ISO 8601). */
  timestamp: string;
  durationMs: number;
  /** `chat`, `understanding`, `list_models`, ... */
  operation: string;
  requestId?: string;
  /** The model asked for. */
  model?: string;
  /** The model that answered, when the response named one. */
  responseModel?: string;
  /**
   * Only when the request named fallbacks: whether one of them served the call (then
   * `responseModel` is the fallback, the model billed).
   */
  fallbackUsed?: boolean;
  /** The gateway host name (`llm-gateway.assemblyai.com`, a proxy, ...). */
  host: string;
  port: number;
  path: string;
  region: string;
  /** HTTP status; absent when no response arrived. */
  status?: number;
  /** The gateway's error code (`rate_limited`, `unauthorized`, ...). */
  errorCode?: string;
  /** `error.type` of the span: the error code, or the transport cause (`ECONNRESET`, `timeout`). */
  errorType?: string;
  /** Ids of the diagnostics found (see README, "Diagnostics"). */
  diagnostics: string[];
  traceId: string;
  spanId: string;
}
