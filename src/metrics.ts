import { ValueType, type Gauge, type Histogram, type Meter } from '@opentelemetry/api';
import {
  DURATION_BUCKETS,
  METRIC_ASSEMBLYAI_RATELIMIT_LIMIT,
  METRIC_ASSEMBLYAI_RATELIMIT_REMAINING,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  TIME_TO_FIRST_CHUNK_BUCKETS,
  TOKEN_BUCKETS,
} from './semconv';

export interface GatewayInstruments {
  readonly operationDuration: Histogram;
  readonly tokenUsage: Histogram;
  readonly timeToFirstChunk: Histogram;
  readonly rateLimitRemaining: Gauge;
  readonly rateLimitLimit: Gauge;
}

export function createInstruments(meter: Meter): GatewayInstruments {
  return {
    operationDuration: meter.createHistogram(METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
      description: 'Duration of LLM Gateway operations, from request start to the end of the response body',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    tokenUsage: meter.createHistogram(METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
      description: 'Tokens used per LLM Gateway call, by gen_ai.token.type',
      unit: '{token}',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    }),
    timeToFirstChunk: meter.createHistogram(METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, {
      description: 'Time from request start to the first chunk of a streamed LLM Gateway response',
      unit: 's',
      advice: { explicitBucketBoundaries: TIME_TO_FIRST_CHUNK_BUCKETS },
    }),
    rateLimitRemaining: meter.createGauge(METRIC_ASSEMBLYAI_RATELIMIT_REMAINING, {
      description: 'Requests left in the current rate-limit window (X-RateLimit-Remaining), last value seen',
      unit: '{request}',
      valueType: ValueType.INT,
    }),
    rateLimitLimit: meter.createGauge(METRIC_ASSEMBLYAI_RATELIMIT_LIMIT, {
      description: 'Requests allowed per rate-limit window (X-RateLimit-Limit), last value seen',
      unit: '{request}',
      valueType: ValueType.INT,
    }),
  };
}
