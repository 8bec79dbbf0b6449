// Every attribute, metric and value name this instrumentation emits, in one place.
// The GenAI semantic conventions are still experimental (semconv 1.3x "Development"):
// names marked (experimental) may be renamed by the spec, which makes this a one-file change.

// --- GenAI (experimental) ---
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = 'gen_ai.request.max_tokens';
export const ATTR_GEN_AI_REQUEST_TEMPERATURE = 'gen_ai.request.temperature';
export const ATTR_GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type';

// --- GenAI, added in the second release (experimental unless marked) ---
export const ATTR_GEN_AI_REQUEST_TOP_P = 'gen_ai.request.top_p';
export const ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY = 'gen_ai.request.frequency_penalty';
export const ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY = 'gen_ai.request.presence_penalty';
export const ATTR_GEN_AI_REQUEST_TOP_K = 'gen_ai.request.top_k';
export const ATTR_GEN_AI_REQUEST_SEED = 'gen_ai.request.seed';
export const ATTR_GEN_AI_REQUEST_STOP_SEQUENCES = 'gen_ai.request.stop_sequences';
/** Only when `n` is not 1. */
export const ATTR_GEN_AI_REQUEST_CHOICE_COUNT = 'gen_ai.request.choice.count';
export const ATTR_GEN_AI_OUTPUT_TYPE = 'gen_ai.output.type';
export const GEN_AI_OUTPUT_TYPE_JSON = 'json';
export const GEN_AI_OUTPUT_TYPE_TEXT = 'text';
/** `reasoning_effort` (or `reasoning.effort`), the string as sent. */
export const ATTR_GEN_AI_REQUEST_REASONING_LEVEL = 'gen_ai.request.reasoning.level';
/** Only from the application (Application context): the gateway keeps no conversation state. */
export const ATTR_GEN_AI_CONVERSATION_ID = 'gen_ai.conversation.id';
export const ATTR_GEN_AI_PROMPT_NAME = 'gen_ai.prompt.name';
export const ATTR_GEN_AI_PROMPT_VERSION = 'gen_ai.prompt.version';
/** Subsets of gen_ai.usage.input_tokens / output_tokens, never added to them. */
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = 'gen_ai.usage.cache_write.input_tokens';
/** The older name of cache_write most backends still read: the same value is set on both. */
export const ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens';
export const ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
/** Seconds from the request to the first body chunk, streams only. */
export const ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = 'gen_ai.response.time_to_first_chunk';
/** (experimental) Opt-in: JSON `[{type:"function", name}]` from the request's `tools`. */
export const ATTR_GEN_AI_TOOL_DEFINITIONS = 'gen_ai.tool.definitions';
/** A finish reason the instrumentation adds for a choice whose finish reason never came. */
export const GEN_AI_FINISH_REASON_ERROR = 'error';

export const GEN_AI_PROVIDER_NAME_VALUE = 'assemblyai';
export const GEN_AI_OPERATION_CHAT = 'chat';
export const GEN_AI_OPERATION_UNDERSTANDING = 'understanding';
export const GEN_AI_OPERATION_LIST_MODELS = 'list_models';
export const GEN_AI_OPERATION_TEXT_COMPLETION = 'text_completion';
/** Any other path on a gateway host: still one span, with a low-cardinality operation. */
export const GEN_AI_OPERATION_OTHER = 'other';
export const GEN_AI_TOKEN_TYPE_INPUT = 'input';
export const GEN_AI_TOKEN_TYPE_OUTPUT = 'output';

// --- HTTP, URL, server, error (stable) ---
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';
export const ATTR_URL_FULL = 'url.full';
export const ATTR_URL_PATH = 'url.path';
export const ATTR_ERROR_TYPE = 'error.type';

// --- AssemblyAI LLM Gateway (this package's own namespace) ---
export const ATTR_ASSEMBLYAI_REQUEST_ID = 'assemblyai.request_id';
export const ATTR_ASSEMBLYAI_REGION = 'assemblyai.region';
export const ATTR_ASSEMBLYAI_ERROR_CODE = 'assemblyai.error.code';
export const ATTR_ASSEMBLYAI_ERROR_MESSAGE = 'assemblyai.error.message';
export const ATTR_ASSEMBLYAI_ERROR_PARAM = 'assemblyai.error.param';
export const ATTR_ASSEMBLYAI_RATELIMIT_LIMIT = 'assemblyai.ratelimit.limit';
export const ATTR_ASSEMBLYAI_RATELIMIT_REMAINING = 'assemblyai.ratelimit.remaining';
export const ATTR_ASSEMBLYAI_RATELIMIT_RESET = 'assemblyai.ratelimit.reset';
export const ATTR_ASSEMBLYAI_RETRY_AFTER = 'assemblyai.retry_after';
/** The `model` of each entry of the request's `fallbacks`. */
export const ATTR_ASSEMBLYAI_REQUEST_FALLBACK_MODELS = 'assemblyai.request.fallback_models';
export const ATTR_ASSEMBLYAI_REQUEST_MODEL_REGION = 'assemblyai.request.model_region';
export const ATTR_ASSEMBLYAI_TRANSCRIPT_ID = 'assemblyai.transcript_id';
/** Only when the request named fallbacks: the response model is one of them, not the requested one. */
export const ATTR_ASSEMBLYAI_FALLBACK_USED = 'assemblyai.fallback.used';
/** The body's `llm_status_code`: the status the upstream provider gave the gateway. */
export const ATTR_ASSEMBLYAI_PROVIDER_STATUS_CODE = 'assemblyai.provider.status_code';
/** The body's `response_time` (ns) in seconds: the gateway's own time. */
export const ATTR_ASSEMBLYAI_GATEWAY_DURATION = 'assemblyai.gateway.duration';

// --- Diagnostics and call records (this package's own namespace) ---
/** Span event for a cause from the gateway's troubleshooting guide, with its fix. */
export const EVENT_ASSEMBLYAI_DIAGNOSTIC = 'assemblyai.diagnostic';
export const ATTR_ASSEMBLYAI_DIAGNOSTIC_ID = 'assemblyai.diagnostic.id';
export const ATTR_ASSEMBLYAI_DIAGNOSTIC_SEVERITY = 'assemblyai.diagnostic.severity';
export const ATTR_ASSEMBLYAI_DIAGNOSTIC_MESSAGE = 'assemblyai.diagnostic.message';
/** Log record emitted for every call (event name). */
export const EVENT_ASSEMBLYAI_CALL = 'assemblyai.llm_gateway.call';
export const ATTR_ASSEMBLYAI_CALL_DURATION_MS = 'assemblyai.call.duration_ms';
export const ATTR_ASSEMBLYAI_DIAGNOSTIC_IDS = 'assemblyai.diagnostic.ids';
/** (experimental) Opt-in message content, JSON in the GenAI semconv message structure. */
export const ATTR_GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages';
export const ATTR_GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages';

// --- Metrics ---
export const METRIC_GEN_AI_CLIENT_OPERATION_DURATION = 'gen_ai.client.operation.duration';
export const METRIC_GEN_AI_CLIENT_TOKEN_USAGE = 'gen_ai.client.token.usage';
/** (experimental) time from request start to the first chunk of a streamed response. */
export const METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK = 'gen_ai.client.operation.time_to_first_chunk';
export const METRIC_ASSEMBLYAI_RATELIMIT_REMAINING = 'assemblyai.ratelimit.remaining';
export const METRIC_ASSEMBLYAI_RATELIMIT_LIMIT = 'assemblyai.ratelimit.limit';

/** Bucket boundaries the GenAI semconv advises for gen_ai.client.operation.duration (s). */
export const DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/** Bucket boundaries the GenAI semconv advises for gen_ai.client.token.usage. */
export const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

// --- Metrics: latest experimental GenAI names (experimental) ---
// Emitted for inference operations only when OTEL_SEMCONV_STABILITY_OPT_IN lists
// `gen_ai_latest_experimental` (or `gen_ai_latest_experimental/dup` for both sets).
// Source: open-telemetry/semantic-conventions-genai, docs/gen-ai/client-inference.md and
// model/gen-ai/token-metrics.yaml. Non-inference operations stay on gen_ai.client.operation.duration.
export const METRIC_GEN_AI_CLIENT_INFERENCE_DURATION = 'gen_ai.client.inference.duration';
export const METRIC_GEN_AI_CLIENT_INFERENCE_TIME_TO_FIRST_CHUNK = 'gen_ai.client.inference.time_to_first_chunk';
/** Counters: every successful inference operation that reported usage adds its tokens; a failed one adds nothing. */
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS = 'gen_ai.client.inference.usage.input_tokens';
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS = 'gen_ai.client.inference.usage.output_tokens';
/** Histograms: the per-operation token distribution (percentiles, outliers), not totals. */
export const METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_INPUT_TOKENS = 'gen_ai.client.inference.operation.input_tokens';
export const METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_OUTPUT_TOKENS = 'gen_ai.client.inference.operation.output_tokens';
/** Required on the usage counters; the gateway does not break usage down by modality. */
export const ATTR_GEN_AI_TOKEN_MODALITY = 'gen_ai.token.modality';
export const GEN_AI_TOKEN_MODALITY_UNKNOWN = 'unknown';

// --- Metrics and events added in the second release (experimental) ---
/** Counters, `{token}`, recorded whatever the semconv opt-in (no older name exists for them). */
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS =
  'gen_ai.client.inference.usage.cache_read.input_tokens';
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS =
  'gen_ai.client.inference.usage.cache_write.input_tokens';
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS =
  'gen_ai.client.inference.usage.reasoning.output_tokens';
/** Histogram, `s`, one point per chunk after the first: opt-in only (a record per chunk). */
export const METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK = 'gen_ai.client.operation.time_per_output_chunk';
/** Event (log record) with the details of one inference operation. */
export const EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS = 'gen_ai.client.inference.operation.details';
