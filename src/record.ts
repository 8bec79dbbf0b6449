import { SeverityNumber, type Attributes, type Context, type Logger, type SpanContext } from '@opentelemetry/api';
import type { Diagnostic } from './diagnostics';
import type { CallFacts } from './facts';
import * as semconv from './semconv';
import type { SpanContent } from './span';
import type { LlmGatewayCallRecord } from './types';

/** The per-call record the troubleshooting guide asks for, from the call's facts. */
export function callRecord(
  facts: CallFacts,
  diagnostics: readonly Diagnostic[],
  spanContext: SpanContext,
): LlmGatewayCallRecord {
  const record: LlmGatewayCallRecord = {
    timestamp: new Date(performance.timeOrigin + facts.startedAt).toISOString(),
    durationMs: Math.round(facts.endedAt - facts.startedAt),
    operation: facts.operation,
    requestId: facts.requestId,
    model: facts.request?.model,
    responseModel: facts.response.responseModel,
    host: facts.serverAddress,
    port: facts.serverPort,
    path: facts.url.pathname,
    region: facts.region,
    status: facts.status,
    errorCode: facts.errorCode,
    errorType: facts.errorType,
    diagnostics: diagnostics.map((d) => d.id),
    traceId: spanContext.traceId,
    spanId: spanContext.spanId,
  };
  if (facts.fallbackUsed !== undefined) record.fallbackUsed = facts.fallbackUsed;
  return record;
}

/**
 * The record as an OpenTelemetry log record, correlated with the call's span: built straight from
 * the facts (every call of a busy service makes one), with only the attributes that have a value.
 */
export function emitCallRecord(
  logger: Logger,
  facts: CallFacts,
  diagnostics: readonly Diagnostic[],
  context: Context,
): void {
  const durationMs = Math.round(facts.endedAt - facts.startedAt);
  const attributes: Attributes = {
    [semconv.ATTR_GEN_AI_OPERATION_NAME]: facts.operation,
    [semconv.ATTR_GEN_AI_PROVIDER_NAME]: semconv.GEN_AI_PROVIDER_NAME_VALUE,
    [semconv.ATTR_SERVER_ADDRESS]: facts.serverAddress,
    [semconv.ATTR_SERVER_PORT]: facts.serverPort,
    [semconv.ATTR_URL_PATH]: facts.url.pathname,
    [semconv.ATTR_ASSEMBLYAI_REGION]: facts.region,
    [semconv.ATTR_ASSEMBLYAI_CALL_DURATION_MS]: durationMs,
  };
  const model = facts.request?.model;
  if (model !== undefined) attributes[semconv.ATTR_GEN_AI_REQUEST_MODEL] = model;
  const responseModel = facts.response.responseModel;
  if (responseModel !== undefined) attributes[semconv.ATTR_GEN_AI_RESPONSE_MODEL] = responseModel;
  if (facts.fallbackUsed !== undefined) attributes[semconv.ATTR_ASSEMBLYAI_FALLBACK_USED] = facts.fallbackUsed;
  if (facts.requestId !== undefined) attributes[semconv.ATTR_ASSEMBLYAI_REQUEST_ID] = facts.requestId;
  if (facts.status !== undefined) attributes[semconv.ATTR_HTTP_RESPONSE_STATUS_CODE] = facts.status;
  if (facts.errorCode !== undefined) attributes[semconv.ATTR_ASSEMBLYAI_ERROR_CODE] = facts.errorCode;
  if (facts.errorType !== undefined) attributes[semconv.ATTR_ERROR_TYPE] = facts.errorType;
  if (diagnostics.length > 0) attributes[semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_IDS] = diagnostics.map((d) => d.id);
  const failed = facts.errorType !== undefined;
  logger.emit({
    eventName: semconv.EVENT_ASSEMBLYAI_CALL,
    severityNumber: failed ? SeverityNumber.ERROR : SeverityNumber.INFO,
    severityText: failed ? 'ERROR' : 'INFO',
    body: summaryLine({
      operation: facts.operation,
      model,
      responseModel,
      fallbackUsed: facts.fallbackUsed,
      status: facts.status,
      errorCode: facts.errorCode,
      errorType: facts.errorType,
      requestId: facts.requestId,
      region: facts.region,
      durationMs,
    }),
    attributes,
    context,
  });
}

/**
 * The semconv `gen_ai.client.inference.operation.details` event (content capture in the
 * `event_only` and `span_and_event` modes): the call's identity and its captured content.
 */
export function emitInferenceDetails(logger: Logger, facts: CallFacts, content: SpanContent, context: Context): void {
  const attributes: Attributes = {
    [semconv.ATTR_GEN_AI_OPERATION_NAME]: facts.operation,
    [semconv.ATTR_GEN_AI_PROVIDER_NAME]: semconv.GEN_AI_PROVIDER_NAME_VALUE,
    [semconv.ATTR_GEN_AI_REQUEST_MODEL]: facts.request?.model,
    [semconv.ATTR_GEN_AI_RESPONSE_MODEL]: facts.response.responseModel,
    [semconv.ATTR_GEN_AI_RESPONSE_ID]: facts.response.responseId,
    [semconv.ATTR_GEN_AI_RESPONSE_FINISH_REASONS]: facts.response.finishReasons,
    [semconv.ATTR_ERROR_TYPE]: facts.errorType,
    [semconv.ATTR_GEN_AI_INPUT_MESSAGES]: content.input,
    [semconv.ATTR_GEN_AI_OUTPUT_MESSAGES]: content.output,
    [semconv.ATTR_GEN_AI_TOOL_DEFINITIONS]: content.toolDefinitions,
  };
  logger.emit({
    eventName: semconv.EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    attributes,
    context,
  });
}

type SummaryFields = Pick<
  LlmGatewayCallRecord,
  | 'operation'
  | 'model'
  | 'responseModel'
  | 'fallbackUsed'
  | 'status'
  | 'errorCode'
  | 'errorType'
  | 'requestId'
  | 'region'
  | 'durationMs'
>;

/** `chat claude-sonnet-4-6 -> 429 rate_limited request_id=... (us, 212 ms)` */
export function summaryLine(record: SummaryFields): string {
  const what = record.model ? `${record.operation} ${record.model}` : record.operation;
  const outcome =
    record.status === undefined
      ? (record.errorType ?? 'no response')
      : `${record.status}${record.errorCode ? ` ${record.errorCode}` : ''}`;
  const id = record.requestId ? ` request_id=${record.requestId}` : '';
  const fallback = record.fallbackUsed ? ` served by fallback ${record.responseModel}` : '';
  return `LLM Gateway ${what} -> ${outcome}${id}${fallback} (${record.region}, ${record.durationMs} ms)`;
}
