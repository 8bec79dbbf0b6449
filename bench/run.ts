// npm run bench: the same loopback workloads uninstrumented and instrumented, interleaved in
// one run, reported as ratios (instrumented / uninstrumented). Absolute times on a shared
// machine are noise; the ratio of interleaved rounds is what the numbers are for.
//
// The simulated gateway runs in a child process so the client's event loop measures only
// the client (the machine has 2 cores: one serves, one calls).
import { once } from 'node:events';
import { createServer } from 'node:http';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
// The built package, as users run it (the TypeScript sources under tsx run slower).
import { LlmGatewayInstrumentation } from '../dist/cjs/index.js';
import { startSimulatedGatewayProcess } from '../examples/simulated-gateway/process';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const CALLS_PER_ROUND = Number(process.env.BENCH_CALLS ?? 200);
const STREAMS_PER_ROUND = Number(process.env.BENCH_STREAMS ?? 10);
const STREAM_BYTES = 1_000_000;

/** Exports nowhere, as cheaply as possible: what is measured is the instrumentation. */
class DiscardingExporter implements SpanExporter {
  spans = 0;
  export(spans: ReadableSpan[], done: (r: { code: number }) => void): void {
    this.spans += spans.length;
    done({ code: 0 });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
class IdleReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}


/** A plain loopback server that is not a gateway host: the cost of the host check alone. */
async function startOtherServer(): Promise<{ url: string; close(): void }> {
  const body = JSON.stringify({ ok: true, data: 'x'.repeat(512) });
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/other`, close: () => server.close() };
}

const chatBody = JSON.stringify({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'What is the capital of France?' }], max_tokens: 64 });
const streamBody = JSON.stringify({ model: 'gpt-5', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'a long answer' }], x_sim: { replyBytes: STREAM_BYTES } });
const headers = { authorization: 'bench-key', 'content-type': 'application/json' };

async function sequentialCalls(url: string, n: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const res = await fetch(url, { method: 'POST', headers, body: chatBody });
    await res.json();
  }
  return (performance.now() - start) / n;
}

async function streams(url: string, n: number): Promise<number> {
  let bytes = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const res = await fetch(url, { method: 'POST', headers, body: streamBody });
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
  }
  return bytes / ((performance.now() - start) / 1000) / 1e6; // MB/s
}

async function otherCalls(url: string, n: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < n; i++) await (await fetch(url)).text();
  return (performance.now() - start) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const gateway = await startSimulatedGatewayProcess();
  const other = await startOtherServer();
  const exporter = new DiscardingExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] });
  const meterProvider = new MeterProvider({ readers: [new IdleReader()] });
  const instrumentation = new LlmGatewayInstrumentation({ enabled: false, hosts: [{ host: new URL(gateway.url).host }] });
  instrumentation.setTracerProvider(tracerProvider);
  instrumentation.setMeterProvider(meterProvider);

  const chatUrl = `${gateway.url}/v1/chat/completions`;
  type Workload = { name: string; unit: string; higherIsBetter: boolean; run: () => Promise<number> };
  const workloads: Workload[] = [
    { name: 'non-streamed call (sequential)', unit: 'ms/call', higherIsBetter: false, run: () => sequentialCalls(chatUrl, CALLS_PER_ROUND) },
    { name: '1 MB SSE stream', unit: 'MB/s', higherIsBetter: true, run: () => streams(chatUrl, STREAMS_PER_ROUND) },
    { name: 'non-gateway request', unit: 'ms/call', higherIsBetter: false, run: () => otherCalls(other.url, CALLS_PER_ROUND) },
  ];

  console.log(`node ${process.version}; ${ROUNDS} interleaved rounds; ${CALLS_PER_ROUND} calls or ${STREAMS_PER_ROUND} streams per round\n`);
  const rows: string[][] = [['workload', 'uninstrumented', 'instrumented', 'overhead (time ratio)']];
  for (const w of workloads) {
    // Warm-up both paths (JIT, connection pool).
    await w.run();
    instrumentation.enable();
    await w.run();
    instrumentation.disable();
    const plain: number[] = [];
    const observed: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first, so drift in machine load does not favour one side.
      const order = r % 2 === 0 ? [false, true] : [true, false];
      const result: Record<string, number> = {};
      for (const instrumented of order) {
        if (instrumented) instrumentation.enable();
        result[String(instrumented)] = await w.run();
        if (instrumented) instrumentation.disable();
      }
      plain.push(result.false!);
      observed.push(result.true!);
      // As a time ratio: > 1 means the instrumented run took longer.
      ratios.push(w.higherIsBetter ? result.false! / result.true! : result.true! / result.false!);
    }
    rows.push([w.name, `${median(plain).toFixed(3)} ${w.unit}`, `${median(observed).toFixed(3)} ${w.unit}`, `${median(ratios).toFixed(3)}x`]);
  }
  await tracerProvider.forceFlush();
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log(`\nspans exported: ${exporter.spans} (median of per-round ratios; targets: call <= 1.10x, stream <= 1.05x)`);
  other.close();
  gateway.child.kill('SIGTERM');
  await tracerProvider.shutdown();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
