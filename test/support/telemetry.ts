import { context, type Attributes, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import { LlmGatewayInstrumentation } from '../../src';
import type { GatewayHost, LlmGatewayInstrumentationConfig } from '../../src/types';

/** Counts spans started and ended, to prove every span ends exactly once. */
export class LifecycleCounter implements SpanProcessor {
  started = 0;
  ended = 0;
  private readonly open = new Set<string>();
  readonly endedTwice: string[] = [];
  /** The attributes each span had when it started (what a sampler sees), by span id. */
  readonly startAttributes = new Map<string, Attributes>();
  onStart(span: Span, _parent: Context): void {
    this.started++;
    this.open.add(span.spanContext().spanId);
    this.startAttributes.set(span.spanContext().spanId, { ...span.attributes });
  }
  onEnd(span: ReadableSpan): void {
    this.ended++;
    if (!this.open.delete(span.spanContext().spanId)) this.endedTwice.push(span.name);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A cumulative reader the test collects on demand. */
export class OnDemandReader extends MetricReader {
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

export interface TestTelemetry {
  instrumentation: LlmGatewayInstrumentation;
  spans(): ReadableSpan[];
  lifecycle: LifecycleCounter;
  metrics(): Promise<ResourceMetrics>;
  logs(): ReadableLogRecord[];
  reset(): void;
  /** Waits until `count` gateway spans were exported (spans end when bodies end, asynchronously). */
  waitForSpans(count: number, timeoutMs?: number): Promise<ReadableSpan[]>;
}

let contextManagerSet = false;

export function setupTelemetry(
  hosts: GatewayHost[] = [],
  config: Omit<LlmGatewayInstrumentationConfig, 'hosts'> = {},
): TestTelemetry {
  if (!contextManagerSet) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    contextManagerSet = true;
  }
  const exporter = new InMemorySpanExporter();
  const lifecycle = new LifecycleCounter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter }), lifecycle] });
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const logExporter = new InMemoryLogRecordExporter();
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logExporter })] });
  const instrumentation = new LlmGatewayInstrumentation({ ...config, enabled: false, hosts });
  instrumentation.setLoggerProvider(loggerProvider);
  instrumentation.setTracerProvider(tracerProvider);
  instrumentation.setMeterProvider(meterProvider);
  instrumentation.enable();
  return {
    instrumentation,
    lifecycle,
    spans: () => exporter.getFinishedSpans(),
    metrics: async () => {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics;
    },
    logs: () => logExporter.getFinishedLogRecords(),
    reset: () => {
      exporter.reset();
      logExporter.reset();
      lifecycle.started = 0;
      lifecycle.ended = 0;
      lifecycle.startAttributes.clear();
    },
    waitForSpans: async (count, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      while (exporter.getFinishedSpans().length < count) {
        if (Date.now() > deadline) {
          throw new Error(`expected ${count} spans, got ${exporter.getFinishedSpans().length}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      return exporter.getFinishedSpans();
    },
  };
}
