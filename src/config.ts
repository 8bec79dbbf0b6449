import { semconvStabilityFromStr, type SemconvStability } from '@opentelemetry/instrumentation';
import { normaliseHost } from './gateway';
import type {
  GatewayHost,
  LlmGatewayCallRecord,
  LlmGatewayInstrumentationConfig,
  OuterGenAiSpanMode,
  RedactMessageContent,
} from './types';

export const OFFICIAL_HOSTS: readonly GatewayHost[] = [
  { host: 'llm-gateway.assemblyai.com', region: 'us' },
  { host: 'llm-gateway.eu.assemblyai.com', region: 'eu' },
];

export const ENV_HOSTS = 'OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS';
export const ENV_OUTER_GENAI_SPAN = 'OTEL_INSTRUMENTATION_LLM_GATEWAY_OUTER_GENAI_SPAN';
export const ENV_CAPTURE_MESSAGE_CONTENT = 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT';
export const ENV_SEMCONV_STABILITY_OPT_IN = 'OTEL_SEMCONV_STABILITY_OPT_IN';
/** The GenAI token of OTEL_SEMCONV_STABILITY_OPT_IN; `gen_ai_latest_experimental/dup` emits both sets. */
export const GEN_AI_LATEST_EXPERIMENTAL = 'gen_ai_latest_experimental';
export const DEFAULT_MAX_CALL_DURATION_MS = 10 * 60 * 1000;

/** The configuration as the hot path uses it: normalised once, never re-read per call. */
export interface ResolvedConfig {
  /** Lower-case `host` or `host:port` to region. */
  readonly regionByHost: ReadonlyMap<string, string>;
  readonly maxCallDurationMs: number;
  /** Which GenAI metric names to emit: OLD (default), STABLE (= latest experimental) or DUPLICATE. */
  readonly genAiSemconv: SemconvStability;
  /** Content capture is on, in any mode: request and response content is parsed and kept. */
  readonly captureMessageContent: boolean;
  /** Captured content goes on the span (`gen_ai.input.messages`, ...). */
  readonly contentOnSpan: boolean;
  /** Captured content goes in a `gen_ai.client.inference.operation.details` log record. */
  readonly contentInEvent: boolean;
  readonly redactMessageContent: RedactMessageContent | undefined;
  readonly onCallEnd: ((record: LlmGatewayCallRecord) => void) | undefined;
  readonly emitCallRecords: boolean;
  readonly readContextFromBaggage: boolean;
  readonly outerGenAiSpan: OuterGenAiSpanMode;
  /** Under another instrumentation's GenAI span, record token points even when it records its own. */
  readonly alwaysRecordTokenMetrics: boolean;
  readonly timePerOutputChunk: boolean;
}

/**
 * `OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS` is a comma-separated list of `host[:port][=region]`,
 * for example `llm-proxy.internal=eu,127.0.0.1:8787`.
 */
export function parseHostsEnv(value: string | undefined): GatewayHost[] {
  if (!value) return [];
  const hosts: GatewayHost[] = [];
  for (const entry of value.split(',')) {
    const [host, region] = entry.split('=').map((s) => s.trim());
    if (host) hosts.push({ host, region: region || undefined });
  }
  return hosts;
}

export function resolveConfig(
  config: LlmGatewayInstrumentationConfig,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConfig {
  const regionByHost = new Map<string, string>();
  for (const { host, region } of [...OFFICIAL_HOSTS, ...parseHostsEnv(env[ENV_HOSTS]), ...(config.hosts ?? [])]) {
    const key = normaliseHost(host);
    if (key) regionByHost.set(key, region?.trim().toLowerCase() || 'us');
  }
  const max = config.maxCallDurationMs;
  const capture = captureModeOf(config.captureMessageContent ?? env[ENV_CAPTURE_MESSAGE_CONTENT]);
  return {
    regionByHost,
    maxCallDurationMs: typeof max === 'number' && max > 0 ? max : DEFAULT_MAX_CALL_DURATION_MS,
    genAiSemconv: semconvStabilityFromStr(GEN_AI_LATEST_EXPERIMENTAL, env[ENV_SEMCONV_STABILITY_OPT_IN]),
    captureMessageContent: capture.span || capture.event,
    contentOnSpan: capture.span,
    contentInEvent: capture.event,
    redactMessageContent: config.redactMessageContent,
    onCallEnd: config.onCallEnd,
    emitCallRecords: config.emitCallRecords ?? true,
    readContextFromBaggage: config.readContextFromBaggage ?? false,
    timePerOutputChunk: config.timePerOutputChunkMetric ?? false,
    outerGenAiSpan: outerGenAiSpanMode(config.outerGenAiSpan ?? env[ENV_OUTER_GENAI_SPAN]),
    alwaysRecordTokenMetrics: config.outerGenAiTokenMetrics === 'always',
  };
}

function outerGenAiSpanMode(value: string | undefined): OuterGenAiSpanMode {
  const mode = value?.trim().toLowerCase();
  return mode === 'child' || mode === 'independent' ? mode : 'enrich';
}

/**
 * The capture setting (option or environment variable, any case): `true` and `span_only` put
 * content on the span, `event_only` in the semconv event, `span_and_event` both.
 */
function captureModeOf(value: boolean | string | undefined): { span: boolean; event: boolean } {
  const mode = typeof value === 'string' ? value.trim().toLowerCase() : value;
  switch (mode) {
    case true:
    case 'true':
    case 'span_only':
      return { span: true, event: false };
    case 'event_only':
      return { span: false, event: true };
    case 'span_and_event':
      return { span: true, event: true };
    default:
      return { span: false, event: false };
  }
}
