import { SpanKind, trace, type Context, type Span } from '@opentelemetry/api';
import * as semconv from './semconv';

/**
 * Another instrumentation's GenAI inference span that was active when a gateway call started:
 * the span that instrumentation made for this very call (a framework's model call, an OpenAI
 * SDK instrumentation's `create()`), so the call must not be counted a second time.
 */
export interface OuterGenAiSpan {
  /** The span as the active context holds it: write through it (a wrapper applies its own masking). */
  readonly span: Span;
  /** Its instrumentation scope name, e.g. `@opentelemetry/instrumentation-openai`. */
  readonly scope: string;
  /** That instrumentation records `gen_ai.client.token.usage` points of its own for the call. */
  readonly recordsTokenMetrics: boolean;
  /** The naming convention of its usage attributes: OpenInference backends read `llm.token_count.*`. */
  readonly convention: 'gen_ai' | 'openinference';
  /** The model its span names for the request, when it names one. */
  readonly model: string | undefined;
}

// Other packages' attribute names: facts about their spans, not names this package emits, so
// they live here rather than in semconv.ts.
const ATTR_OPENINFERENCE_SPAN_KIND = 'openinference.span.kind';
const ATTR_LLM_MODEL_NAME = 'llm.model_name';
const ATTR_AI_OPERATION_ID = 'ai.operationId';
const ATTR_AI_MODEL_ID = 'ai.model.id';

type Attributes = Record<string, unknown>;

interface KnownInstrumentation {
  readonly recordsTokenMetrics: boolean;
  readonly convention: OuterGenAiSpan['convention'];
  /** Whether the span is one model call, not an agent, step, chain or embeddings span. */
  isInference(kind: unknown, attributes: Attributes): boolean;
  model(attributes: Attributes): unknown;
}

const INFERENCE_OPERATIONS: ReadonlySet<unknown> = new Set([
  semconv.GEN_AI_OPERATION_CHAT,
  semconv.GEN_AI_OPERATION_TEXT_COMPLETION,
]);
/** The AI SDK's per-model-call spans (v3 to v6 telemetry, and @ai-sdk/otel's LegacyOpenTelemetry). */
const AI_SDK_MODEL_CALLS: ReadonlySet<unknown> = new Set([
  'ai.generateText.doGenerate',
  'ai.streamText.doStream',
  'ai.generateObject.doGenerate',
  'ai.streamObject.doStream',
]);
const requestModel = (attributes: Attributes): unknown => attributes[semconv.ATTR_GEN_AI_REQUEST_MODEL];

/**
 * The instrumentations known to make a span for one model call and to keep it active while
 * the client sends the request, by instrumentation scope name. Only these are recognised: an
 * application's own span, or an unknown library's, is never taken for one, whatever it carries.
 */
const KNOWN_INSTRUMENTATIONS: ReadonlyMap<string, KnownInstrumentation> = new Map([
  [
    // `chat {model}` (CLIENT) around Chat.Completions.create of openai >=4.19 <7; records
    // gen_ai.client.token.usage itself (once per stream chunk that carries usage).
    '@opentelemetry/instrumentation-openai',
    {
      recordsTokenMetrics: true,
      convention: 'gen_ai',
      isInference: (kind, attributes) =>
        kind === SpanKind.CLIENT && INFERENCE_OPERATIONS.has(attributes[semconv.ATTR_GEN_AI_OPERATION_NAME]),
      model: requestModel,
    },
  ],
  [
    // `OpenAI Chat Completions` (INTERNAL, openinference.span.kind=LLM) around create() of
    // openai 5 to 7; no metrics; llm.token_count.* only for unstreamed calls.
    '@arizeai/openinference-instrumentation-openai',
    {
      recordsTokenMetrics: false,
      convention: 'openinference',
      isInference: (_kind, attributes) => attributes[ATTR_OPENINFERENCE_SPAN_KIND] === 'LLM',
      model: (attributes) => attributes[ATTR_LLM_MODEL_NAME],
    },
  ],
  [
    // @ai-sdk/otel's OpenTelemetry (AI SDK 7): `chat {model}` (CLIENT) for each model call,
    // under `invoke_agent` and `step N` (INTERNAL); only a duration histogram, no token metrics.
    'gen_ai',
    {
      recordsTokenMetrics: false,
      convention: 'gen_ai',
      isInference: (kind, attributes) =>
        kind === SpanKind.CLIENT && INFERENCE_OPERATIONS.has(attributes[semconv.ATTR_GEN_AI_OPERATION_NAME]),
      model: requestModel,
    },
  ],
  [
    // The AI SDK's `ai.*` spans: the model call is `ai.generateText.doGenerate` (or
    // `ai.streamText.doStream`, ...) under the `ai.generateText` wrapper; no metrics.
    'ai',
    {
      recordsTokenMetrics: false,
      convention: 'gen_ai',
      isInference: (_kind, attributes) => AI_SDK_MODEL_CALLS.has(attributes[ATTR_AI_OPERATION_ID]),
      model: (attributes) => attributes[ATTR_AI_MODEL_ID] ?? attributes[semconv.ATTR_GEN_AI_REQUEST_MODEL],
    },
  ],
]);

/**
 * The inference span another instrumentation made for this call, if the active span of
 * `parent` is one: a recording span of a known instrumentation (by scope name) that is that
 * instrumentation's model-call span, naming the same model as the request when both name one.
 * Runs on every gateway call: with no active span it returns at once, and it never throws.
 */
export function findOuterGenAiSpan(parent: Context, requestedModel?: string): OuterGenAiSpan | undefined {
  const span = trace.getSpan(parent);
  if (span === undefined) return undefined;
  try {
    // A span the sampler dropped carries no scope or attributes to recognise it by.
    if (!span.isRecording()) return undefined;
    const inner = sdkSpanOf(span);
    if (inner === undefined) return undefined;
    const scope = scopeNameOf(inner);
    const known = scope === undefined ? undefined : KNOWN_INSTRUMENTATIONS.get(scope);
    if (known === undefined) return undefined;
    const attributes = inner.attributes;
    if (typeof attributes !== 'object' || attributes === null) return undefined;
    if (!known.isInference(inner.kind, attributes as Attributes)) return undefined;
    const model = known.model(attributes as Attributes);
    const spanModel = typeof model === 'string' ? model : undefined;
    if (requestedModel !== undefined && spanModel !== undefined && spanModel !== requestedModel) return undefined;
    return {
      span,
      scope: scope!,
      recordsTokenMetrics: known.recordsTokenMetrics,
      convention: known.convention,
      model: spanModel,
    };
  } catch {
    // Another SDK's span object, a proxy, a getter that throws: not one we can recognise.
    return undefined;
  }
}

/** The SDK's span behind the API object: the fields read here are not part of the API. */
interface SdkSpanFields {
  instrumentationScope?: { name?: unknown };
  /** @opentelemetry/sdk-trace-base 1.x's name for instrumentationScope. */
  instrumentationLibrary?: { name?: unknown };
  kind?: unknown;
  attributes?: unknown;
}

/**
 * The SDK span itself, or the one a wrapper holds: OpenInference's OITracer puts an `OISpan`
 * (with the SDK span in its `span` field) in the context, to mask attributes as they are set.
 */
function sdkSpanOf(span: Span): SdkSpanFields | undefined {
  const fields = span as unknown as SdkSpanFields & { span?: unknown };
  if (hasScope(fields)) return fields;
  const wrapped = fields.span;
  if (typeof wrapped === 'object' && wrapped !== null && hasScope(wrapped)) return wrapped;
  return undefined;
}

function hasScope(fields: SdkSpanFields): boolean {
  return typeof fields.instrumentationScope === 'object' || typeof fields.instrumentationLibrary === 'object';
}

function scopeNameOf(fields: SdkSpanFields): string | undefined {
  const name = (fields.instrumentationScope ?? fields.instrumentationLibrary)?.name;
  return typeof name === 'string' ? name : undefined;
}
