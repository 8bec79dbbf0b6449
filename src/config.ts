import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

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
}

export const OFFICIAL_HOSTS: readonly GatewayHost[] = [
  { host: 'llm-gateway.assemblyai.com', region: 'us' },
  { host: 'llm-gateway.eu.assemblyai.com', region: 'eu' },
];

export const ENV_HOSTS = 'OTEL_INSTRUMENTATION_LLM_GATEWAY_HOSTS';
export const DEFAULT_MAX_CALL_DURATION_MS = 10 * 60 * 1000;

/** The configuration as the hot path uses it: normalised once, never re-read per call. */
export interface ResolvedConfig {
  /** Lower-case `host` or `host:port` to region. */
  readonly regionByHost: ReadonlyMap<string, string>;
  readonly maxCallDurationMs: number;
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
  };
}

/** Accepts `host`, `host:port`, or a whole URL, and returns the lower-case authority. */
function normaliseHost(host: string): string | undefined {
  const trimmed = host.trim().toLowerCase();
  if (!trimmed) return undefined;
  if (trimmed.includes('://')) {
    try {
      return new URL(trimmed).host;
    } catch {
      return undefined;
    }
  }
  return trimmed.replace(/\/.*$/, '');
}
