import { semconvStabilityFromStr, type InstrumentationConfig, type SemconvStability } from '@opentelemetry/instrumentation';
import type { RedactMessageContent } from './content';
import type { LlmGatewayCallRecord } from './record';
import { normaliseHost } from './gateway';

/** A host to treat as an LLM Gateway: a proxy, a private endpoint, a local simulator. */
export interface GatewayHost {
  /** `hostname` (any port) or `hostname:port`. Case-insensitive. */
  host: string;
  /** Value of `assemblyai.region` for calls to this host. Default `us`. */
  region?: string;
}

export interface LlmGatewayInstrumentationConfig extends InstrumentationConfig {
  /**
   * Hosts besides `llm-gateway.assemblyai.com` (us) and `llm-gateway.eu.assemblyai.com` (eu)
   * whose calls are gateway calls. Added to those of `OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS`.
   */
  hosts?: GatewayHost[];
  /**
   * A span whose response body is neither finished, cancelled, failed nor garbage collected
   * after this many milliseconds is ended (with what is known so far). Default 600000 (10 min).
   */
  maxCallDurationMs?: number;
  /**
   * Record prompts and completions as `gen_ai.input.messages` / `gen_ai.output.messages`
   * (size-capped). Default false, or `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`.
   * When off, no content is parsed or kept at all.
   */
  captureMessageContent?: boolean;
  /** Rewrites each captured piece of content (mask PII); a hook that throws drops the piece. */
  redactMessageContent?: RedactMessageContent;
  /**
   * Called once per finished call with its record (request_id, model, status, ...), for apps
   * that log with pino or winston. Errors thrown by the hook go to the diag logger.
   */
  onCallEnd?: (record: LlmGatewayCallRecord) => void;
  /** Emit the per-call record as an OpenTelemetry log record (Logs API). Default true. */
  emitCallRecords?: boolean;
}

export const OFFICIAL_HOSTS: readonly GatewayHost[] = [
  { host: 'llm-gateway.assemblyai.com', region: 'us' },
  { host: 'llm-gateway.eu.assemblyai.com', region: 'eu' },
];

export const ENV_HOSTS = 'OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS';
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
  readonly captureMessageContent: boolean;
  readonly redactMessageContent: RedactMessageContent | undefined;
  readonly onCallEnd: ((record: LlmGatewayCallRecord) => void) | undefined;
  readonly emitCallRecords: boolean;
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

export function resolveConfig(config: LlmGatewayInstrumentationConfig, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const regionByHost = new Map<string, string>();
  for (const { host, region } of [...OFFICIAL_HOSTS, ...parseHostsEnv(env[ENV_HOSTS]), ...(config.hosts ?? [])]) {
    const key = normaliseHost(host);
    if (key) regionByHost.set(key, region?.trim().toLowerCase() || 'us');
  }
  const max = config.maxCallDurationMs;
  return {
    regionByHost,
    maxCallDurationMs: typeof max === 'number' && max > 0 ? max : DEFAULT_MAX_CALL_DURATION_MS,
    genAiSemconv: semconvStabilityFromStr(GEN_AI_LATEST_EXPERIMENTAL, env[ENV_SEMCONV_STABILITY_OPT_IN]),
    captureMessageContent: config.captureMessageContent ?? envFlag(env[ENV_CAPTURE_MESSAGE_CONTENT]),
    redactMessageContent: config.redactMessageContent,
    onCallEnd: config.onCallEnd,
    emitCallRecords: config.emitCallRecords ?? true,
  };
}

function envFlag(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}
