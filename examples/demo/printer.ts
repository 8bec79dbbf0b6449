/**
 * Turns the spans and metrics the instrumentation recorded into plain, aligned terminal text.
 * Colour only when the output is a terminal and NO_COLOR is unset.
 */
import { SpanStatusCode, type AttributeValue, type Attributes } from '@opentelemetry/api';
import {
  DataPointType,
  type DataPoint,
  type Histogram,
  type MetricData,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import * as semconv from '../../src/semconv';

export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
}

const PLAIN: Style = { bold: (t) => t, dim: (t) => t, green: (t) => t, yellow: (t) => t, red: (t) => t };

function sgr(open: number, close: number): (text: string) => string {
  return (text) => `\u001b[${open}m${text}\u001b[${close}m`;
}

const COLOURED: Style = {
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  red: sgr(31, 39),
};

export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  return stream.isTTY === true && env.NO_COLOR === undefined ? COLOURED : PLAIN;
}

/** Pads to a width measured without colour codes, so coloured cells still line up. */
function pad(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  // eslint-disable-next-line no-control-regex
  const visible = text.replace(/\u001b\[\d+m/g, '').length;
  const fill = ' '.repeat(Math.max(0, width - visible));
  return align === 'left' ? text + fill : fill + text;
}

interface Column {
  title: string;
  width: number;
  align?: 'right';
}

// request_id last: it is the widest, and a narrow terminal then wraps only that.
const COLUMNS = {
  model: { title: 'model', width: 17 },
  region: { title: 'region', width: 6 },
  status: { title: 'status / error code', width: 24 },
  remaining: { title: 'ratelimit', width: 9, align: 'right' },
  tokens: { title: 'tokens', width: 7, align: 'right' },
  cached: { title: 'cached', width: 6, align: 'right' },
  fallback: { title: 'fallback', width: 8 },
  duration: { title: 'duration', width: 8, align: 'right' },
  requestId: { title: 'request_id', width: 0 },
} satisfies Record<string, Column>;

type Cells = Record<keyof typeof COLUMNS, string>;

function row(cells: Cells): string {
  const parts = (Object.keys(COLUMNS) as (keyof typeof COLUMNS)[]).map((key) => {
    const column: Column = COLUMNS[key];
    return pad(cells[key], column.width, column.align);
  });
  return `   ${parts.join('  ')}`.trimEnd();
}

export function tableHeader(style: Style): string[] {
  const titles = Object.fromEntries(Object.entries(COLUMNS).map(([key, column]) => [key, column.title])) as Cells;
  return [
    style.dim(row(titles)),
    style.dim(
      '   (ratelimit: X-RateLimit-Remaining/Limit of the model; tokens: input/output; cached: input tokens read',
    ),
    style.dim("    from the prompt cache; fallback: yes when one of the request's fallbacks served it)"),
  ];
}

export function stepHeading(index: number, title: string, detail: string, style: Style): string {
  return `${style.bold(`${index}. ${title}`)}  ${style.dim(detail)}`;
}

/** An attribute as text: undefined when it is absent, a scalar as String() writes it, an array as JSON. */
function text(value: AttributeValue): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function formatDuration(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return ms >= 10 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

function spanDurationMs(span: ReadableSpan): number {
  return span.duration[0] * 1000 + span.duration[1] / 1e6;
}

function statusCell(attributes: Attributes, failed: boolean, style: Style): string {
  const status = text(attributes[semconv.ATTR_HTTP_RESPONSE_STATUS_CODE]);
  const code = text(attributes[semconv.ATTR_ASSEMBLYAI_ERROR_CODE]) ?? text(attributes[semconv.ATTR_ERROR_TYPE]);
  const cell = [status, code].filter(Boolean).join(' ') || '-';
  if (!failed) return style.green(cell);
  return status === '429' ? style.yellow(cell) : style.red(cell);
}

/** A stream without request_id still has the completion id: the next best thing to quote. */
function requestIdCell(a: Attributes): string {
  const requestId = text(a[semconv.ATTR_ASSEMBLYAI_REQUEST_ID]);
  if (requestId) return requestId;
  const responseId = text(a[semconv.ATTR_GEN_AI_RESPONSE_ID]);
  return responseId ? `(none; response id ${responseId})` : '(none)';
}

/** One span as a table row, plus a line with the gateway's error message when it failed. */
export function spanLines(span: ReadableSpan, style: Style): string[] {
  const a = span.attributes;
  const failed = span.status.code === SpanStatusCode.ERROR;
  const remaining = text(a[semconv.ATTR_ASSEMBLYAI_RATELIMIT_REMAINING]);
  const limit = text(a[semconv.ATTR_ASSEMBLYAI_RATELIMIT_LIMIT]);
  const input = text(a[semconv.ATTR_GEN_AI_USAGE_INPUT_TOKENS]);
  const output = text(a[semconv.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]);
  const fallbackUsed = a[semconv.ATTR_ASSEMBLYAI_FALLBACK_USED];
  const requestModel = text(a[semconv.ATTR_GEN_AI_REQUEST_MODEL]);
  const responseModel = text(a[semconv.ATTR_GEN_AI_RESPONSE_MODEL]);
  const lines = [
    row({
      model: requestModel ?? '?',
      region: text(a[semconv.ATTR_ASSEMBLYAI_REGION]) ?? '?',
      status: statusCell(a, failed, style),
      remaining: remaining === undefined ? '-' : `${remaining}/${limit ?? '?'}`,
      tokens: input === undefined && output === undefined ? '-' : `${input ?? '?'}/${output ?? '?'}`,
      cached: text(a[semconv.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]) ?? '-',
      fallback: fallbackUsed === undefined ? '-' : fallbackUsed === true ? style.yellow('yes') : 'no',
      duration: formatDuration(spanDurationMs(span)),
      requestId: requestIdCell(a),
    }),
  ];
  // Another model answered: a fallback served it (or the provider names its model differently).
  if (responseModel !== undefined && requestModel !== undefined && responseModel !== requestModel) {
    lines.push(style.dim(`     -> served by ${responseModel}`));
  }
  if (failed) {
    const message = text(a[semconv.ATTR_ASSEMBLYAI_ERROR_MESSAGE]) ?? span.status.message ?? '';
    const retryAfter = text(a[semconv.ATTR_ASSEMBLYAI_RETRY_AFTER]);
    const shown = message.length > 90 ? `${message.slice(0, 87)}...` : message;
    const details = [shown && `"${shown}"`, retryAfter && `retry after ${retryAfter} s`].filter(Boolean).join(', ');
    if (details) lines.push(style.dim(`     -> ${details}`));
  }
  for (const d of diagnosticsOf(span)) {
    const message = d.message.length > 110 ? `${d.message.slice(0, 107)}...` : d.message;
    lines.push(`     ${d.severity === 'warning' ? '?' : '!'} ${style.bold(d.id)}: ${style.dim(message)}`);
  }
  return lines;
}

/** The troubleshooting-guide diagnostics the instrumentation put on a span as events. */
export function diagnosticsOf(span: ReadableSpan): { id: string; severity: string; message: string }[] {
  return span.events
    .filter((e) => e.name === semconv.EVENT_ASSEMBLYAI_DIAGNOSTIC)
    .map((e) => ({
      id: text(e.attributes?.[semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_ID]) ?? '?',
      severity: text(e.attributes?.[semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_SEVERITY]) ?? 'error',
      message: text(e.attributes?.[semconv.ATTR_ASSEMBLYAI_DIAGNOSTIC_MESSAGE]) ?? '',
    }));
}

/** How many diagnostic events the session produced, by id. */
export function diagnosticTotalLine(spans: ReadableSpan[], style: Style): string {
  const counts = new Map<string, number>();
  for (const span of spans) for (const d of diagnosticsOf(span)) counts.set(d.id, (counts.get(d.id) ?? 0) + 1);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const byId = [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, n]) => `${id} ${n}`)
    .join(', ');
  return labelled('diagnostics (span events)', `${total}${byId ? `: ${byId}` : ''}`, style);
}

// --- Metric totals ------------------------------------------------------------------------

function metricNamed(resourceMetrics: ResourceMetrics, name: string): MetricData | undefined {
  for (const scope of resourceMetrics.scopeMetrics) {
    const metric = scope.metrics.find((m) => m.descriptor.name === name);
    if (metric) return metric;
  }
  return undefined;
}

function histogramPoints(metric: MetricData | undefined): DataPoint<Histogram>[] {
  return metric?.dataPointType === DataPointType.HISTOGRAM ? metric.dataPoints : [];
}

/** All points of a histogram merged into one (they share bucket boundaries). */
function mergeHistograms(points: DataPoint<Histogram>[]): Histogram | undefined {
  if (points.length === 0) return undefined;
  const boundaries = points[0].value.buckets.boundaries;
  const counts = new Array<number>(boundaries.length + 1).fill(0);
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const { value } of points) {
    value.buckets.counts.forEach((c, i) => (counts[i] = (counts[i] ?? 0) + c));
    count += value.count;
    sum += value.sum ?? 0;
    min = Math.min(min, value.min ?? Infinity);
    max = Math.max(max, value.max ?? -Infinity);
  }
  return { buckets: { boundaries, counts }, count, sum, min, max };
}

/**
 * A quantile estimated from bucket counts the way Prometheus' histogram_quantile() does:
 * linear within the bucket it falls in, here clamped to the recorded min and max.
 */
export function histogramQuantile(q: number, histogram: Histogram): number | undefined {
  const { boundaries, counts } = histogram.buckets;
  if (histogram.count === 0) return undefined;
  const rank = q * histogram.count;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i] ?? 0;
    if (inBucket > 0 && seen + inBucket >= rank) {
      const lower = i === 0 ? (histogram.min ?? 0) : boundaries[i - 1];
      const upper = i < boundaries.length ? boundaries[i] : (histogram.max ?? lower);
      const estimate = lower + (upper - lower) * ((rank - seen) / inBucket);
      return Math.min(Math.max(estimate, histogram.min ?? estimate), histogram.max ?? estimate);
    }
    seen += inBucket;
  }
  return histogram.max;
}

function labelled(label: string, value: string, style: Style): string {
  return `   ${style.dim(pad(label, 48))}${value}`;
}

export function metricTotalLines(resourceMetrics: ResourceMetrics, style: Style): string[] {
  const lines = [style.bold('Metric totals') + style.dim('  (cumulative, read from the MeterProvider)')];

  const durationPoints = histogramPoints(metricNamed(resourceMetrics, semconv.METRIC_GEN_AI_CLIENT_OPERATION_DURATION));
  const calls = new Map<string, number>();
  for (const point of durationPoints) {
    const errorType = text(point.attributes[semconv.ATTR_ERROR_TYPE]) ?? 'ok';
    calls.set(errorType, (calls.get(errorType) ?? 0) + point.value.count);
  }
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  const byType = [...calls.entries()]
    .sort(([a], [b]) => (a === 'ok' ? -1 : b === 'ok' ? 1 : a.localeCompare(b)))
    .map(([type, count]) => `${type} ${count}`)
    .join(', ');
  lines.push(labelled('calls by error.type (operation.duration count)', `${total}: ${byType || 'none'}`, style));

  const duration = mergeHistograms(durationPoints);
  if (duration && duration.count > 0) {
    const ms = (seconds: number | undefined) => (seconds === undefined ? '?' : formatDuration(seconds * 1000));
    const p50 = histogramQuantile(0.5, duration);
    const p95 = histogramQuantile(0.95, duration);
    lines.push(
      labelled(
        'duration p50 / p95 (from the buckets) / max',
        `${ms(p50)} / ${ms(p95)} / ${ms(duration.max)}  (mean ${ms((duration.sum ?? 0) / duration.count)})`,
        style,
      ),
    );
  }

  const tokens = { input: 0, output: 0 };
  for (const point of histogramPoints(metricNamed(resourceMetrics, semconv.METRIC_GEN_AI_CLIENT_TOKEN_USAGE))) {
    const type = point.attributes[semconv.ATTR_GEN_AI_TOKEN_TYPE];
    if (type === semconv.GEN_AI_TOKEN_TYPE_INPUT) tokens.input += point.value.sum ?? 0;
    if (type === semconv.GEN_AI_TOKEN_TYPE_OUTPUT) tokens.output += point.value.sum ?? 0;
  }
  lines.push(labelled('tokens (token.usage sum)', `${tokens.input} input, ${tokens.output} output`, style));

  const cacheRead = metricNamed(resourceMetrics, semconv.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS);
  if (cacheRead?.dataPointType === DataPointType.SUM) {
    const sum = cacheRead.dataPoints.reduce((total, point) => total + point.value, 0);
    lines.push(labelled('cached input tokens (cache_read counter)', `${sum}`, style));
  }

  const firstChunk = mergeHistograms(
    histogramPoints(metricNamed(resourceMetrics, semconv.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK)),
  );
  if (firstChunk && firstChunk.count > 0) {
    const mean = formatDuration(((firstChunk.sum ?? 0) / firstChunk.count) * 1000);
    lines.push(labelled('streams, time to first chunk (mean)', `${firstChunk.count}, ${mean}`, style));
  }

  const remaining = metricNamed(resourceMetrics, semconv.METRIC_ASSEMBLYAI_RATELIMIT_REMAINING);
  if (remaining?.dataPointType === DataPointType.GAUGE) {
    const values = remaining.dataPoints
      .map(
        (p) =>
          `${text(p.attributes[semconv.ATTR_GEN_AI_REQUEST_MODEL]) ?? '?'} ${text(p.attributes[semconv.ATTR_ASSEMBLYAI_REGION]) ?? '?'} ${p.value}`,
      )
      .sort();
    values.forEach((value, i) => lines.push(labelled(i === 0 ? 'ratelimit.remaining (last value)' : '', value, style)));
  }
  return lines;
}
