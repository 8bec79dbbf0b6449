// npm run bench:peers: the same loopback workloads with no instrumentation, with this one and
// with its peers, reported as ratios to the uninstrumented runs of the same round.
//
//   none         no instrumentation
//   this         LlmGatewayInstrumentation (the built package, dist/)
//   undici       @opentelemetry/instrumentation-undici alone (an HTTP span per fetch)
//   openai       @opentelemetry/instrumentation-openai around the openai SDK (the closest peer)
//   this+undici  both, as a NodeSDK with auto-instrumentations runs them
//
// Workloads: non-streamed chat calls and 1 MB SSE streams, through fetch and through the
// openai SDK (which calls fetch). The simulated gateway runs in a process of its own.
//
// Time: all configurations live in one process and take turns in short blocks, in an order
// that rotates every round (each instrumentation is enabled for its block only; disabled, each
// leaves nothing in the path). Per block: client CPU time (process.cpuUsage, robust on a shared
// machine) and wall time per call, MB/s per stream. Reported: medians of the per-round ratios
// to the uninstrumented block of the same round, and the CPU overhead in µs per call.
// Memory needs a process per configuration, each running the workloads alone
// (BENCH_MEMORY_RUNS times): peak RSS, peak heap (sampled), and the heap retained after GC.
//
// Every instrumented run has the same SDK: batch span processor, a metric reader collecting
// every second and a batch log record processor, all exporting nowhere.
// Knobs: BENCH_ROUNDS (15), BENCH_CALLS (200 per block), BENCH_STREAMS (20 per block),
// BENCH_MEMORY_RUNS (3), BENCH_BREAKDOWN=1 (adds variants of this one to explain its cost).
import { spawn } from 'node:child_process';
import { getHeapStatistics } from 'node:v8';
import { startSimulatedGatewayProcess } from '../examples/simulated-gateway/process';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const CALLS = Number(process.env.BENCH_CALLS ?? 200);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 20);
const MEMORY_RUNS = Number(process.env.BENCH_MEMORY_RUNS ?? 3);
const BREAKDOWN = process.env.BENCH_BREAKDOWN === '1';
const STREAM_BYTES = 1_000_000;

type Config = 'none' | 'this' | 'undici' | 'openai' | 'this+undici' | 'this, no call records' | 'this, no metrics' | 'this, no SDK';
const CONFIGS: readonly Config[] = ['none', 'this', 'undici', 'openai', 'this+undici'];
// Variants of this one that remove one piece of its work at a time (BENCH_BREAKDOWN=1).
const BREAKDOWN_CONFIGS: readonly Config[] = ['this, no call records', 'this, no metrics', 'this, no SDK'];
type WorkloadName = 'fetch call' | 'fetch stream' | 'openai call' | 'openai stream';
const WORKLOADS: readonly WorkloadName[] = ['fetch call', 'fetch stream', 'openai call', 'openai stream'];

/** What one block of a workload measured. */
interface Measurement {
  /** Wall time per call (or per stream), ms. */
  wallMs: number;
  /** Client CPU time (user + system) per call (or per stream), µs. */
  cpuUs: number;
  /** Streams only: MB/s of wall time. */
  mbPerSecond?: number;
  /** Spans the block produced, to show the instrumentation was at work. */
  spans: number;
}

// ================================================================== the set-up every process shares

interface Bench {
  workloads: Record<WorkloadName, { count: number; bytesEach?: number; once: () => Promise<number> }>;
  /** Turns a configuration on (and returns the function that turns it off again). */
  enable(config: Config): () => void;
  flush(): Promise<void>;
  spans(): number;
}

async function setUp(gatewayUrl: string): Promise<Bench> {
  const { context } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { ExportResultCode } = await import('@opentelemetry/core');
  const { BatchLogRecordProcessor, LoggerProvider } = await import('@opentelemetry/sdk-logs');
  const { MeterProvider, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
  const { BatchSpanProcessor, TracerProvider } = await import('@opentelemetry/sdk-trace');
  const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
  const { OpenAIInstrumentation } = await import('@opentelemetry/instrumentation-openai');
  // The built package, as users run it (the TypeScript sources under tsx run slower).
  const { LlmGatewayInstrumentation } = await import('../dist/cjs/index.js');
  const openaiModule = await import('openai');
  const OpenAI = openaiModule.default;

  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  let spans = 0;
  const done = { code: ExportResultCode.SUCCESS };
  const tracerProvider = new TracerProvider({
    spanProcessors: [new BatchSpanProcessor({ exporter: { export: (s, cb) => ((spans += s.length), cb(done)), shutdown: async () => {} } })],
  });
  const meterProvider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: { export: (_m, cb) => cb(done), forceFlush: async () => {}, shutdown: async () => {} }, exportIntervalMillis: 1000 })],
  });
  const loggerProvider = new LoggerProvider({
    processors: [new BatchLogRecordProcessor({ exporter: { export: (_r, cb) => cb(done), forceFlush: async () => {}, shutdown: async () => {} } })],
  });
  const withProviders = <T extends { setTracerProvider(p: unknown): void; setMeterProvider(p: unknown): void; setLoggerProvider?(p: unknown): void }>(i: T): T => {
    i.setTracerProvider(tracerProvider);
    i.setMeterProvider(meterProvider);
    i.setLoggerProvider?.(loggerProvider);
    return i;
  };

  const host = new URL(gatewayUrl).host;
  const ours = withProviders(new LlmGatewayInstrumentation({ enabled: false, hosts: [{ host }] }));
  const oursWithoutRecords = withProviders(new LlmGatewayInstrumentation({ enabled: false, hosts: [{ host }], emitCallRecords: false }));
  // A tracer and a logger provider, and the API's no-op meter.
  const oursWithoutMetrics = new LlmGatewayInstrumentation({ enabled: false, hosts: [{ host }] });
  oursWithoutMetrics.setTracerProvider(tracerProvider);
  oursWithoutMetrics.setLoggerProvider(loggerProvider);
  // No tracer, meter or logger provider set: the API's no-op ones. What is left is our own code.
  const oursWithoutSdk = new LlmGatewayInstrumentation({ enabled: false, hosts: [{ host }] });
  // Constructed enabled, then disabled: instrumentation-undici reads `config.enabled` on every
  // request, so one constructed disabled records nothing even once enabled.
  const undici = withProviders(new UndiciInstrumentation());
  undici.disable();
  const openaiPeer = withProviders(new OpenAIInstrumentation());
  openaiPeer.disable();
  // 0.22 declares openai >=4.19 <7; the SDK here is 7.x, whose Chat.Completions.create it
  // patches as it does 4-6 (checked: a span, metrics and events for every call and stream of
  // these workloads). Its require hook skips a version outside its range, so its own patch
  // and unpatch functions are applied to the loaded module.
  const [openaiDefinition] = (openaiPeer as unknown as { init(): { patch(exports: unknown): unknown; unpatch(exports: unknown): void }[] }).init();

  const headers = { authorization: 'bench-key', 'content-type': 'application/json' };
  const chatBody = { model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'What is the capital of France?' }], max_tokens: 64 };
  const streamBody = { ...chatBody, model: 'gpt-5', stream: true, stream_options: { include_usage: true }, x_sim: { replyBytes: STREAM_BYTES } };
  const url = `${gatewayUrl}/v1/chat/completions`;
  // Calls the global fetch at call time, as the SDK does when created after the instrumentation.
  const client = new OpenAI({
    apiKey: 'bench-key',
    baseURL: `${gatewayUrl}/v1`,
    maxRetries: 0,
    organization: null,
    project: null,
    fetch: (input, init) => globalThis.fetch(input, init),
  });

  return {
    spans: () => spans,
    // Between blocks, outside the timed part: the batches a block made are exported in it.
    flush: async () => {
      await tracerProvider.forceFlush();
      await loggerProvider.forceFlush();
    },
    enable(config) {
      const off: (() => void)[] = [];
      const on = (i: { enable(): void; disable(): void }) => {
        i.enable();
        off.push(() => i.disable());
      };
      if (config === 'this' || config === 'this+undici') on(ours);
      if (config === 'this, no call records') on(oursWithoutRecords);
      if (config === 'this, no metrics') on(oursWithoutMetrics);
      if (config === 'this, no SDK') on(oursWithoutSdk);
      if (config === 'undici' || config === 'this+undici') on(undici);
      if (config === 'openai') {
        openaiPeer.enable();
        openaiDefinition!.patch(openaiModule);
        off.push(() => {
          openaiDefinition!.unpatch(openaiModule);
          openaiPeer.disable();
        });
      }
      return () => off.forEach((f) => f());
    },
    workloads: {
      'fetch call': {
        count: CALLS,
        once: async () => {
          const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(chatBody) });
          await response.json();
          return 0;
        },
      },
      'fetch stream': {
        count: STREAMS,
        bytesEach: STREAM_BYTES,
        once: async () => {
          const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(streamBody) });
          let bytes = 0;
          for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
          return bytes;
        },
      },
      'openai call': {
        count: CALLS,
        once: async () => {
          await client.chat.completions.create(chatBody as never);
          return 0;
        },
      },
      'openai stream': {
        count: STREAMS,
        bytesEach: STREAM_BYTES,
        once: async () => {
          const stream = await client.chat.completions.create(streamBody as never);
          let chars = 0;
          for await (const chunk of stream as unknown as AsyncIterable<{ choices: { delta?: { content?: string } }[] }>) {
            chars += chunk.choices[0]?.delta?.content?.length ?? 0;
          }
          return chars > 0 ? STREAM_BYTES : 0;
        },
      },
    },
  };
}

async function measure(bench: Bench, name: WorkloadName): Promise<Measurement> {
  const workload = bench.workloads[name];
  await bench.flush();
  const spansBefore = bench.spans();
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  let bytes = 0;
  for (let i = 0; i < workload.count; i++) bytes += await workload.once();
  const wallMs = performance.now() - startedAt;
  const cpu = process.cpuUsage(cpuBefore);
  await bench.flush();
  if (workload.bytesEach !== undefined && bytes < workload.bytesEach * workload.count * 0.9) throw new Error(`${name}: read ${bytes} bytes`);
  return {
    wallMs: wallMs / workload.count,
    cpuUs: (cpu.user + cpu.system) / workload.count,
    mbPerSecond: workload.bytesEach === undefined ? undefined : (workload.bytesEach * workload.count) / 1e6 / (wallMs / 1000),
    spans: bench.spans() - spansBefore,
  };
}

// ================================================================== memory worker (one configuration, one process)

async function memoryWorker(config: Config, gatewayUrl: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const heapAfterGc = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return getHeapStatistics().used_heap_size;
  };
  const bench = await setUp(gatewayUrl);
  bench.enable(config);
  // A first pass loads and compiles everything; the heap after it is the baseline.
  for (const name of WORKLOADS) await measure(bench, name);
  const baseline = await heapAfterGc();
  let peakHeap = 0;
  // v8's heap statistics, not process.memoryUsage(): that one reads /proc and costs more.
  const sampler = setInterval(() => (peakHeap = Math.max(peakHeap, getHeapStatistics().used_heap_size)), 20);
  for (let repeat = 0; repeat < 3; repeat++) for (const name of WORKLOADS) await measure(bench, name);
  clearInterval(sampler);
  const retained = (await heapAfterGc()) - baseline;
  const MB = 1024 * 1024;
  const report: MemoryReport = { peakRssMb: process.resourceUsage().maxRSS / 1024, peakHeapMb: peakHeap / MB, retainedMb: retained / MB };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}

interface MemoryReport {
  /** Peak resident set size of the whole process. */
  peakRssMb: number;
  /** The highest heap use sampled (every 20 ms) while the workloads ran. */
  peakHeapMb: number;
  /** Heap after GC at the end minus heap after GC before the measured workloads. */
  retainedMb: number;
}

// ================================================================== parent


async function runMemoryWorker(config: Config, gatewayUrl: string): Promise<MemoryReport> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', __filename, '--memory-worker', config, gatewayUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  for await (const chunk of child.stdout!) output += chunk;
  try {
    return JSON.parse(output.trim().split('\n').pop() ?? '') as MemoryReport;
  } catch {
    throw new Error(`memory worker ${config} printed no report: ${output}`);
  }
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The configurations a workload is compared across (the openai instrumentation only sees the SDK). */
function configsFor(workload: WorkloadName, all: readonly Config[]): Config[] {
  return workload.startsWith('openai') ? [...all] : all.filter((c) => c !== 'openai');
}

async function main(): Promise<void> {
  const gateway = await startSimulatedGatewayProcess();
  process.once('exit', () => gateway.child.kill('SIGTERM'));
  const configs = BREAKDOWN ? [...CONFIGS, ...BREAKDOWN_CONFIGS] : CONFIGS;
  console.log(
    `node ${process.version}; ${ROUNDS} interleaved rounds in one process; blocks of ${CALLS} calls or ${STREAMS} streams of ${STREAM_BYTES / 1e6} MB; ` +
      `peak memory from ${MEMORY_RUNS} process(es) per configuration\n`,
  );
  const bench = await setUp(gateway.url);
  const rows: string[][] = [['workload', 'configuration', 'CPU/call', 'CPU ratio (overhead)', 'wall/call', 'wall ratio', 'MB/s', 'throughput ratio', 'spans/block']];
  const summary = new Map<string, { cpuRatio: number; wallRatio: number; cpuOverheadUs: number; throughputRatio?: number }>();
  for (const name of WORKLOADS) {
    const compared = configsFor(name, configs);
    // Warm-up of every path (JIT, connection pool).
    for (const config of compared) {
      const off = bench.enable(config);
      await measure(bench, name);
      off();
    }
    const byConfig = new Map<Config, Measurement[]>(compared.map((c) => [c, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order, so that drift in machine load does not favour one configuration.
      const order = compared.map((_, i) => compared[(i + round) % compared.length]!);
      for (const config of order) {
        const off = bench.enable(config);
        byConfig.get(config)!.push(await measure(bench, name));
        off();
      }
    }
    const base = byConfig.get('none')!;
    for (const config of compared) {
      const m = byConfig.get(config)!;
      const cpuRatio = median(m.map((x, i) => x.cpuUs / base[i]!.cpuUs));
      const wallRatio = median(m.map((x, i) => x.wallMs / base[i]!.wallMs));
      const cpuOverheadUs = median(m.map((x, i) => x.cpuUs - base[i]!.cpuUs));
      // Throughput as a ratio of MB/s: >= 1 means at least as fast as uninstrumented.
      const throughputRatio = m[0]!.mbPerSecond === undefined ? undefined : median(m.map((x, i) => x.mbPerSecond! / base[i]!.mbPerSecond!));
      summary.set(`${name}/${config}`, { cpuRatio, wallRatio, cpuOverheadUs, throughputRatio });
      const unit = name.endsWith('stream') ? 'stream' : 'call';
      rows.push([
        name,
        config,
        `${median(m.map((x) => x.cpuUs)).toFixed(0)} µs/${unit}`,
        config === 'none' ? '' : `${cpuRatio.toFixed(3)}x (${cpuOverheadUs >= 0 ? '+' : ''}${cpuOverheadUs.toFixed(0)} µs)`,
        `${median(m.map((x) => x.wallMs)).toFixed(3)} ms`,
        config === 'none' ? '' : `${wallRatio.toFixed(3)}x`,
        m[0]!.mbPerSecond === undefined ? '' : median(m.map((x) => x.mbPerSecond!)).toFixed(1),
        throughputRatio === undefined || config === 'none' ? '' : `${throughputRatio.toFixed(3)}x`,
        String(median(m.map((x) => x.spans))),
      ]);
    }
    process.stderr.write(`${name}: done\n`);
  }
  print(rows);

  const memoryRows: string[][] = [['configuration', 'peak RSS', 'vs none', 'peak heap', 'vs none', 'retained after GC']];
  const memory = new Map<Config, { rss: number; heap: number; retained: number }>();
  for (const config of CONFIGS) {
    const runs: MemoryReport[] = [];
    for (let i = 0; i < MEMORY_RUNS; i++) runs.push(await runMemoryWorker(config, gateway.url));
    memory.set(config, { rss: median(runs.map((r) => r.peakRssMb)), heap: median(runs.map((r) => r.peakHeapMb)), retained: median(runs.map((r) => r.retainedMb)) });
  }
  for (const config of CONFIGS) {
    const { rss, heap, retained } = memory.get(config)!;
    const none = memory.get('none')!;
    const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} MB`;
    const delta = (x: number) => (config === 'none' ? '' : signed(x));
    memoryRows.push([config, `${rss.toFixed(1)} MB`, delta(rss - none.rss), `${heap.toFixed(1)} MB`, delta(heap - none.heap), signed(retained)]);
  }
  console.log('');
  print(memoryRows);

  const get = (key: string) => summary.get(key)!;
  const targets = [
    { name: 'non-streamed fetch call, CPU ratio', value: get('fetch call/this').cpuRatio, ok: get('fetch call/this').cpuRatio <= 1.1, target: '<= 1.10x' },
    { name: 'non-streamed fetch call, wall ratio', value: get('fetch call/this').wallRatio, ok: get('fetch call/this').wallRatio <= 1.1, target: '<= 1.10x' },
    { name: 'fetch stream throughput ratio', value: get('fetch stream/this').throughputRatio!, ok: get('fetch stream/this').throughputRatio! >= 0.97, target: '>= 0.97x' },
    { name: 'openai SDK stream throughput ratio', value: get('openai stream/this').throughputRatio!, ok: get('openai stream/this').throughputRatio! >= 0.97, target: '>= 0.97x' },
    {
      name: 'openai SDK call, CPU overhead: this vs instrumentation-openai',
      value: get('openai call/this').cpuOverheadUs,
      ok: get('openai call/this').cpuOverheadUs < get('openai call/openai').cpuOverheadUs,
      target: `< ${get('openai call/openai').cpuOverheadUs.toFixed(0)} µs`,
    },
    {
      name: 'openai SDK stream, CPU overhead: this vs instrumentation-openai',
      value: get('openai stream/this').cpuOverheadUs,
      ok: get('openai stream/this').cpuOverheadUs < get('openai stream/openai').cpuOverheadUs,
      target: `< ${get('openai stream/openai').cpuOverheadUs.toFixed(0)} µs`,
    },
  ];
  console.log('\ntargets (medians of per-round ratios to the uninstrumented block of the same round)');
  for (const t of targets) console.log(`  ${t.ok ? 'MET   ' : 'MISSED'}  ${t.name}: ${t.value.toFixed(3)} (target ${t.target})`);
  process.exit(0);
}

function print(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

/**
 * `node --cpu-prof --import tsx bench/peers.ts --profile <configuration> <workload> [count]`:
 * one configuration, one workload, long enough for a CPU profile (BENCHMARKS.md, "Profile").
 */
async function profile(config: Config, name: WorkloadName, count: number): Promise<void> {
  const gateway = await startSimulatedGatewayProcess();
  const bench = await setUp(gateway.url);
  bench.enable(config);
  const workload = bench.workloads[name];
  for (let i = 0; i < Math.ceil(count / 5); i++) await workload.once();
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < count; i++) await workload.once();
  const cpu = process.cpuUsage(cpuBefore);
  console.log(`${config}, ${name}: ${((cpu.user + cpu.system) / count).toFixed(0)} µs CPU per ${name.endsWith('stream') ? 'stream' : 'call'} over ${count}`);
  gateway.child.kill('SIGTERM');
  process.exit(0);
}

const workerIndex = process.argv.indexOf('--memory-worker');
const profileIndex = process.argv.indexOf('--profile');
if (profileIndex !== -1) {
  const [config, name, count] = process.argv.slice(profileIndex + 1);
  profile(config as Config, name as WorkloadName, Number(count ?? 20_000)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else if (workerIndex !== -1) {
  memoryWorker(process.argv[workerIndex + 1] as Config, process.argv[workerIndex + 2]!).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
