/**
 * The demo's OpenTelemetry setup: the instrumentation with an in-memory span exporter and an
 * on-demand metric reader the printer reads back, plus the exporters the standard `OTEL_*`
 * variables ask for (OTLP/HTTP traces and metrics, a Prometheus scrape endpoint).
 */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPMetricExporter as OTLPJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { LlmGatewayInstrumentation, type GatewayHost } from '../../src';

/** A metric reader the printer collects from when it wants totals. */
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface DemoTelemetry {
  /** Every span finished so far (or since `clearSpans`), in end order. */
  spans(): ReadableSpan[];
  clearSpans(): void;
  /** Waits until at least `count` spans have finished, or the timeout passes. */
  waitForSpans(count: number, timeoutMs?: number): Promise<ReadableSpan[]>;
  collectMetrics(): Promise<ResourceMetrics>;
  /** Where telemetry goes besides the terminal, one line each. */
  destinations: string[];
  /** Flushes the exporters and stops the Prometheus endpoint. */
  shutdown(): Promise<void>;
}

export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** Comma-separated exporter names, as OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER hold them. */
function exporterList(value: string | undefined, fallback: string[]): string[] {
  const names = (value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (names.length === 0) return fallback;
  return names.includes('none') ? [] : names;
}

export function otlpProtocol(signal: 'TRACES' | 'METRICS', env: NodeJS.ProcessEnv): OtlpProtocol {
  const protocol = (
    env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] ||
    env.OTEL_EXPORTER_OTLP_PROTOCOL ||
    'http/protobuf'
  ).trim();
  if (protocol === 'http/protobuf' || protocol === 'http/json') return protocol;
  throw new Error(
    `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported by the demo: use http/protobuf (default) or http/json, on port 4318`,
  );
}

/** The URL the OTLP exporter will post to, for the terminal (the exporter resolves it itself). */
function otlpUrl(signal: 'TRACES' | 'METRICS', env: NodeJS.ProcessEnv): string {
  const specific = env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`];
  if (specific) return specific;
  const base = (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318').replace(/\/+$/, '');
  return `${base}/v1/${signal.toLowerCase()}`;
}

function integerFromEnv(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return value && Number.isInteger(parsed) && parsed > 0 ? parsed : fallback;
}

export function startDemoTelemetry(hosts: GatewayHost[], env: NodeJS.ProcessEnv = process.env): DemoTelemetry {
  // Context propagation is what keeps the SDKs' nested fetch calls from becoming second spans.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

  const hasEndpoint = Boolean(
    env.OTEL_EXPORTER_OTLP_ENDPOINT ||
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
    env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
  );
  const defaults = hasEndpoint ? ['otlp'] : [];
  const destinations: string[] = [];
  const warnings: string[] = [];

  const memory = new InMemorySpanExporter();
  const spanProcessors: SpanProcessor[] = [new SimpleSpanProcessor({ exporter: memory })];
  for (const name of exporterList(env.OTEL_TRACES_EXPORTER, defaults)) {
    if (name === 'otlp') {
      const protocol = otlpProtocol('TRACES', env);
      const exporter = protocol === 'http/json' ? new OTLPJsonTraceExporter() : new OTLPProtoTraceExporter();
      spanProcessors.push(new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1000 }));
      destinations.push(`traces  -> OTLP ${protocol} ${otlpUrl('TRACES', env)}`);
    } else {
      warnings.push(`OTEL_TRACES_EXPORTER=${name} is not supported by the demo (otlp or none)`);
    }
  }

  const onDemand = new OnDemandReader();
  const readers: IMetricReader[] = [onDemand];
  for (const name of exporterList(env.OTEL_METRICS_EXPORTER, defaults)) {
    if (name === 'otlp') {
      const protocol = otlpProtocol('METRICS', env);
      const exporter = protocol === 'http/json' ? new OTLPJsonMetricExporter() : new OTLPProtoMetricExporter();
      const exportIntervalMillis = integerFromEnv(env.OTEL_METRIC_EXPORT_INTERVAL, 10_000);
      readers.push(
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis,
          exportTimeoutMillis: Math.min(exportIntervalMillis, 5_000),
        }),
      );
      destinations.push(`metrics -> OTLP ${protocol} ${otlpUrl('METRICS', env)}`);
    } else if (name === 'prometheus') {
      const host = env.OTEL_EXPORTER_PROMETHEUS_HOST || undefined;
      const port = integerFromEnv(env.OTEL_EXPORTER_PROMETHEUS_PORT, PrometheusExporter.DEFAULT_OPTIONS.port);
      const prometheus = new PrometheusExporter({ host, port }, (error) => {
        if (error) console.error(`prometheus endpoint on port ${port} failed: ${error.message}`);
      });
      // exporter-prometheus ships its own copy of sdk-metrics; the reader contract is the same.
      readers.push(prometheus);
      destinations.push(`metrics -> Prometheus scrape endpoint http://${host ?? '0.0.0.0'}:${port}/metrics`);
    } else {
      warnings.push(`OTEL_METRICS_EXPORTER=${name} is not supported by the demo (otlp, prometheus or none)`);
    }
  }
  for (const warning of warnings) console.error(`demo: ${warning}`);

  const resource = resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || 'llm-gateway-demo' });
  const tracerProvider = new TracerProvider({ resource, spanProcessors });
  const meterProvider = new MeterProvider({ resource, readers });

  const instrumentation = new LlmGatewayInstrumentation({ hosts });
  registerInstrumentations({ instrumentations: [instrumentation], tracerProvider, meterProvider });

  return {
    spans: () => memory.getFinishedSpans(),
    clearSpans: () => memory.reset(),
    async waitForSpans(count, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (memory.getFinishedSpans().length < count && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return memory.getFinishedSpans();
    },
    async collectMetrics() {
      const { resourceMetrics, errors } = await onDemand.collect();
      for (const error of errors) console.error(`demo: metric collection: ${String(error)}`);
      return resourceMetrics;
    },
    destinations,
    async shutdown() {
      instrumentation.disable();
      // Both providers flush their exporters on shutdown: the last spans and metrics are sent.
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}
