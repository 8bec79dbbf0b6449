import { ValueType, type Attributes, type Gauge, type Histogram, type Meter } from '@opentelemetry/api';
import * as semconv from './semconv';

/** One finished call, as the metrics see it: only bounded, low-cardinality values. */
export interface CallMeasurement {
  operation: string;
  requestModel?: string;
  responseModel?: string;
  serverAddress: string;
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
 * The metric instruments, created from the current meter. The instrumentation makes a new
 * one in _updateMetricInstruments() whenever the meter provider changes.
 */
export class GatewayMetrics {
  private readonly operationDuration: Histogram;
  private readonly tokenUsage: Histogram;
  private readonly timeToFirstChunk: Histogram;
  private readonly rateLimitRemaining: Gauge;
  private readonly rateLimitLimit: Gauge;

  constructor(meter: Meter) {
    this.operationDuration = meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
      description: 'Duration of LLM Gateway operations, from request start to the end of the response body',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
    });
    this.tokenUsage = meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
      description: 'Tokens used per LLM Gateway call, by gen_ai.token.type',
      unit: '{token}',
      advice: { explicitBucketBoundaries: semconv.TOKEN_BUCKETS },
    });
    this.timeToFirstChunk = meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, {
      description: 'Time from request start to the first chunk of a streamed LLM Gateway response',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.TIME_TO_FIRST_CHUNK_BUCKETS },
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
  }

  recordCall(m: CallMeasurement): void {
    const attributes: Attributes = {
      [semconv.ATTR_GEN_AI_OPERATION_NAME]: m.operation,
      [semconv.ATTR_GEN_AI_PROVIDER_NAME]: semconv.GEN_AI_PROVIDER_NAME_VALUE,
      [semconv.ATTR_GEN_AI_REQUEST_MODEL]: m.requestModel,
      [semconv.ATTR_GEN_AI_RESPONSE_MODEL]: m.responseModel,
      [semconv.ATTR_SERVER_ADDRESS]: m.serverAddress,
      [semconv.ATTR_ASSEMBLYAI_REGION]: m.region,
      [semconv.ATTR_ERROR_TYPE]: m.errorType,
    };
    this.operationDuration.record(m.durationSeconds, attributes);
    if (m.inputTokens !== undefined) {
      this.tokenUsage.record(m.inputTokens, { ...attributes, [semconv.ATTR_GEN_AI_TOKEN_TYPE]: semconv.GEN_AI_TOKEN_TYPE_INPUT });
    }
    if (m.outputTokens !== undefined) {
      this.tokenUsage.record(m.outputTokens, { ...attributes, [semconv.ATTR_GEN_AI_TOKEN_TYPE]: semconv.GEN_AI_TOKEN_TYPE_OUTPUT });
    }
    if (m.timeToFirstChunkSeconds !== undefined) this.timeToFirstChunk.record(m.timeToFirstChunkSeconds, attributes);
  }

  recordRateLimit(m: RateLimitMeasurement): void {
    const attributes: Attributes = {
      [semconv.ATTR_GEN_AI_REQUEST_MODEL]: m.model,
      [semconv.ATTR_ASSEMBLYAI_REGION]: m.region,
    };
    if (m.remaining !== undefined) this.rateLimitRemaining.record(m.remaining, attributes);
    if (m.limit !== undefined) this.rateLimitLimit.record(m.limit, attributes);
  }
}
