import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import axios from 'axios';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedGateway, type SimulatedGateway } from '../examples/simulated-gateway/server';
import { LlmGatewayInstrumentation } from '../src';
import { LifecycleCounter } from './support/telemetry';

// The OTLP endpoint is down during a load run (traces, metrics and logs all exported over
// OTLP/HTTP to it): the application's calls must go on as they do with the endpoint up, and
// the memory the telemetry holds must stay bounded by the SDK's queues, not grow with the
// number of calls. Two ways to be down: nothing listens (connections refused), and a black
// hole that accepts connections and never answers.

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const API_KEY = 'sim-exporter-down-key';
let gateway: SimulatedGateway;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  gateway = await startSimulatedGateway({ rateLimit: 10_000_000 });
});
afterAll(async () => {
  await gateway.close();
});

/** Passes exports through, counting how they ended. */
class CountingExporter implements SpanExporter {
  succeeded = 0;
  failed = 0;
  constructor(private readonly inner: SpanExporter) {}
  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.succeeded++;
      else this.failed++;
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

interface DeadEndpoint {
  url: string;
  close(): Promise<void>;
}

async function refusingEndpoint(): Promise<DeadEndpoint> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return { url: `http://127.0.0.1:${port}`, close: async () => {} };
}

async function blackHoleEndpoint(): Promise<DeadEndpoint> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.resume(); // read everything, answer nothing
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** One worker's loop of calls: non-streamed fetch, streamed fetch, axios; checks each reply. */
async function worker(calls: number, problems: string[], latencies: number[]): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const startedAt = performance.now();
    const kind = i % 3;
    const body = {
      model: 'gpt-5',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 50,
      ...(kind === 1 ? { stream: true } : {}),
    };
    let text: string;
    if (kind === 2) {
      const response = await axios.post(`${gateway.url}/v1/chat/completions`, body, {
        headers: { authorization: API_KEY },
        responseType: 'text',
      });
      text = response.data as string;
    } else {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: API_KEY, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (response.status !== 200) problems.push(`status ${response.status}`);
      text = await response.text();
    }
    const ok =
      kind === 1
        ? text.endsWith('data: [DONE]\n\n')
        : typeof (JSON.parse(text) as { request_id?: unknown }).request_id === 'string';
    if (!ok) problems.push(`call ${i} (${kind}): unexpected body ${text.slice(0, 80)}`);
    latencies.push(performance.now() - startedAt);
  }
}

async function load(
  calls: number,
  concurrency = 16,
): Promise<{ problems: string[]; latencies: number[]; seconds: number }> {
  const problems: string[] = [];
  const latencies: number[] = [];
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, () => worker(Math.ceil(calls / concurrency), problems, latencies)),
  );
  return { problems, latencies, seconds: (performance.now() - startedAt) / 1000 };
}

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(10);
  }
  return process.memoryUsage().heapUsed;
}

const MB = 1024 * 1024;
const CALLS_PER_RUN = 300;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

/** A healthy OTLP/HTTP endpoint: reads each export and answers 200 at once. */
async function healthyEndpoint(): Promise<DeadEndpoint> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Traces, metrics and logs exported over OTLP/HTTP to one endpoint, as register.ts sets them up. */
class Pipeline {
  readonly traceExporter: CountingExporter;
  readonly tracerProvider: TracerProvider;
  readonly meterProvider: MeterProvider;
  readonly loggerProvider: LoggerProvider;

  constructor(
    readonly endpoint: DeadEndpoint,
    lifecycle: LifecycleCounter,
  ) {
    // Short timeouts, so the retries and give-ups of a down endpoint happen during the run.
    const options = (path: string) => ({ url: `${endpoint.url}${path}`, timeoutMillis: 500 });
    this.traceExporter = new CountingExporter(new OTLPTraceExporter(options('/v1/traces')));
    this.tracerProvider = new TracerProvider({
      spanProcessors: [
        new BatchSpanProcessor({ exporter: this.traceExporter, scheduledDelayMillis: 100, exportTimeoutMillis: 1000 }),
        lifecycle,
      ],
    });
    this.meterProvider = new MeterProvider({
      readers: [
        new PeriodicExportingMetricReader({
          exporter: new OTLPMetricExporter(options('/v1/metrics')),
          exportIntervalMillis: 200,
          exportTimeoutMillis: 150,
        }),
      ],
    });
    this.loggerProvider = new LoggerProvider({
      processors: [
        new BatchLogRecordProcessor({
          exporter: new OTLPLogExporter(options('/v1/logs')),
          scheduledDelayMillis: 100,
          exportTimeoutMillis: 1000,
        }),
      ],
    });
  }

  use(instrumentation: LlmGatewayInstrumentation): void {
    instrumentation.setTracerProvider(this.tracerProvider);
    instrumentation.setMeterProvider(this.meterProvider);
    instrumentation.setLoggerProvider(this.loggerProvider);
  }

  async close(): Promise<void> {
    // Shutting down flushes to the endpoint: bounded by the export timeouts, not awaited past them.
    const providers = [this.tracerProvider, this.meterProvider, this.loggerProvider];
    await Promise.race([Promise.all(providers.map((p) => p.shutdown().catch(() => undefined))), sleep(3000)]);
    await this.endpoint.close();
  }
}

describe.each([
  ['refuses connections', refusingEndpoint],
  ['accepts connections and never answers', blackHoleEndpoint],
])('an OTLP endpoint that %s', (downHow, openDeadEndpoint) => {
  let instrumentation: LlmGatewayInstrumentation;
  let lifecycle: LifecycleCounter;
  let healthy: Pipeline;
  let down: Pipeline;

  beforeAll(async () => {
    lifecycle = new LifecycleCounter();
    healthy = new Pipeline(await healthyEndpoint(), lifecycle);
    down = new Pipeline(await openDeadEndpoint(), lifecycle);
    instrumentation = new LlmGatewayInstrumentation({ enabled: false, hosts: [{ host: `127.0.0.1:${gateway.port}` }] });
  });
  afterAll(async () => {
    instrumentation.disable();
    await Promise.all([healthy.close(), down.close()]);
  });

  it('leaves the application calls unaffected and the memory bounded', async () => {
    // Warm-up of both pipelines (JIT, connection pools, the down one's queues filling up).
    instrumentation.enable();
    for (const pipeline of [healthy, down]) {
      pipeline.use(instrumentation);
      await load(CALLS_PER_RUN);
    }
    const baseline = await heapAfterGc();

    // Interleaved rounds: the same calls with the endpoint up and with it down.
    const ratios: number[] = [];
    const latencies = { healthy: [] as number[], down: [] as number[] };
    let heapAfterHalf = 0;
    const rounds = 4;
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? [down, healthy] : [healthy, down];
      const seconds = new Map<Pipeline, number>();
      for (const pipeline of order) {
        pipeline.use(instrumentation);
        const run = await load(CALLS_PER_RUN);
        expect(run.problems).toEqual([]);
        seconds.set(pipeline, run.seconds);
        latencies[pipeline === down ? 'down' : 'healthy'].push(...run.latencies);
      }
      ratios.push(seconds.get(down)! / seconds.get(healthy)!);
      if (round === rounds / 2 - 1) heapAfterHalf = await heapAfterGc();
    }
    instrumentation.disable();
    await sleep(300);
    const heapAtEnd = await heapAfterGc();

    const p99 = { healthy: percentile(latencies.healthy, 0.99), down: percentile(latencies.down, 0.99) };
    console.log(
      `exporter down (${downHow}): ${lifecycle.started} calls, every reply intact; time ratio down/up median ${median(ratios).toFixed(2)}x ` +
        `(rounds ${ratios.map((r) => r.toFixed(2)).join(' ')}); p99 latency ${p99.down.toFixed(1)} ms down, ${p99.healthy.toFixed(1)} ms up; ` +
        `trace exports to the down endpoint failed ${down.traceExporter.failed}, succeeded ${down.traceExporter.succeeded} ` +
        `(to the endpoint that is up: ${healthy.traceExporter.succeeded} succeeded); heap after GC: after warm-up ${(baseline / MB).toFixed(1)} MB, ` +
        `half-way ${(heapAfterHalf / MB).toFixed(1)} MB, end ${(heapAtEnd / MB).toFixed(1)} MB`,
    );

    // Every span still ended once, and the endpoint really was down (and the other one up).
    expect(lifecycle.ended).toBe(lifecycle.started);
    expect(lifecycle.endedTwice).toEqual([]);
    expect(down.traceExporter.succeeded).toBe(0);
    expect(healthy.traceExporter.succeeded).toBeGreaterThan(0);
    // A down endpoint costs the calls nothing they would notice: no call waits on an export.
    expect(median(ratios)).toBeLessThan(1.5);
    expect(p99.down).toBeLessThan(Math.max(3 * p99.healthy, 100));
    // Bounded: the second half of the run (600 more calls through each pipeline, some MB of
    // spans and log records if they were kept) leaves nothing behind.
    expect((heapAtEnd - heapAfterHalf) / MB).toBeLessThan(3);
  }, 60_000);
});
