// The OpenTelemetry set-up of a real application, exporting nowhere: a tracer provider with a
// batch span processor, a meter provider with a periodic reader, a logger provider with a
// batch log record processor ("full telemetry"), and the AsyncLocalStorage context manager.
// The exporters only count, so what a benchmark block measures is the instrumentation and
// the SDK work it causes, not a network.
import { context, logs, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export interface Telemetry {
  /** Spans, log records and metric data points exported so far. */
  counts(): { spans: number; logRecords: number; metricPoints: number };
  /**
   * Hands the SDK providers to an instrumentation, as registerInstrumentations() and NodeSDK do
   * (without enabling it). Some instrumentations only create their metric instruments here.
   */
  register<T extends ProviderSetters>(instrumentation: T): T;
  /** Exports what the batch processors hold; called between blocks, outside the timed part. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

interface ProviderSetters {
  setTracerProvider(provider: TracerProvider): void;
  setMeterProvider(provider: MeterProvider): void;
  setLoggerProvider?(provider: LoggerProvider): void;
}

/**
 * Installs the providers as the global ones, as NodeSDK does: instrumentations constructed
 * after this get the SDK's tracer, meter and logger directly.
 */
export function installTelemetry(): Telemetry {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const count = { spans: 0, logRecords: 0, metricPoints: 0 };
  const done = { code: ExportResultCode.SUCCESS };
  const tracerProvider = new TracerProvider({
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: { export: (spans, cb) => ((count.spans += spans.length), cb(done)), shutdown: async () => {} },
      }),
    ],
  });
  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: {
          export: (resourceMetrics, cb) => {
            for (const scope of resourceMetrics.scopeMetrics)
              for (const metric of scope.metrics) count.metricPoints += metric.dataPoints.length;
            cb(done);
          },
          forceFlush: async () => {},
          shutdown: async () => {},
        },
        // An app's default is 60 s; 10 s still lands collections inside measured blocks.
        exportIntervalMillis: 10_000,
      }),
    ],
  });
  const loggerProvider = new LoggerProvider({
    processors: [
      new BatchLogRecordProcessor({
        exporter: {
          export: (records, cb) => ((count.logRecords += records.length), cb(done)),
          forceFlush: async () => {},
          shutdown: async () => {},
        },
      }),
    ],
  });
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  logs.setGlobalLoggerProvider(loggerProvider);
  return {
    counts: () => ({ ...count }),
    register: (instrumentation) => {
      instrumentation.setTracerProvider(tracerProvider);
      instrumentation.setMeterProvider(meterProvider);
      instrumentation.setLoggerProvider?.(loggerProvider);
      return instrumentation;
    },
    flush: async () => {
      await tracerProvider.forceFlush();
      await loggerProvider.forceFlush();
    },
    shutdown: async () => {
      await meterProvider.forceFlush();
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()]);
    },
  };
}
