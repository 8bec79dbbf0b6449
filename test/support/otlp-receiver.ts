import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

/**
 * A loopback OTLP/HTTP receiver: accepts /v1/traces, /v1/metrics and /v1/logs in both
 * `http/protobuf` and `http/json`, and decodes them into one flat model, so a test reads what
 * an exporter really sent. (@opentelemetry/otlp-transformer encodes requests but exports no
 * decoder for them, hence the small protobuf reader below.)
 */

export type AttributeValue = string | number | boolean | AttributeValue[] | null;
export type Attributes = Record<string, AttributeValue>;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Attributes;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  resource: Attributes;
  scope: string;
}

export interface ReceivedDataPoint {
  attributes: Attributes;
  /** Gauges and sums. */
  value?: number;
  /** Histograms. */
  count?: number;
  sum?: number;
}

export interface ReceivedMetric {
  name: string;
  unit: string;
  type: 'histogram' | 'gauge' | 'sum' | 'other';
  points: ReceivedDataPoint[];
  resource: Attributes;
  scope: string;
}

export interface ReceivedLog {
  eventName: string;
  body: AttributeValue;
  attributes: Attributes;
  traceId: string;
  spanId: string;
  resource: Attributes;
  scope: string;
}

export interface ReceivedRequest {
  path: string;
  contentType: string;
}

export interface OtlpReceiver {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  readonly metrics: ReceivedMetric[];
  readonly logs: ReceivedLog[];
  readonly requests: ReceivedRequest[];
  /** Resolves once `predicate` holds for what was received; rejects after `timeoutMs`. */
  waitFor(predicate: (receiver: OtlpReceiver) => boolean, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetric[] = [];
  const logs: ReceivedLog[] = [];
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();

  const receive = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim();
    const path = req.url ?? '';
    const isJson = contentType === 'application/json';
    try {
      const signal = SIGNALS[path];
      if (req.method !== 'POST' || signal === undefined) {
        res.writeHead(404).end();
        return;
      }
      const message = isJson ? (JSON.parse(body.toString('utf8')) as OtlpObject) : decodeMessage(body, signal.schema);
      requests.push({ path, contentType });
      signal.collect(message, { spans, metrics, logs });
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
      return;
    }
    // An empty Export*ServiceResponse: full success.
    if (isJson) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    for (const wake of waiters) wake();
  };
  // A request whose body cannot be read (the exporter went away) or gunzipped ends its socket.
  const server = http.createServer((req, res) => void receive(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const receiver: OtlpReceiver = {
    url: `http://127.0.0.1:${port}`,
    spans,
    metrics,
    logs,
    requests,
    waitFor(predicate, timeoutMs = 10_000) {
      if (predicate(receiver)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `OTLP receiver: condition not met in ${timeoutMs} ms (${spans.length} spans, ${metrics.length} metrics, ${logs.length} logs)`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          if (!predicate(receiver)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    reset() {
      spans.length = 0;
      metrics.length = 0;
      logs.length = 0;
      requests.length = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return receiver;
}

// ---------------------------------------------------------------------------------------------
// From OTLP (as JSON, or as decoded protobuf in the same shape) to the flat model
// ---------------------------------------------------------------------------------------------

/** A message in OTLP/JSON shape: lowerCamelCase fields, hex ids. */
type OtlpObject = { [field: string]: unknown };

interface Collected {
  spans: ReceivedSpan[];
  metrics: ReceivedMetric[];
  logs: ReceivedLog[];
}

const SIGNALS: Record<string, { schema: Schema; collect(message: OtlpObject, into: Collected): void }> = {
  '/v1/traces': {
    get schema() {
      return SCHEMAS.ExportTraceServiceRequest;
    },
    collect(message, { spans }) {
      for (const resourceSpans of list(message.resourceSpans)) {
        const resource = attributesOf((resourceSpans.resource as OtlpObject | undefined)?.attributes);
        for (const scopeSpans of list(resourceSpans.scopeSpans)) {
          const scope = text((scopeSpans.scope as OtlpObject | undefined)?.name);
          for (const span of list(scopeSpans.spans)) {
            const status = (span.status ?? {}) as OtlpObject;
            spans.push({
              traceId: text(span.traceId),
              spanId: text(span.spanId),
              parentSpanId: text(span.parentSpanId),
              name: text(span.name),
              kind: Number(span.kind ?? 0),
              attributes: attributesOf(span.attributes),
              status: { code: Number(status.code ?? 0), message: text(status.message) },
              resource,
              scope,
            });
          }
        }
      }
    },
  },
  '/v1/metrics': {
    get schema() {
      return SCHEMAS.ExportMetricsServiceRequest;
    },
    collect(message, { metrics }) {
      for (const resourceMetrics of list(message.resourceMetrics)) {
        const resource = attributesOf((resourceMetrics.resource as OtlpObject | undefined)?.attributes);
        for (const scopeMetrics of list(resourceMetrics.scopeMetrics)) {
          const scope = text((scopeMetrics.scope as OtlpObject | undefined)?.name);
          for (const metric of list(scopeMetrics.metrics)) {
            const type = metric.histogram ? 'histogram' : metric.gauge ? 'gauge' : metric.sum ? 'sum' : 'other';
            const data = (metric.histogram ?? metric.gauge ?? metric.sum ?? {}) as OtlpObject;
            metrics.push({
              name: text(metric.name),
              unit: text(metric.unit),
              type,
              points: list(data.dataPoints).map((point) => ({
                attributes: attributesOf(point.attributes),
                value:
                  point.asDouble !== undefined
                    ? Number(point.asDouble)
                    : point.asInt !== undefined
                      ? Number(point.asInt)
                      : undefined,
                count: point.count !== undefined ? Number(point.count) : undefined,
                sum: point.sum !== undefined ? Number(point.sum) : undefined,
              })),
              resource,
              scope,
            });
          }
        }
      }
    },
  },
  '/v1/logs': {
    get schema() {
      return SCHEMAS.ExportLogsServiceRequest;
    },
    collect(message, { logs }) {
      for (const resourceLogs of list(message.resourceLogs)) {
        const resource = attributesOf((resourceLogs.resource as OtlpObject | undefined)?.attributes);
        for (const scopeLogs of list(resourceLogs.scopeLogs)) {
          const scope = text((scopeLogs.scope as OtlpObject | undefined)?.name);
          for (const record of list(scopeLogs.logRecords)) {
            logs.push({
              eventName: text(record.eventName),
              body: valueOf(record.body),
              attributes: attributesOf(record.attributes),
              traceId: text(record.traceId),
              spanId: text(record.spanId),
              resource,
              scope,
            });
          }
        }
      }
    },
  },
};

/**
 * A string field (a name, a hex id, bytes as hex or, in OTLP/JSON, base64): '' when it is
 * absent, anything but a string or a number as JSON.
 */
function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value);
}

function list(value: unknown): OtlpObject[] {
  return Array.isArray(value) ? (value as OtlpObject[]) : [];
}

function attributesOf(keyValues: unknown): Attributes {
  const attributes: Attributes = {};
  for (const { key, value } of list(keyValues)) attributes[text(key)] = valueOf(value);
  return attributes;
}

function valueOf(anyValue: unknown): AttributeValue {
  if (typeof anyValue !== 'object' || anyValue === null) return null;
  const v = anyValue as OtlpObject;
  if (v.stringValue !== undefined) return text(v.stringValue);
  if (v.boolValue !== undefined) return Boolean(v.boolValue);
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue !== undefined) return list((v.arrayValue as OtlpObject).values).map(valueOf);
  if (v.kvlistValue !== undefined) return JSON.stringify(attributesOf((v.kvlistValue as OtlpObject).values));
  if (v.bytesValue !== undefined) return text(v.bytesValue);
  return null;
}

// ---------------------------------------------------------------------------------------------
// A protobuf reader for the OTLP messages above (opentelemetry-proto, v1)
// ---------------------------------------------------------------------------------------------

type Scalar = 'string' | 'bytes' | 'varint' | 'bool' | 'double' | 'fixed64' | 'sfixed64' | 'fixed32';
/** Field number -> [OTLP/JSON name, scalar type or nested schema, repeated]. */
type Schema = { [field: number]: [name: string, type: Scalar | Schema, repeated?: boolean] };

const SCHEMAS = (() => {
  const AnyValue: Schema = {};
  const KeyValue: Schema = { 1: ['key', 'string'], 2: ['value', AnyValue] };
  Object.assign(AnyValue, {
    1: ['stringValue', 'string'],
    2: ['boolValue', 'bool'],
    3: ['intValue', 'varint'],
    4: ['doubleValue', 'double'],
    5: ['arrayValue', { 1: ['values', AnyValue, true] }],
    6: ['kvlistValue', { 1: ['values', KeyValue, true] }],
    7: ['bytesValue', 'bytes'],
  } satisfies Schema);
  const attributes: Schema[number] = ['attributes', KeyValue, true];
  const Resource: Schema = { 1: attributes };
  const Scope: Schema = { 1: ['name', 'string'], 2: ['version', 'string'], 3: attributes };
  const Span: Schema = {
    1: ['traceId', 'bytes'],
    2: ['spanId', 'bytes'],
    3: ['traceState', 'string'],
    4: ['parentSpanId', 'bytes'],
    5: ['name', 'string'],
    6: ['kind', 'varint'],
    7: ['startTimeUnixNano', 'fixed64'],
    8: ['endTimeUnixNano', 'fixed64'],
    9: attributes,
    11: ['events', { 1: ['timeUnixNano', 'fixed64'], 2: ['name', 'string'], 3: attributes }, true],
    15: ['status', { 2: ['message', 'string'], 3: ['code', 'varint'] }],
  };
  const NumberDataPoint: Schema = {
    7: attributes,
    2: ['startTimeUnixNano', 'fixed64'],
    3: ['timeUnixNano', 'fixed64'],
    4: ['asDouble', 'double'],
    6: ['asInt', 'sfixed64'],
  };
  const HistogramDataPoint: Schema = {
    9: attributes,
    2: ['startTimeUnixNano', 'fixed64'],
    3: ['timeUnixNano', 'fixed64'],
    4: ['count', 'fixed64'],
    5: ['sum', 'double'],
    6: ['bucketCounts', 'fixed64', true],
    7: ['explicitBounds', 'double', true],
    11: ['min', 'double'],
    12: ['max', 'double'],
  };
  const Metric: Schema = {
    1: ['name', 'string'],
    2: ['description', 'string'],
    3: ['unit', 'string'],
    5: ['gauge', { 1: ['dataPoints', NumberDataPoint, true] }],
    7: [
      'sum',
      { 1: ['dataPoints', NumberDataPoint, true], 2: ['aggregationTemporality', 'varint'], 3: ['isMonotonic', 'bool'] },
    ],
    9: ['histogram', { 1: ['dataPoints', HistogramDataPoint, true], 2: ['aggregationTemporality', 'varint'] }],
  };
  const LogRecord: Schema = {
    1: ['timeUnixNano', 'fixed64'],
    11: ['observedTimeUnixNano', 'fixed64'],
    2: ['severityNumber', 'varint'],
    3: ['severityText', 'string'],
    5: ['body', AnyValue],
    6: attributes,
    9: ['traceId', 'bytes'],
    10: ['spanId', 'bytes'],
    12: ['eventName', 'string'],
  };
  const inScope = (name: string, item: Schema): Schema => ({ 1: ['scope', Scope], 2: [name, item, true] });
  const inResource = (name: string, scoped: Schema): Schema => ({ 1: ['resource', Resource], 2: [name, scoped, true] });
  return {
    ExportTraceServiceRequest: {
      1: ['resourceSpans', inResource('scopeSpans', inScope('spans', Span)), true],
    } as Schema,
    ExportMetricsServiceRequest: {
      1: ['resourceMetrics', inResource('scopeMetrics', inScope('metrics', Metric)), true],
    } as Schema,
    ExportLogsServiceRequest: {
      1: ['resourceLogs', inResource('scopeLogs', inScope('logRecords', LogRecord)), true],
    } as Schema,
  };
})();

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

function decodeMessage(bytes: Uint8Array, schema: Schema): OtlpObject {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const message: OtlpObject = {};
  let offset = 0;

  const readVarint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (offset >= bytes.length) throw new Error('protobuf: truncated varint');
      const byte = bytes[offset++];
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
    }
  };
  const take = (length: number): Uint8Array => {
    if (offset + length > bytes.length) throw new Error('protobuf: truncated field');
    const slice = bytes.subarray(offset, offset + length);
    offset += length;
    return slice;
  };
  const readFixed = (type: Scalar): unknown => {
    if (type === 'double') return view.getFloat64(take(8).byteOffset - bytes.byteOffset, true);
    if (type === 'fixed32') return view.getUint32(take(4).byteOffset - bytes.byteOffset, true);
    const at = take(8).byteOffset - bytes.byteOffset;
    return type === 'sfixed64' ? view.getBigInt64(at, true).toString() : view.getBigUint64(at, true).toString();
  };

  while (offset < bytes.length) {
    const key = Number(readVarint());
    const field = key >>> 3;
    const wireType = key & 7;
    const spec = schema[field];
    let value: unknown;
    let values: unknown[] | undefined;
    if (wireType === WIRE_VARINT) {
      const raw = readVarint();
      value = spec?.[1] === 'bool' ? raw !== 0n : Number(BigInt.asIntN(64, raw));
    } else if (wireType === WIRE_FIXED64) {
      value = readFixed(spec && typeof spec[1] === 'string' && spec[1] !== 'fixed32' ? spec[1] : 'fixed64');
    } else if (wireType === WIRE_FIXED32) {
      value = readFixed('fixed32');
    } else if (wireType === WIRE_LENGTH_DELIMITED) {
      const chunk = take(Number(readVarint()));
      const type = spec?.[1];
      if (type === undefined) continue;
      if (typeof type === 'object') value = decodeMessage(chunk, type);
      else if (type === 'string') value = new TextDecoder().decode(chunk);
      else if (type === 'bytes') value = Buffer.from(chunk).toString('hex');
      else values = decodePacked(chunk, type);
    } else {
      throw new Error(`protobuf: unsupported wire type ${wireType}`);
    }
    if (spec === undefined) continue;
    const [name, , repeated] = spec;
    if (repeated) ((message[name] ??= []) as unknown[]).push(...(values ?? [value]));
    else message[name] = value;
  }
  return message;
}

function decodePacked(chunk: Uint8Array, type: Scalar): unknown[] {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const values: unknown[] = [];
  if (type === 'double') for (let at = 0; at + 8 <= chunk.length; at += 8) values.push(view.getFloat64(at, true));
  else if (type === 'fixed64')
    for (let at = 0; at + 8 <= chunk.length; at += 8) values.push(view.getBigUint64(at, true).toString());
  return values;
}
