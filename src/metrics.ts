import {
  ValueType,
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type ObservableResult,
} from '@opentelemetry/api';
import { SemconvStability } from '@opentelemetry/instrumentation';
import { durationSeconds, timeToFirstChunkSeconds, type CallFacts } from './facts';
import * as semconv from './semconv';

/**
 * The operations the latest GenAI conventions call inference. Only these move to
 * gen_ai.client.inference.*; every other operation stays on gen_ai.client.operation.duration.
 */
const INFERENCE_OPERATIONS: ReadonlySet<string> = new Set([
  semconv.GEN_AI_OPERATION_CHAT,
  semconv.GEN_AI_OPERATION_TEXT_COMPLETION,
]);

/**
 * Metric attribute sets are built once per distinct (operation, models, server, region,
 * error.type, fallback) and reused: a busy service makes the same few combinations over and
 * over. Past this many distinct sets the cache starts afresh (memory stays bounded).
 */
const MAX_CACHED_ATTRIBUTE_SETS = 1000;
/** Distinct (model, region) pairs whose last rate-limit state is kept for the gauges. */
const MAX_RATE_LIMIT_SERIES = 1000;
/** Opt-in time_per_output_chunk: at most this many points per call. */
export const MAX_CHUNK_GAPS_PER_CALL = 4096;

/** The attribute sets one call's points carry. */
interface CallAttributeSets {
  readonly call: Attributes;
  readonly inputTokens: Attributes;
  readonly outputTokens: Attributes;
  /** The usage counters: no error.type (they count tokens, not calls). */
  readonly usage: Attributes;
  /** The latest conventions' usage counters add `gen_ai.token.modality`. */
  readonly inferenceUsage: Attributes;
}

/** The instruments of the latest experimental GenAI conventions (opt-in). */
interface InferenceInstruments {
  duration: Histogram;
  timeToFirstChunk: Histogram;
  usageInputTokens: Counter;
  usageOutputTokens: Counter;
  operationInputTokens: Histogram;
  operationOutputTokens: Histogram;
}

interface RateLimitSeries {
  readonly attributes: Attributes;
  limit?: number;
  remaining?: number;
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
  private readonly timePerOutputChunk: Histogram;
  private readonly cacheReadTokens: Counter;
  private readonly cacheWriteTokens: Counter;
  private readonly reasoningTokens: Counter;
  private readonly inference: InferenceInstruments | undefined;
  private readonly emitOld: boolean;
  private readonly attributeSets = new Map<string, CallAttributeSets>();
  /** Region, then model: keys the response head already has, no string built per call. */
  private readonly rateLimits = new Map<string, Map<string, RateLimitSeries>>();
  private rateLimitSeries = 0;

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
    // The GenAI semconv advises the duration boundaries for client time-to-first-chunk too.
    this.timeToFirstChunk = meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, {
      description: 'Time from request start to the first chunk of a streamed LLM Gateway response',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
    });
    this.timePerOutputChunk = meter.createHistogram(semconv.METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK, {
      description: 'Time between consecutive body chunks of a streamed LLM Gateway response (opt-in)',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
    });
    const tokenCounter = (name: string, description: string): Counter =>
      meter.createCounter(name, { description, unit: '{token}', valueType: ValueType.INT });
    this.cacheReadTokens = tokenCounter(
      semconv.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS,
      'Input tokens read from the provider prompt cache (a subset of the input tokens)',
    );
    this.cacheWriteTokens = tokenCounter(
      semconv.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS,
      'Input tokens written to the provider prompt cache (a subset of the input tokens)',
    );
    this.reasoningTokens = tokenCounter(
      semconv.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS,
      'Output tokens spent on reasoning (a subset of the output tokens)',
    );
    // The last value seen per (model, region), read when the meter collects: a call pays one
    // Map write, not two gauge records.
    const remaining = meter.createObservableGauge(semconv.METRIC_ASSEMBLYAI_RATELIMIT_REMAINING, {
      description: 'Requests left in the current rate-limit window (X-RateLimit-Remaining), last value seen',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    const limit = meter.createObservableGauge(semconv.METRIC_ASSEMBLYAI_RATELIMIT_LIMIT, {
      description: 'Requests allowed per rate-limit window (X-RateLimit-Limit), last value seen',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    remaining.addCallback((result) => this.observeRateLimit(result, 'remaining'));
    limit.addCallback((result) => this.observeRateLimit(result, 'limit'));
    if (stability & SemconvStability.STABLE) this.inference = createInferenceInstruments(meter);
  }

  /** One finished call: duration, token usage (not for a failed call), time to first chunk. */
  recordCall(facts: CallFacts, tokens: boolean, chunkGaps?: readonly number[]): void {
    const sets = this.attributeSetsOf(facts);
    const response = facts.response;
    const failed = facts.errorType !== undefined;
    // A failed call has no token counts, not zero (semconv); a finished one may report 0.
    const inputTokens = tokens && !failed ? response.inputTokens : undefined;
    const outputTokens = tokens && !failed ? response.outputTokens : undefined;
    const duration = durationSeconds(facts);
    const timeToFirstChunk = timeToFirstChunkSeconds(facts);
    const isInference = INFERENCE_OPERATIONS.has(facts.operation);
    const inference = isInference ? this.inference : undefined;

    if (this.emitOld || inference === undefined) {
      this.operationDuration.record(duration, sets.call);
      if (inputTokens !== undefined) this.tokenUsage.record(inputTokens, sets.inputTokens);
      if (outputTokens !== undefined) this.tokenUsage.record(outputTokens, sets.outputTokens);
      if (timeToFirstChunk !== undefined) this.timeToFirstChunk.record(timeToFirstChunk, sets.call);
    }
    if (inference !== undefined) {
      inference.duration.record(duration, sets.call);
      if (timeToFirstChunk !== undefined) inference.timeToFirstChunk.record(timeToFirstChunk, sets.call);
      if (inputTokens !== undefined) {
        inference.operationInputTokens.record(inputTokens, sets.call);
        inference.usageInputTokens.add(inputTokens, sets.inferenceUsage);
      }
      if (outputTokens !== undefined) {
        inference.operationOutputTokens.record(outputTokens, sets.call);
        inference.usageOutputTokens.add(outputTokens, sets.inferenceUsage);
      }
    }
    if (tokens && !failed) {
      if (response.cacheReadInputTokens !== undefined)
        this.cacheReadTokens.add(response.cacheReadInputTokens, sets.usage);
      if (response.cacheWriteInputTokens !== undefined)
        this.cacheWriteTokens.add(response.cacheWriteInputTokens, sets.usage);
      if (response.reasoningOutputTokens !== undefined)
        this.reasoningTokens.add(response.reasoningOutputTokens, sets.usage);
    }
    if (chunkGaps !== undefined) for (const gap of chunkGaps) this.timePerOutputChunk.record(gap, sets.call);
  }

  /** The rate-limit state a response head reported, for the gauges. */
  noteRateLimit(
    model: string | undefined,
    region: string,
    limit: number | undefined,
    remaining: number | undefined,
  ): void {
    let byModel = this.rateLimits.get(region);
    if (byModel === undefined) this.rateLimits.set(region, (byModel = new Map<string, RateLimitSeries>()));
    const key = model ?? '';
    let series = byModel.get(key);
    if (series === undefined) {
      if (++this.rateLimitSeries > MAX_RATE_LIMIT_SERIES) {
        this.rateLimits.clear();
        this.rateLimits.set(region, (byModel = new Map<string, RateLimitSeries>()));
        this.rateLimitSeries = 1;
      }
      const attributes: Attributes = { [semconv.ATTR_ASSEMBLYAI_REGION]: region };
      if (model) attributes[semconv.ATTR_GEN_AI_REQUEST_MODEL] = model;
      series = { attributes };
      byModel.set(key, series);
    }
    if (limit !== undefined) series.limit = limit;
    if (remaining !== undefined) series.remaining = remaining;
  }

  private observeRateLimit(result: ObservableResult, which: 'limit' | 'remaining'): void {
    for (const byModel of this.rateLimits.values()) {
      for (const series of byModel.values()) {
        const value = series[which];
        if (value !== undefined) result.observe(value, series.attributes);
      }
    }
  }

  private attributeSetsOf(facts: CallFacts): CallAttributeSets {
    const requestModel = facts.request?.model;
    const responseModel = facts.response.responseModel;
    const key = `${facts.operation}\0${requestModel}\0${responseModel}\0${facts.serverAddress}\0${facts.serverPort}\0${facts.region}\0${facts.errorType}\0${facts.fallbackUsed}`;
    let sets = this.attributeSets.get(key);
    if (sets === undefined) {
      if (this.attributeSets.size >= MAX_CACHED_ATTRIBUTE_SETS) this.attributeSets.clear();
      sets = buildAttributeSets(facts, requestModel, responseModel);
      this.attributeSets.set(key, sets);
    }
    return sets;
  }
}

function buildAttributeSets(
  facts: CallFacts,
  requestModel: string | undefined,
  responseModel: string | undefined,
): CallAttributeSets {
  // Attributes with no value are left out: the Prometheus exporter would write `error_type=""`.
  const usage: Attributes = {
    [semconv.ATTR_GEN_AI_OPERATION_NAME]: facts.operation,
    [semconv.ATTR_GEN_AI_PROVIDER_NAME]: semconv.GEN_AI_PROVIDER_NAME_VALUE,
    [semconv.ATTR_SERVER_ADDRESS]: facts.serverAddress,
    [semconv.ATTR_SERVER_PORT]: facts.serverPort,
    [semconv.ATTR_ASSEMBLYAI_REGION]: facts.region,
  };
  if (requestModel) usage[semconv.ATTR_GEN_AI_REQUEST_MODEL] = requestModel;
  if (responseModel) usage[semconv.ATTR_GEN_AI_RESPONSE_MODEL] = responseModel;
  if (facts.fallbackUsed !== undefined) usage[semconv.ATTR_ASSEMBLYAI_FALLBACK_USED] = facts.fallbackUsed;
  const call: Attributes = facts.errorType ? { ...usage, [semconv.ATTR_ERROR_TYPE]: facts.errorType } : usage;
  return {
    call,
    inputTokens: { ...call, [semconv.ATTR_GEN_AI_TOKEN_TYPE]: semconv.GEN_AI_TOKEN_TYPE_INPUT },
    outputTokens: { ...call, [semconv.ATTR_GEN_AI_TOKEN_TYPE]: semconv.GEN_AI_TOKEN_TYPE_OUTPUT },
    usage,
    inferenceUsage: { ...usage, [semconv.ATTR_GEN_AI_TOKEN_MODALITY]: semconv.GEN_AI_TOKEN_MODALITY_UNKNOWN },
  };
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
