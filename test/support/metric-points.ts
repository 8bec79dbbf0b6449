import type { Attributes } from '@opentelemetry/api';
import {
  DataPointType,
  MeterProvider,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { OnDemandReader, type TestTelemetry } from './telemetry';

/**
 * Gives the instrumentation a new meter provider (so cumulative points start from nothing) and
 * returns a function that collects every metric it recorded since.
 */
export function freshMetrics(telemetry: TestTelemetry): () => Promise<MetricData[]> {
  const reader = new OnDemandReader();
  telemetry.instrumentation.setMeterProvider(new MeterProvider({ readers: [reader] }));
  return async () => {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  };
}

export function metric(all: MetricData[], name: string): MetricData | undefined {
  return all.find((m) => m.descriptor.name === name);
}

export function histogramPoints(all: MetricData[], name: string): DataPoint<Histogram>[] {
  const found = metric(all, name);
  if (found !== undefined && found.dataPointType !== DataPointType.HISTOGRAM)
    throw new Error(`${name} is not a histogram`);
  return found?.dataPoints ?? [];
}

export function sumPoints(all: MetricData[], name: string): DataPoint<number>[] {
  const found = metric(all, name);
  if (found !== undefined && found.dataPointType !== DataPointType.SUM) throw new Error(`${name} is not a sum`);
  return found?.dataPoints ?? [];
}

/** The points whose attributes include every given one (an `undefined` value: the key is absent). */
export function where<T>(list: DataPoint<T>[], attributes: Attributes): DataPoint<T>[] {
  return list.filter((p) =>
    Object.entries(attributes).every(([k, v]) => (v === undefined ? !(k in p.attributes) : p.attributes[k] === v)),
  );
}

/** `attributes` without `key`. */
export function without(attributes: Attributes, key: string): Attributes {
  const { [key]: _dropped, ...rest } = attributes;
  return rest;
}
