// npm run soak: the long run the fast tests stand in for. Three phases against the simulated
// gateway (in a child process, so the heap measured here is the client's alone):
//
//   1. steady:      100,000 calls (fetch, fetch streams, axios) through the built package with
//                   batch export of traces, metrics and logs; heap after forced GC at the
//                   start (after a warm-up) and at the end. Target: growth < 5 MB.
//   2. concurrency: 1,000 concurrent streamed calls through fetch, then through axios, all
//                   held open until each has its first chunk; every span must carry the
//                   request_id of its own response, and every span must end.
//   3. exporter down: the same calls with traces, metrics and logs exported over OTLP/HTTP,
//                   first to an endpoint that is up, then to a port nothing listens on; with
//                   it down the calls must all succeed, at >= 0.9x the rate with it up, and the
//                   heap must stay bounded (growth and peak < 5 MB once the SDK queues are full).
//
// Prints the figures and exits non-zero when a target is missed.
// Knobs: SOAK_CALLS (100000), SOAK_CONCURRENCY (32), SOAK_STREAMS (1000), SOAK_DOWN_CALLS (20000).
import { context, diag, DiagLogLevel, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type LogRecordExporter,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  TracerProvider,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import axios from 'axios';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
// The built package, as users run it.
import { LlmGatewayInstrumentation } from '../dist/cjs/index.js';
import { startSimulatedGatewayProcess } from '../examples/simulated-gateway/process';

const CALLS = Number(process.env.SOAK_CALLS ?? 100_000);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 32);
const STREAMS = Number(process.env.SOAK_STREAMS ?? 1000);
const DOWN_CALLS = Number(process.env.SOAK_DOWN_CALLS ?? 20_000);
const HEAP_GROWTH_TARGET_MB = 5;
const MB = 1024 * 1024;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('soak: run with --expose-gc (npm run soak does)');
  process.exit(2);
}

// ------------------------------------------------------------------ telemetry pipelines

/** Counts spans started and ended (and ended twice), like the tests' LifecycleCounter. */
class Lifecycle implements SpanProcessor {
  started = 0;
  ended = 0;
  endedTwice = 0;
  private readonly open = new Set<string>();
  onStart(span: Span, _parent: Context): void {
    this.started++;
    this.open.add(span.spanContext().spanId);
  }
  onEnd(span: ReadableSpan): void {
    this.ended++;
    if (!this.open.delete(span.spanContext().spanId)) this.endedTwice++;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Exporters that accept everything and keep nothing: what is measured is the client side. */
class DiscardingSpanExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.exported += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
class DiscardingLogExporter implements LogRecordExporter {
  export(_records: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
class DiscardingMetricExporter implements PushMetricExporter {
  export(_metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Counts export outcomes of a span exporter. */
class CountingSpanExporter implements SpanExporter {
  failed = 0;
  succeeded = 0;
  constructor(private readonly inner: SpanExporter) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.succeeded++;
      else this.failed++;
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

interface Pipeline {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  loggerProvider: LoggerProvider;
}

function pipeline(
  lifecycle: Lifecycle,
  exporters: { spans: SpanExporter; metrics: PushMetricExporter; logs: LogRecordExporter },
  timeoutMillis?: number,
): Pipeline {
  return {
    tracerProvider: new TracerProvider({
      spanProcessors: [
        new BatchSpanProcessor({ exporter: exporters.spans, exportTimeoutMillis: timeoutMillis }),
        lifecycle,
      ],
    }),
    meterProvider: new MeterProvider({
      readers: [
        new PeriodicExportingMetricReader({
          exporter: exporters.metrics,
          exportIntervalMillis: 1000,
          exportTimeoutMillis: Math.min(timeoutMillis ?? 1000, 1000),
        }),
      ],
    }),
    loggerProvider: new LoggerProvider({
      processors: [new BatchLogRecordProcessor({ exporter: exporters.logs, exportTimeoutMillis: timeoutMillis })],
    }),
  };
}

function use(instrumentation: LlmGatewayInstrumentation, p: Pipeline): void {
  instrumentation.setTracerProvider(p.tracerProvider);
  instrumentation.setMeterProvider(p.meterProvider);
  instrumentation.setLoggerProvider(p.loggerProvider);
}

async function shutdown(p: Pipeline): Promise<void> {
  // Flushing to a dead endpoint is bounded by the export timeouts; never wait past them.
  await Promise.race([
    Promise.all([p.tracerProvider.shutdown(), p.meterProvider.shutdown(), p.loggerProvider.shutdown()]).catch(
      () => undefined,
    ),
    sleep(5000),
  ]);
}

// ------------------------------------------------------------------ the gateway and the calls

let gatewayUrl = '';
const headers = { authorization: 'soak-key', 'content-type': 'application/json' };
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/** One call of the steady mix: 8 in 10 non-streamed fetch, 1 streamed fetch, 1 axios. */
async function mixedCall(i: number, problems: string[]): Promise<void> {
  const kind = i % 10;
  const stream = kind === 1;
  const body = {
    model: kind % 2 === 0 ? 'claude-sonnet-4-6' : 'gpt-5',
    messages: [{ role: 'user', content: `soak call ${i}` }],
    max_tokens: 64,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
  let text: string;
  if (kind === 2) {
    const response = await axios.post(`${gatewayUrl}/v1/chat/completions`, body, {
      headers,
      responseType: 'text',
      httpAgent: agent,
    });
    text = response.data as string;
  } else {
    const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    text = stream ? await readStream(response) : JSON.stringify(await response.json());
  }
  const ok = stream ? text.endsWith('data: [DONE]\n\n') : text.includes('"request_id"');
  if (!ok && problems.length < 10) problems.push(`call ${i}: unexpected reply ${text.slice(0, 100)}`);
}

async function readStream(response: Response): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
    text += decoder.decode(chunk, { stream: true });
  return text;
}

async function runCalls(total: number, problems: string[]): Promise<number> {
  let next = 0;
  const startedAt = performance.now();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      try {
        await mixedCall(i, problems);
      } catch (error) {
        if (problems.length < 10) problems.push(`call ${i}: ${String(error)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return total / ((performance.now() - startedAt) / 1000);
}

async function heapAfterGc(): Promise<number> {
  // Several rounds: finalizers and timers that run between them free more.
  for (let i = 0; i < 5; i++) {
    gc!();
    await sleep(50);
  }
  return process.memoryUsage().heapUsed;
}

async function untilEnded(lifecycle: Lifecycle, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (lifecycle.ended < lifecycle.started && Date.now() < deadline) await sleep(20);
}

// ------------------------------------------------------------------ concurrency phase

/** 1,000 streams at once: each waits after its first chunk until all have had theirs. */
async function concurrentStreams(
  client: 'fetch' | 'axios',
  lifecycle: Lifecycle,
  provider: TracerProvider,
  spans: Map<number, ReadableSpan>,
): Promise<string[]> {
  const problems: string[] = [];
  let arrived = 0;
  let release!: () => void;
  const allArrived = new Promise<void>((resolve) => (release = resolve));
  const arrive = () => {
    if (++arrived === STREAMS) release();
    return allArrived;
  };
  const timeout = setTimeout(() => release(), 60_000);
  const tagBase = client === 'fetch' ? 1_000 : 100_000;
  const texts = await Promise.all(
    Array.from({ length: STREAMS }, async (_, i) => {
      const body = {
        model: 'gpt-5',
        messages: [{ role: 'user', content: `stream ${i}` }],
        max_tokens: tagBase + i,
        stream: true,
        x_sim: { streamRequestId: true, replyBytes: 3000 },
      };
      let text = '';
      let first = true;
      if (client === 'fetch') {
        const response = await fetch(`${gatewayUrl}/v1/chat/completions`, {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
        });
        const decoder = new TextDecoder();
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          text += decoder.decode(chunk, { stream: true });
          if (first && !(first = false)) await arrive();
        }
      } else {
        const response = await axios.post(`${gatewayUrl}/v1/chat/completions`, body, {
          headers,
          responseType: 'stream',
          httpAgent: agent,
        });
        for await (const chunk of response.data as AsyncIterable<Buffer>) {
          text += chunk.toString('utf8');
          if (first && !(first = false)) await arrive();
        }
      }
      return text;
    }),
  );
  clearTimeout(timeout);
  if (arrived < STREAMS) problems.push(`${client}: only ${arrived} of ${STREAMS} streams were open at once`);
  await untilEnded(lifecycle);
  await provider.forceFlush();
  texts.forEach((text, i) => {
    const ids = new Set([...text.matchAll(/"request_id":"([^"]+)"/g)].map((m) => m[1]));
    const span = spans.get(tagBase + i);
    if (ids.size !== 1) problems.push(`${client} stream ${i}: ${ids.size} request ids in its own body`);
    else if (span === undefined) problems.push(`${client} stream ${i}: no span`);
    else if (span.attributes['assemblyai.request_id'] !== [...ids][0]) {
      problems.push(
        `${client} stream ${i}: span request_id ${String(span.attributes['assemblyai.request_id'])}, response carried ${[...ids][0]}`,
      );
    }
  });
  return problems;
}

/** Keeps the spans of the concurrency phase by their tag (max_tokens), nothing else. */
class TaggedSpans implements SpanExporter {
  readonly byTag = new Map<number, ReadableSpan>();
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) this.byTag.set(span.attributes['gen_ai.request.max_tokens'] as number, span);
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

// ------------------------------------------------------------------ main

interface Verdict {
  name: string;
  figure: string;
  target: string;
  ok: boolean;
}

async function main(): Promise<void> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const diagErrors: string[] = [];
  diag.setLogger(
    {
      error: (message: string) => diagErrors.push(message),
      warn: () => {},
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.ERROR,
  );
  const gateway = await startSimulatedGatewayProcess();
  process.once('exit', () => gateway.child.kill('SIGTERM'));
  gatewayUrl = gateway.url;
  const verdicts: Verdict[] = [];
  const instrumentation = new LlmGatewayInstrumentation({
    enabled: false,
    hosts: [{ host: new URL(gateway.url).host }],
  });
  console.log(
    `soak: node ${process.version}, gateway ${gateway.url} (child process), ${CONCURRENCY} concurrent workers`,
  );

  // 1. steady
  const lifecycle = new Lifecycle();
  const spanExporter = new DiscardingSpanExporter();
  const steady = pipeline(lifecycle, {
    spans: spanExporter,
    metrics: new DiscardingMetricExporter(),
    logs: new DiscardingLogExporter(),
  });
  use(instrumentation, steady);
  instrumentation.enable();
  const problems: string[] = [];
  await runCalls(Math.min(5000, CALLS), problems); // warm-up: JIT, pools, SDK queues
  await untilEnded(lifecycle);
  const heapStart = await heapAfterGc();
  const steadyStartedBefore = lifecycle.started;
  const steadyRate = await runCalls(CALLS, problems);
  await untilEnded(lifecycle);
  await sleep(1500); // a metric export and a batch flush happen in the measured state
  const heapEnd = await heapAfterGc();
  const steadyGrowth = (heapEnd - heapStart) / MB;
  const steadyCalls = lifecycle.started - steadyStartedBefore;
  console.log(
    `\n1. steady: ${steadyCalls} calls at ${steadyRate.toFixed(0)} calls/s; heap after GC ${(heapStart / MB).toFixed(2)} MB -> ${(heapEnd / MB).toFixed(2)} MB ` +
      `(${steadyGrowth >= 0 ? '+' : ''}${steadyGrowth.toFixed(2)} MB, ${(((heapEnd - heapStart) / Math.max(1, steadyCalls)) * 1).toFixed(1)} B/call); ` +
      `spans started ${lifecycle.started}, ended ${lifecycle.ended}, ended twice ${lifecycle.endedTwice}; problems ${problems.length}`,
  );
  for (const p of problems) console.log(`   ${p}`);
  verdicts.push({
    name: 'heap growth over the steady calls',
    figure: `${steadyGrowth.toFixed(2)} MB over ${steadyCalls} calls`,
    target: `< ${HEAP_GROWTH_TARGET_MB} MB`,
    ok: steadyGrowth < HEAP_GROWTH_TARGET_MB,
  });
  verdicts.push({
    name: 'steady calls all succeed, every span ends once',
    figure: `${problems.length} problems; started ${lifecycle.started}, ended ${lifecycle.ended}, twice ${lifecycle.endedTwice}`,
    target: '0 problems; started == ended',
    ok: problems.length === 0 && lifecycle.started === lifecycle.ended && lifecycle.endedTwice === 0,
  });
  await shutdown(steady);

  // 2. concurrency
  const concurrencyLifecycle = new Lifecycle();
  const tagged = new TaggedSpans();
  const concurrency: Pipeline = {
    tracerProvider: new TracerProvider({
      spanProcessors: [
        new BatchSpanProcessor({ exporter: tagged, maxQueueSize: 4 * STREAMS, scheduledDelayMillis: 50 }),
        concurrencyLifecycle,
      ],
    }),
    meterProvider: new MeterProvider(),
    loggerProvider: new LoggerProvider(),
  };
  use(instrumentation, concurrency);
  for (const client of ['fetch', 'axios'] as const) {
    const startedAt = performance.now();
    const before = concurrencyLifecycle.started;
    const crossTalk = await concurrentStreams(client, concurrencyLifecycle, concurrency.tracerProvider, tagged.byTag);
    const calls = concurrencyLifecycle.started - before;
    console.log(
      `\n2. concurrency (${client}): ${STREAMS} streams open at once, done in ${((performance.now() - startedAt) / 1000).toFixed(2)} s; ` +
        `spans started ${calls}, ended ${concurrencyLifecycle.ended - before}; cross-talk or missing spans: ${crossTalk.length}`,
    );
    for (const p of crossTalk.slice(0, 10)) console.log(`   ${p}`);
    verdicts.push({
      name: `${STREAMS} concurrent ${client} streams: own request_id on every span, all ended`,
      figure: `${crossTalk.length} mismatches; started ${calls}, ended ${concurrencyLifecycle.ended - before}`,
      target: '0 mismatches; started == ended',
      ok:
        crossTalk.length === 0 &&
        calls === STREAMS &&
        concurrencyLifecycle.ended === concurrencyLifecycle.started &&
        concurrencyLifecycle.endedTwice === 0,
    });
  }
  await shutdown(concurrency);

  // 3. exporter down, against the same OTLP/HTTP export to an endpoint that is up (OTLP
  // serialises every batch, up or down: the discarding exporters of phase 1 do not).
  const upEndpoint = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => upEndpoint.listen(0, '127.0.0.1', resolve));
  const upUrl = `http://127.0.0.1:${(upEndpoint.address() as net.AddressInfo).port}`;
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadUrl = `http://127.0.0.1:${(closed.address() as net.AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));

  const otlpPhase = async (endpoint: string, label: string) => {
    const phaseLifecycle = new Lifecycle();
    const spans = new CountingSpanExporter(
      new OTLPTraceExporter({ url: `${endpoint}/v1/traces`, timeoutMillis: 2000 }),
    );
    const otlp = pipeline(
      phaseLifecycle,
      {
        spans,
        metrics: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics`, timeoutMillis: 900 }),
        logs: new OTLPLogExporter({ url: `${endpoint}/v1/logs`, timeoutMillis: 2000 }),
      },
      2000,
    );
    use(instrumentation, otlp);
    const phaseProblems: string[] = [];
    // With the endpoint down the SDK queues fill up first (2,048 spans and as many log records
    // wait); from then on the heap must stay flat, measured after GC after each quarter.
    await runCalls(Math.min(5000, DOWN_CALLS), phaseProblems);
    const heaps = [await heapAfterGc()];
    let seconds = 0;
    for (let quarter = 0; quarter < 4; quarter++) {
      const rate = await runCalls(Math.ceil(DOWN_CALLS / 4), phaseProblems);
      seconds += Math.ceil(DOWN_CALLS / 4) / rate;
      heaps.push(await heapAfterGc());
    }
    await untilEnded(phaseLifecycle);
    const rate = DOWN_CALLS / seconds;
    const growth = (heaps[heaps.length - 1] - heaps[0]) / MB;
    const aboveStart = (Math.max(...heaps) - heaps[0]) / MB;
    console.log(
      `\n3. OTLP endpoint ${label} (${endpoint}): ${DOWN_CALLS} calls at ${rate.toFixed(0)} calls/s; trace exports failed ${spans.failed}, succeeded ${spans.succeeded}; ` +
        `heap after GC once the queues settled, then after each quarter: ${heaps.map((h) => (h / MB).toFixed(2)).join(' -> ')} MB ` +
        `(growth ${growth >= 0 ? '+' : ''}${growth.toFixed(2)} MB, peak ${aboveStart.toFixed(2)} MB above the first); ` +
        `spans started ${phaseLifecycle.started}, ended ${phaseLifecycle.ended}; problems ${phaseProblems.length}`,
    );
    for (const p of phaseProblems) console.log(`   ${p}`);
    return { otlp, rate, growth, aboveStart, spans, lifecycle: phaseLifecycle, problems: phaseProblems };
  };
  const up = await otlpPhase(upUrl, 'up');
  await shutdown(up.otlp);
  const down = await otlpPhase(deadUrl, 'down, refusing connections');
  const downOk =
    down.problems.length === 0 && down.spans.succeeded === 0 && down.lifecycle.started === down.lifecycle.ended;
  verdicts.push({
    name: 'exporter down: calls all succeed, as fast as with it up',
    figure: `${down.problems.length} problems; ${(down.rate / up.rate).toFixed(2)}x the rate with the endpoint up; ${down.spans.succeeded} exports got through`,
    target: '0 problems; >= 0.9x; 0 exports through',
    ok: downOk && up.problems.length === 0 && down.rate / up.rate >= 0.9,
  });
  verdicts.push({
    name: 'exporter down: heap bounded',
    figure: `${down.growth.toFixed(2)} MB growth, peak ${down.aboveStart.toFixed(2)} MB above the start, over ${DOWN_CALLS} calls`,
    target: `< ${HEAP_GROWTH_TARGET_MB} MB`,
    ok: down.growth < HEAP_GROWTH_TARGET_MB && down.aboveStart < HEAP_GROWTH_TARGET_MB,
  });
  instrumentation.disable();
  await shutdown(down.otlp);
  upEndpoint.close();
  verdicts.push({
    name: 'no internal error reported by the instrumentation',
    figure: `${diagErrors.filter((m) => m.includes('llm-gateway')).length} diag errors`,
    target: '0',
    ok: !diagErrors.some((m) => m.includes('llm-gateway')),
  });

  gateway.child.kill('SIGTERM');
  agent.destroy();
  console.log('\nresult');
  const width = Math.max(...verdicts.map((v) => v.name.length));
  for (const v of verdicts)
    console.log(`  ${v.ok ? 'PASS' : 'FAIL'}  ${v.name.padEnd(width)}  ${v.figure}  (target ${v.target})`);
  const failed = verdicts.filter((v) => !v.ok).length;
  console.log(failed === 0 ? '\nsoak: every target met' : `\nsoak: ${failed} target(s) missed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
