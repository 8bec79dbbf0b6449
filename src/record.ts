import { SeverityNumber, type Attributes, type Context, type Logger } from '@opentelemetry/api';
import * as semconv from './semconv';

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

export function emitCallRecord(logger: Logger, record: LlmGatewayCallRecord, context: Context): void {
  const attributes: Attributes = {
    [semconv.ATTR_GEN_AI_OPERATION_NAME]: record.operation,
    [semconv.ATTR_GEN_AI_PROVIDER_NAME]: semconv.GEN_AI_PROVIDER_NAME_VALUE,
    [semconv.ATTR_GEN_AI_REQUEST_MODEL]: record.model,
    [semconv.ATTR_GEN_AI_RESPONSE_MODEL]: record.responseModel,
    [semconv.ATTR_ASSEMBLYAI_REQUEST_ID]: record.requestId,
    [semconv.ATTR_SERVER_ADDRESS]: record.host,
    [semconv.ATTR_SERVER_PORT]: record.port,
    [semconv.ATTR_URL_PATH]: record.path,
    [semconv.ATTR_ASSEMBLYAI_REGION]: record.region,
    [semconv.ATTR_HTTP_RESPONSE_STATUS_CODE]: record.status,
    [semconv.ATTR_ASSEMBLYAI_ERROR_CODE]: record.errorCode,
    [semconv.ATTR_ERROR_TYPE]: record.errorType,
    [semconv.ATTR_ASSEMBLYAI_CALL_DURATION_MS]: record.durationMs,
  };
  if (record.diagnostics.length > 0) attributes[semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_IDS] = record.diagnostics;
  const failed = record.errorType !== undefined;
  logger.emit({
    eventName: semconv.EVENT_ASSEMBLYAI_CALL,
    severityNumber: failed ? SeverityNumber.ERROR : SeverityNumber.INFO,
    severityText: failed ? 'ERROR' : 'INFO',
    body: summaryLine(record),
    attributes,
    context,
  });
}

/** `chat claude-sonnet-4-6 -> 429 rate_limited request_id=... (us, 212 ms)` */
export function summaryLine(record: LlmGatewayCallRecord): string {
  const what = record.model ? `${record.operation} ${record.model}` : record.operation;
  const outcome = record.status === undefined ? (record.errorType ?? 'no response') : `${record.status}${record.errorCode ? ` ${record.errorCode}` : ''}`;
  const id = record.requestId ? ` request_id=${record.requestId}` : '';
  return `LLM Gateway ${what} -> ${outcome}${id} (${record.region}, ${record.durationMs} ms)`;
}
