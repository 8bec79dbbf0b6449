import { ValueType, type Attributes, type Counter, type Gauge, type Histogram, type Meter } from '@opentelemetry/api';
import { SemconvStability } from '@opentelemetry/instrumentation';
import * as semconv from './semconv';

/** One finished call, as the metrics see it: only bounded, low-cardinality values. */
export interface CallMeasurement {
  operation: string;
  requestModel?: string;
  responseModel?: string;
  serverAddress: string;
  /** Conditionally required by semconv next to server.address. */
  serverPort: number;
  region: string;
  errorType?: string;
  durationSeconds: number;
  inputTokens?: number;
  outputTokens?: number;
  /** Streams only. */
  timeToFirstChunkSeconds?: number;
}

export interface RateLimitMeasurement {
  model?: string;
  region: string;
  limit?: number;
  remaining?: number;
}

/**
 * The operations the latest GenAI conventions call inference. Only these move to
 * gen_ai.client.inference.*; every other operation stays on gen_ai.client.operation.duration.
 */
const INFERENCE_OPERATIONS: ReadonlySet<string> = new Set([semconv.GEN_AI_OPERATION_CHAT, semconv.GEN_AI_OPERATION_TEXT_COMPLETION]);

/** The instruments of the latest experimental GenAI conventions (opt-in). */
interface InferenceInstruments {
  duration: Histogram;
  timeToFirstChunk: Histogram;
  usageInputTokens: Counter;
  usageOutputTokens: Counter;
  operationInputTokens: Histogram;
  operationOutputTokens: Histogram;
}

/**
 * The metric instruments, created from the current meter. The instrumentation makes a new
 * one in _updateMetricInstruments() whenever the meter provider changes.
 *
 * `stability` is the GenAI part of OTEL_SEMCONV_STABILITY_OPT_IN, read once by the config:
 * OLD (default) emits the names of the metric contract; STABLE (`gen_ai_latest_experimental`)
 * moves inference operations to gen_ai.client.inference.*; DUPLICATE (`.../dup`) emits both.
 */
export class GatewayMetrics {
  private readonly operationDuration: Histogram;
  private readonly tokenUsage: Histogram;
  private readonly timeToFirstChunk: Histogram;
  private readonly rateLimitRemaining: Gauge;
  private readonly rateLimitLimit: Gauge;
  private readonly inference: InferenceInstruments | undefined;
  private readonly emitOld: boolean;

  constructor(meter: Meter, stability: SemconvStability = SemconvStability.OLD) {
    this.emitOld = (stability & SemconvStability.OLD) !== 0;
    // Non-inference operations (list_models, understanding) keep these names in every mode.
    this.operationDuration = meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
      description: 'Duration of LLM Gateway operations, from request start to the end of the response body',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
    });
    this.tokenUsage = meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
      description: 'Tokens used per LLM Gateway call, by gen_ai.token.type',
      unit: '{token}',
      valueType: ValueType.INT,
      advice: { explicitBucketBoundaries: semconv.TOKEN_BUCKETS },
    });
    // The GenAI semconv advises the duration boundaries for client time-to-first-chunk too
    // (0.01 s to 81.92 s); the 1 ms buckets are those of the server-side time_to_first_token.
    this.timeToFirstChunk = meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, {
      description: 'Time from request start to the first chunk of a streamed LLM Gateway response',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
    });
    this.rateLimitRemaining = meter.createGauge(semconv.METRIC_ASSEMBLYAI_RATELIMIT_REMAINING, {
      description: 'Requests left in the current rate-limit window (X-RateLimit-Remaining), last value seen',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    this.rateLimitLimit = meter.createGauge(semconv.METRIC_ASSEMBLYAI_RATELIMIT_LIMIT, {
      description: 'Requests allowed per rate-limit window (X-RateLimit-Limit), last value seen',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    if (stability & SemconvStability.STABLE) this.inference = createInferenceInstruments(meter);
  }

  recordCall(m: CallMeasurement): void {
    const attributes = definedOnly({
      [semconv.ATTR_GEN_AI_OPERATION_NAME]: m.operation,
      [semconv.ATTR_GEN_AI_PROVIDER_NAME]: semconv.GEN_AI_PROVIDER_NAME_VALUE,
      [semconv.ATTR_GEN_AI_REQUEST_MODEL]: m.requestModel,
      [semconv.ATTR_GEN_AI_RESPONSE_MODEL]: m.responseModel,
      [semconv.ATTR_SERVER_ADDRESS]: m.serverAddress,
      [semconv.ATTR_SERVER_PORT]: m.serverPort,
      [semconv.ATTR_ASSEMBLYAI_REGION]: m.region,
      [semconv.ATTR_ERROR_TYPE]: m.errorType,
    });
    const isInference = INFERENCE_OPERATIONS.has(m.operation);
    if (this.emitOld || !isInference || !this.inference) this.recordOperation(m, attributes);
    if (isInference && this.inference) recordInference(this.inference, m, attributes);
  }

  recordRateLimit(m: RateLimitMeasurement): void {
    const attributes = definedOnly({
      [semconv.ATTR_GEN_AI_REQUEST_MODEL]: m.model,
      [semconv.ATTR_ASSEMBLYAI_REGION]: m.region,
    });
    if (m.remaining !== undefined) this.rateLimitRemaining.record(m.remaining, attributes);
    if (m.limit !== undefined) this.rateLimitLimit.record(m.limit, attributes);
  }

  /** The names of the metric contract (GenAI semconv up to 1.36). */
  private recordOperation(m: CallMeasurement, attributes: Attributes): void {
    this.operationDuration.record(m.durationSeconds, attributes);
    if (m.inputTokens !== undefined) {
      this.tokenUsage.record(m.inputTokens, { ...attributes, [semconv.ATTR_GEN_AI_TOKEN_TYPE]: semconv.GEN_AI_TOKEN_TYPE_INPUT });
    }
    if (m.outputTokens !== undefined) {
      this.tokenUsage.record(m.outputTokens, { ...attributes, [semconv.ATTR_GEN_AI_TOKEN_TYPE]: semconv.GEN_AI_TOKEN_TYPE_OUTPUT });
    }
    if (m.timeToFirstChunkSeconds !== undefined) this.timeToFirstChunk.record(m.timeToFirstChunkSeconds, attributes);
  }
}

function createInferenceInstruments(meter: Meter): InferenceInstruments {
  const tokenHistogram = (name: string, description: string): Histogram =>
    meter.createHistogram(name, {
      description,
      unit: '{token}',
      valueType: ValueType.INT,
      advice: { explicitBucketBoundaries: semconv.TOKEN_BUCKETS },
    });
  return {
    duration: meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_INFERENCE_DURATION, {
      description: 'Duration of LLM Gateway inference operations, from request start to the end of the response body',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
    }),
    timeToFirstChunk: meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_INFERENCE_TIME_TO_FIRST_CHUNK, {
      description: 'Time from request start to the first chunk of a streamed LLM Gateway response',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
    }),
    usageInputTokens: meter.createCounter(semconv.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS, {
      description: 'Input (prompt) tokens used by LLM Gateway inference operations',
      unit: '{token}',
      valueType: ValueType.INT,
    }),
    usageOutputTokens: meter.createCounter(semconv.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS, {
      description: 'Output (completion) tokens used by LLM Gateway inference operations',
      unit: '{token}',
      valueType: ValueType.INT,
    }),
    operationInputTokens: tokenHistogram(
      semconv.METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_INPUT_TOKENS,
      'Input (prompt) tokens per LLM Gateway inference operation',
    ),
    operationOutputTokens: tokenHistogram(
      semconv.METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_OUTPUT_TOKENS,
      'Output (completion) tokens per LLM Gateway inference operation',
    ),
  };
}

/**
 * The latest conventions record tokens for every inference operation, failed ones included:
 * the provider's count, or 0 when no usage arrived. The counters carry no error.type.
 */
function recordInference(instruments: InferenceInstruments, m: CallMeasurement, attributes: Attributes): void {
  instruments.duration.record(m.durationSeconds, attributes);
  if (m.timeToFirstChunkSeconds !== undefined) instruments.timeToFirstChunk.record(m.timeToFirstChunkSeconds, attributes);
  const inputTokens = m.inputTokens ?? 0;
  const outputTokens = m.outputTokens ?? 0;
  instruments.operationInputTokens.record(inputTokens, attributes);
  instruments.operationOutputTokens.record(outputTokens, attributes);
  const { [semconv.ATTR_ERROR_TYPE]: _errorType, ...usageAttributes } = attributes;
  usageAttributes[semconv.ATTR_GEN_AI_TOKEN_MODALITY] = semconv.GEN_AI_TOKEN_MODALITY_UNKNOWN;
  instruments.usageInputTokens.add(inputTokens, usageAttributes);
  instruments.usageOutputTokens.add(outputTokens, usageAttributes);
}

/** Leaves out attributes with no value: the Prometheus exporter would write `error_type=""`. */
function definedOnly(attributes: Record<string, string | number | undefined>): Attributes {
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined || value === '') delete attributes[key];
  }
  return attributes as Attributes;
}
