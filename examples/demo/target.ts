/**
 * Where the example apps send their calls: the real LLM Gateway when ASSEMBLYAI_API_KEY is set
 * (US by default, EU with ASSEMBLYAI_REGION=eu), else a simulated gateway on loopback, which
 * the instrumentation is told about through its `hosts` option.
 */
import type { GatewayHost } from '../../src';
import { startSimulatedGateway } from '../simulated-gateway/server';

export type Region = 'us' | 'eu';

export const GATEWAY_URLS: Readonly<Record<Region, string>> = {
  us: 'https://llm-gateway.assemblyai.com',
  eu: 'https://llm-gateway.eu.assemblyai.com',
};

export interface GatewayTarget {
  /** Base URL without `/v1`, as the assemblyai SDK's `llmGatewayBaseUrl` takes it. */
  baseUrl: string;
  apiKey: string;
  region: Region;
  simulated: boolean;
  /** Extra hosts for `new LlmGatewayInstrumentation({ hosts })`: none for the real gateway. */
  hosts: GatewayHost[];
  /** The model to ask for: LLM_GATEWAY_MODEL, else the docs' quickstart default. */
  model: string;
  close(): Promise<void>;
}

export function regionFromEnv(env: NodeJS.ProcessEnv = process.env): Region {
  const region = (env.ASSEMBLYAI_REGION ?? 'us').trim().toLowerCase();
  if (region !== 'us' && region !== 'eu') throw new Error(`ASSEMBLYAI_REGION must be us or eu, got ${region}`);
  return region;
}

export async function gatewayTarget(env: NodeJS.ProcessEnv = process.env): Promise<GatewayTarget> {
  const region = regionFromEnv(env);
  const model = env.LLM_GATEWAY_MODEL?.trim() || 'claude-sonnet-4-6';
  const apiKey = env.ASSEMBLYAI_API_KEY?.trim();
  if (apiKey) {
    return { baseUrl: GATEWAY_URLS[region], apiKey, region, simulated: false, hosts: [], model, close: async () => {} };
  }
  const gateway = await startSimulatedGateway();
  return {
    baseUrl: gateway.url,
    apiKey: 'simulated-key',
    region,
    simulated: true,
    hosts: [{ host: `127.0.0.1:${gateway.port}`, region }],
    model,
    close: () => gateway.close(),
  };
}

/**
 * Without an OTLP endpoint the example apps print their spans to the terminal instead of
 * exporting them to a collector that is not there (NodeSDK's default is OTLP to localhost:4318).
 */
export function defaultToConsoleExport(env: NodeJS.ProcessEnv = process.env): void {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (endpoint || env.OTEL_TRACES_EXPORTER) return;
  env.OTEL_TRACES_EXPORTER = 'console';
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  // The host/process resource would take most of each printed span.
  env.OTEL_NODE_RESOURCE_DETECTORS ??= 'none';
}

/** One line for the terminal: where the calls go. */
export function describeTarget(target: GatewayTarget): string {
  return target.simulated
    ? `simulated gateway at ${target.baseUrl} (region ${target.region}; set ASSEMBLYAI_API_KEY for the real one)`
    : `LLM Gateway ${target.baseUrl} (region ${target.region})`;
}
