import {
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type AttributeValue,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { OuterGenAiSpan } from './cooperation';
import type { Diagnostic } from './diagnostics';
import { timeToFirstChunkSeconds, type CallFacts } from './facts';
import { redactUrl } from './gateway';
import type { RequestInfo } from './parse/types';
import * as semconv from './semconv';
import type { LlmGatewayContext } from './types';

/** What the span of a call is started with: what a sampler may decide on. */
export interface SpanStart {
  readonly operation: string;
  readonly method: string;
  readonly url: URL;
  readonly serverPort: number;
  readonly region: string;
  readonly request: RequestInfo | undefined;
  readonly application: LlmGatewayContext | undefined;
}

/**
 * The shape of our span: `own` is the GenAI span of the call; `child` sits under another
 * instrumentation's GenAI span of the same call and carries the gateway's facts without what
 * makes a backend take it for a second generation (usage, model, operation name).
 */
export type SpanShape = 'own' | 'child';

/** Starts the CLIENT span of a call with every attribute known before the request leaves. */
export function startCallSpan(
  tracer: Tracer,
  start: SpanStart,
  parent: Context,
  shape: SpanShape,
  startTime?: number,
): Span {
  const attributes: Attributes = {
    [semconv.ATTR_GEN_AI_PROVIDER_NAME]: semconv.GEN_AI_PROVIDER_NAME_VALUE,
    [semconv.ATTR_SERVER_ADDRESS]: start.url.hostname,
    [semconv.ATTR_SERVER_PORT]: start.serverPort,
    [semconv.ATTR_HTTP_REQUEST_METHOD]: start.method,
    [semconv.ATTR_URL_FULL]: redactUrl(start.url),
    [semconv.ATTR_ASSEMBLYAI_REGION]: start.region,
  };
  if (shape === 'own') attributes[semconv.ATTR_GEN_AI_OPERATION_NAME] = start.operation;
  if (start.request !== undefined) addRequestAttributes(attributes, start.request, shape);
  if (start.application !== undefined) addApplicationAttributes(attributes, start.application);
  return tracer.startSpan(
    spanName(start.operation, start.request, shape),
    { kind: SpanKind.CLIENT, attributes, startTime },
    parent,
  );
}

/** The request body became known after the span started (node:http, a streamed fetch body). */
export function setRequestAttributes(span: Span, operation: string, request: RequestInfo, shape: SpanShape): void {
  const attributes: Attributes = {};
  addRequestAttributes(attributes, request, shape);
  span.setAttributes(attributes);
  span.updateName(spanName(operation, request, shape));
}

/** `chat {model}` for chat calls whose model is known, else the operation. */
export function spanName(operation: string, request: RequestInfo | undefined, shape: SpanShape = 'own'): string {
  const name = operation === semconv.GEN_AI_OPERATION_CHAT && request?.model ? `chat ${request.model}` : operation;
  return shape === 'own' ? name : `llm-gateway ${name}`;
}

function addRequestAttributes(attributes: Attributes, request: RequestInfo, shape: SpanShape): void {
  if (shape === 'own') set(attributes, semconv.ATTR_GEN_AI_REQUEST_MODEL, request.model);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_MAX_TOKENS, request.maxTokens);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_TEMPERATURE, request.temperature);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_TOP_P, request.topP);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_TOP_K, request.topK);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY, request.frequencyPenalty);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY, request.presencePenalty);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_SEED, request.seed);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES, request.stopSequences);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_CHOICE_COUNT, request.choiceCount);
  set(attributes, semconv.ATTR_GEN_AI_OUTPUT_TYPE, request.outputType);
  set(attributes, semconv.ATTR_GEN_AI_REQUEST_REASONING_LEVEL, request.reasoningLevel);
  if (request.stream) attributes[semconv.ATTR_GEN_AI_REQUEST_STREAM] = true;
  set(attributes, semconv.ATTR_ASSEMBLYAI_REQUEST_FALLBACK_MODELS, request.fallbackModels);
  set(attributes, semconv.ATTR_ASSEMBLYAI_REQUEST_MODEL_REGION, request.modelRegion);
  set(attributes, semconv.ATTR_ASSEMBLYAI_TRANSCRIPT_ID, request.transcriptId);
}

function addApplicationAttributes(attributes: Attributes, application: LlmGatewayContext): void {
  set(attributes, semconv.ATTR_GEN_AI_CONVERSATION_ID, application.conversationId);
  set(attributes, semconv.ATTR_GEN_AI_PROMPT_NAME, application.promptName);
  set(attributes, semconv.ATTR_GEN_AI_PROMPT_VERSION, application.promptVersion);
}

/** Captured content, formatted (only when capture is on and content goes on the span). */
export interface SpanContent {
  readonly input?: string;
  readonly output?: string;
  readonly toolDefinitions?: string;
}

/**
 * Puts what the call told on its span, in one setAttributes: the response, the gateway's
 * error, rate-limit state, and the diagnostics as events.
 */
export function applyCallFacts(
  span: Span,
  facts: CallFacts,
  diagnostics: readonly Diagnostic[],
  content: SpanContent | undefined,
  shape: SpanShape,
): void {
  const attributes: Attributes = {};
  addResponseAttributes(attributes, facts, shape);
  if (content !== undefined) {
    set(attributes, semconv.ATTR_GEN_AI_INPUT_MESSAGES, content.input);
    set(attributes, semconv.ATTR_GEN_AI_OUTPUT_MESSAGES, content.output);
    set(attributes, semconv.ATTR_GEN_AI_TOOL_DEFINITIONS, content.toolDefinitions);
  }
  span.setAttributes(attributes);
  addDiagnosticEvents(span, diagnostics);
  if (facts.statusMessage !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: facts.statusMessage });
}

/**
 * Puts the gateway's facts and the call's usage on another instrumentation's span of the same
 * (successful) call: its status and content stay its own. OpenInference backends (Phoenix,
 * Arize) read usage from `llm.token_count.*` only, which that instrumentation leaves empty
 * for streams.
 */
export function enrichOuterSpan(outer: OuterGenAiSpan, facts: CallFacts, diagnostics: readonly Diagnostic[]): void {
  const attributes: Attributes = { [semconv.ATTR_ASSEMBLYAI_REGION]: facts.region };
  addGatewayAttributes(attributes, facts);
  addUsageAttributes(attributes, facts);
  if (outer.convention === 'openinference') {
    const { inputTokens, outputTokens } = facts.response;
    set(attributes, OPENINFERENCE_PROMPT_TOKENS, inputTokens);
    set(attributes, OPENINFERENCE_COMPLETION_TOKENS, outputTokens);
    if (inputTokens !== undefined && outputTokens !== undefined)
      attributes[OPENINFERENCE_TOTAL_TOKENS] = inputTokens + outputTokens;
  }
  outer.span.setAttributes(attributes);
  addDiagnosticEvents(outer.span, diagnostics);
}

// OpenInference's names for token counts: another convention's, written only onto its spans.
const OPENINFERENCE_PROMPT_TOKENS = 'llm.token_count.prompt';
const OPENINFERENCE_COMPLETION_TOKENS = 'llm.token_count.completion';
const OPENINFERENCE_TOTAL_TOKENS = 'llm.token_count.total';

function addDiagnosticEvents(span: Span, diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) {
    span.addEvent(semconv.EVENT_ASSEMBLYAI_DIAGNOSTIC, {
      [semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_ID]: d.id,
      [semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_SEVERITY]: d.severity,
      [semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_MESSAGE]: d.message,
    });
  }
}

function addResponseAttributes(attributes: Attributes, facts: CallFacts, shape: SpanShape): void {
  const response = facts.response;
  set(attributes, semconv.ATTR_HTTP_RESPONSE_STATUS_CODE, facts.status);
  if (shape === 'own') {
    set(attributes, semconv.ATTR_GEN_AI_RESPONSE_MODEL, response.responseModel);
    addUsageAttributes(attributes, facts);
  }
  set(attributes, semconv.ATTR_GEN_AI_RESPONSE_ID, response.responseId);
  set(attributes, semconv.ATTR_GEN_AI_RESPONSE_FINISH_REASONS, response.finishReasons);
  set(attributes, semconv.ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, timeToFirstChunkSeconds(facts));
  set(attributes, semconv.ATTR_ERROR_TYPE, facts.errorType);
  addGatewayAttributes(attributes, facts);
}

/** Usage and its details (subsets of the input and output counts, never added to them). */
function addUsageAttributes(attributes: Attributes, facts: CallFacts): void {
  const response = facts.response;
  set(attributes, semconv.ATTR_GEN_AI_USAGE_INPUT_TOKENS, response.inputTokens);
  set(attributes, semconv.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, response.outputTokens);
  set(attributes, semconv.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, response.cacheReadInputTokens);
  // The same count under the newer name and the older one most backends still read.
  set(attributes, semconv.ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, response.cacheWriteInputTokens);
  set(attributes, semconv.ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, response.cacheWriteInputTokens);
  set(attributes, semconv.ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, response.reasoningOutputTokens);
}

/** The gateway's facts of a finished call (the region is known at the start: our spans start with it). */
function addGatewayAttributes(attributes: Attributes, facts: CallFacts): void {
  const { rateLimit } = facts;
  set(attributes, semconv.ATTR_ASSEMBLYAI_REQUEST_ID, facts.requestId);
  set(attributes, semconv.ATTR_ASSEMBLYAI_ERROR_CODE, facts.errorCode);
  if (facts.errorCode !== undefined) {
    set(attributes, semconv.ATTR_ASSEMBLYAI_ERROR_MESSAGE, facts.response.error?.message);
    set(attributes, semconv.ATTR_ASSEMBLYAI_ERROR_PARAM, facts.response.error?.param);
  }
  set(attributes, semconv.ATTR_ASSEMBLYAI_RATELIMIT_LIMIT, rateLimit.limit);
  set(attributes, semconv.ATTR_ASSEMBLYAI_RATELIMIT_REMAINING, rateLimit.remaining);
  set(attributes, semconv.ATTR_ASSEMBLYAI_RATELIMIT_RESET, rateLimit.reset);
  set(attributes, semconv.ATTR_ASSEMBLYAI_RETRY_AFTER, rateLimit.retryAfter);
  set(attributes, semconv.ATTR_ASSEMBLYAI_FALLBACK_USED, facts.fallbackUsed);
  set(attributes, semconv.ATTR_ASSEMBLYAI_PROVIDER_STATUS_CODE, facts.response.providerStatusCode);
  set(attributes, semconv.ATTR_ASSEMBLYAI_GATEWAY_DURATION, facts.response.gatewayDurationSeconds);
}

function set(attributes: Attributes, key: string, value: AttributeValue): void {
  if (value !== undefined) attributes[key] = value;
}
