// One measuring process of `npm run bench` (bench/run.ts starts it; never run alone). It
// starts its own fast gateway (bench/server.ts) in a child process, installs the telemetry of
// a real app, and runs its group of comparisons, each bare (A) against one variant (B):
//
//   main       fetch and openai-SDK workloads against this package, instrumentation-undici,
//              the floor and the wrapper-only references, and A vs A control rows
//   openai     the openai SDK 6 workloads against this package and instrumentation-openai,
//              which must be enabled before the SDK is loaded (its require hook patches it)
//   selfcheck  A vs A on every workload of `main`
//
// `--profile <variant> <workload> [count]` runs one variant on one workload for a CPU profile.
// TLS is trusted through NODE_EXTRA_CA_CERTS, set by run.ts: verification stays on.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
// The built package, as users run it (`npm run bench` builds it first).
import { LlmGatewayInstrumentation } from '../dist/cjs/index.js';
import { block, compare, type Bench, type Comparison, type ServerClock } from './measure';
import { callsPerSide, readOptions, streamsPerSide, type Options } from './options';
import { buildPayloads, type Payloads } from './payloads';
import type { ServerMessage, ServerPorts } from './server';
import { installTelemetry, type Telemetry } from './telemetry';
import {
  floorVariant,
  channelsVariant,
  instrumentationVariant,
  selfVariant,
  together,
  wrapperVariant,
  type Toggle,
  type Variant,
} from './variants';
import {
  fetchCall,
  fetchStream,
  openaiCall,
  openaiStream,
  type ChatClient,
  type Transport,
  type Workload,
} from './workloads';

export type Group = 'main' | 'openai' | 'selfcheck';

/** What a worker writes for run.ts. */
export interface WorkerResult {
  group: Group;
  node: string;
  /** Which package each variant is, with its version. */
  variants: Record<string, string>;
  comparisons: Comparison[];
  /** Totals of the whole process, a check that telemetry was flowing at all. */
  exported: { spans: number; logRecords: number; metricPoints: number };
  payload: { chatJsonBytes: number; sseBytes: number; sseEvents: number; sseWrites: number };
}

const requireHere = createRequire(__filename);
const root = join(__dirname, '..');
const readVersion = (dir: string) =>
  (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
const versionOf = (pkg: string) => readVersion(join(root, 'node_modules', pkg));

// ================================================================== the fast gateway

async function startServer(options: Options): Promise<{ ports: ServerPorts; clock: ServerClock; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'server.ts')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: {
      ...process.env,
      BENCH_STREAM_BYTES: String(options.streamBytes),
      BENCH_SSE_WRITE_BYTES: String(options.sseWriteBytes),
    },
  });
  const waiting: ((m: { cpu: NodeJS.CpuUsage; at: number; runQueueMs: number }) => void)[] = [];
  const ports = await new Promise<ServerPorts>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    child.on('message', (message: ServerMessage) => {
      if ('ready' in message) resolve(message.ready);
      else waiting.shift()?.(message);
    });
  });
  const clock: ServerClock = {
    sample: () =>
      new Promise((resolve) => {
        waiting.push(({ cpu, at, runQueueMs }) => resolve({ cpuUs: cpu.user + cpu.system, atMs: at, runQueueMs }));
        child.send('cpu');
      }),
  };
  return { ports, clock, child };
}

// ================================================================== what runs

interface Setup {
  bench: Bench;
  workloads: Map<string, Workload>;
  variants: Map<string, Variant>;
  /** [workload, variant] in the order they run. */
  plan: [string, string][];
  payloads: Payloads;
  stop(): void;
}

/** Where the workloads go: the fast server's gateway and non-gateway origins. */
interface Targets {
  transports: Transport[];
  gateway: (t: Transport) => string;
  other: (t: Transport) => string;
  /** The real gateway is HTTPS: the SDK workloads use TLS when there is TLS. */
  sdkTransport: Transport;
}

/** What a group adds to the set-up every group shares. */
interface GroupParts {
  telemetry: Telemetry;
  ours: Toggle;
  targets: Targets;
  payloads: Payloads;
  addVariant: (variant: Variant) => void;
  addWorkload: (workload: Workload, variantNames: string[]) => void;
}

// Resolves globalThis.fetch at call time: whatever wraps it (or not) when the call is made.
const callTimeFetch = (input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init);

async function setUp(group: Group, options: Options): Promise<Setup> {
  const payloads = buildPayloads(options.streamBytes, options.sseWriteBytes);
  const server = await startServer(options);
  const { ports } = server;
  if (options.tls && ports.gatewayTls === undefined)
    throw new Error('no TLS certificate for the bench server: start the bench with npm run bench (or BENCH_TLS=0)');
  const origin = (t: Transport, port: number | undefined) => `${t === 'tls' ? 'https' : 'http'}://127.0.0.1:${port}`;
  const targets: Targets = {
    transports: options.tls ? ['http', 'tls'] : ['http'],
    gateway: (t) => origin(t, t === 'tls' ? ports.gatewayTls : ports.gatewayHttp),
    other: (t) => origin(t, t === 'tls' ? ports.otherTls : ports.otherHttp),
    sdkTransport: options.tls ? 'tls' : 'http',
  };
  if (options.tls) await checkTlsIsVerified(targets.gateway('tls'));
  const telemetry = installTelemetry();
  const bareFetch = globalThis.fetch;

  const hosts = [ports.gatewayHttp, ports.gatewayTls]
    .filter((p) => p !== undefined)
    .map((port) => ({ host: `127.0.0.1:${port}`, region: 'us' }));
  const ours = telemetry.register(new LlmGatewayInstrumentation({ enabled: false, hosts }));
  const variants = new Map<string, Variant>();
  const workloads = new Map<string, Workload>();
  const plan: [string, string][] = [];
  const parts: GroupParts = {
    telemetry,
    ours,
    targets,
    payloads,
    addVariant: (variant) => variants.set(variant.name, variant),
    addWorkload: (workload, variantNames) => {
      workloads.set(workload.name, workload);
      for (const v of variantNames) plan.push([workload.name, v]);
    },
  };
  parts.addVariant(
    instrumentationVariant(
      'this',
      `opentelemetry-instrumentation-llm-gateway ${readVersion(root)} (dist/cjs)`,
      'gateway calls',
      ours,
    ),
  );
  parts.addVariant(selfVariant);
  // BENCH_BASELINE_DIST: another build of this package (say, the last release's dist/cjs/index.js)
  // measured as `baseline` on the same workloads as `this`, in the same run: before and after.
  const baselineDist = process.env.BENCH_BASELINE_DIST;
  if (baselineDist) {
    const { LlmGatewayInstrumentation: Baseline } = requireHere(baselineDist) as typeof import('../dist/cjs/index.js');
    const baseline = telemetry.register(new Baseline({ enabled: false, hosts }));
    parts.addVariant(
      instrumentationVariant('baseline', `this package as built in ${baselineDist}`, 'gateway calls', baseline),
    );
    const addWorkload = parts.addWorkload;
    parts.addWorkload = (workload, variantNames) =>
      addWorkload(workload, variantNames.includes('this') ? [...variantNames, 'baseline'] : variantNames);
  }
  if (group === 'openai') addOpenaiGroup(parts);
  else addMainGroup(parts, group === 'selfcheck');
  return {
    bench: { telemetry, server: server.clock, bareFetch },
    workloads,
    variants,
    plan: plan.filter(([w, v]) => !options.only || options.only.test(`${w} / ${v}`)),
    payloads,
    stop: () => server.child.kill(),
  };
}

/** fetch and openai 7 workloads: this package, instrumentation-undici, the references; or only A vs A. */
function addMainGroup(
  { telemetry, ours, targets, payloads, addVariant, addWorkload }: GroupParts,
  selfcheck: boolean,
): void {
  // Constructed enabled, then disabled: instrumentation-undici reads `config.enabled` on
  // every request, so one constructed disabled would record nothing even once enabled.
  const undici = telemetry.register(new UndiciInstrumentation());
  undici.disable();
  addVariant(
    instrumentationVariant(
      'undici',
      `@opentelemetry/instrumentation-undici ${versionOf('@opentelemetry/instrumentation-undici')}`,
      'every call',
      undici,
    ),
  );
  addVariant(
    together(
      'this+undici',
      'this package and instrumentation-undici together, as NodeSDK with auto-instrumentations runs them',
      'every call',
      [ours, undici],
    ),
  );
  addVariant(floorVariant());
  addVariant(floorVariant({ inContext: true }));
  addVariant(channelsVariant());
  addVariant(wrapperVariant());
  const only = (names: string[]) => (selfcheck ? ['A vs A'] : names);
  const { transports, gateway, other, sdkTransport } = targets;
  // A vs A control rows on HTTP; both instrumentations together on TLS, as production runs.
  const fetchVariants = (t: Transport) =>
    only([
      ...(t === 'http' ? ['A vs A'] : []),
      'this',
      'undici',
      ...(t === 'tls' ? ['this+undici'] : []),
      'floor',
      ...(t === 'tls' ? ['floor+context', 'channels only'] : []),
      'wrapper only',
    ]);
  for (const t of transports)
    addWorkload(fetchCall(`fetch call ${t}`, `${gateway(t)}/v1/chat/completions`, true), fetchVariants(t));
  for (const t of transports)
    addWorkload(fetchStream(`fetch stream ${t}`, `${gateway(t)}/v1/chat/completions`, payloads), fetchVariants(t));
  // A server that flushes every token: one HTTP chunk per event. From Node 26 (undici 8) each
  // chunk reaches the reader as a read of its own, so this is the per-chunk path at its worst.
  addWorkload(
    fetchStream(
      `fetch stream ${sdkTransport} event chunks`,
      `${gateway(sdkTransport)}/v1/chat/completions`,
      payloads,
      true,
    ),
    only(['this', 'undici', 'floor']),
  );
  for (const t of transports)
    addWorkload(fetchCall(`non-gateway call ${t}`, `${other(t)}/v1/chat/completions`, false), only(['this']));
  const { OpenAI } = requireHere('openai') as typeof import('openai');
  const client = new OpenAI({
    apiKey: 'bench-key',
    baseURL: `${gateway(sdkTransport)}/v1`,
    maxRetries: 0,
    fetch: callTimeFetch,
  }) as unknown as ChatClient;
  const major = versionOf('openai').split('.')[0];
  addWorkload(openaiCall(`openai${major} call ${sdkTransport}`, client), only(['this']));
  addWorkload(openaiStream(`openai${major} stream ${sdkTransport}`, client, payloads), only(['this']));
}

/** openai 6 workloads: this package and instrumentation-openai, which patches the SDK as it loads. */
function addOpenaiGroup({ telemetry, targets, payloads, addVariant, addWorkload }: GroupParts): void {
  const { OpenAIInstrumentation } = requireHere(
    '@opentelemetry/instrumentation-openai',
  ) as typeof import('@opentelemetry/instrumentation-openai');
  // Registered before the SDK loads, so its require hook patches it. Its metric instruments
  // exist only after setMeterProvider() (0.22's class fields reset the ones the base
  // constructor made), so unregistered its stream path throws.
  const peer = telemetry.register(new OpenAIInstrumentation());
  const sdk = loadOpenai6();
  const patched = () => Boolean((sdk.OpenAI.Chat.Completions.prototype.create as { __wrapped?: boolean }).__wrapped);
  if (!patched()) throw new Error('instrumentation-openai did not patch the openai 6 SDK through its require hook');
  peer.disable();
  if (patched()) throw new Error('instrumentation-openai left the SDK patched after disable()');
  const description = `@opentelemetry/instrumentation-openai ${versionOf('@opentelemetry/instrumentation-openai')} on openai ${sdk.version}`;
  addVariant({
    ...instrumentationVariant('openai', description, 'gateway calls', peer),
    leftovers: () => (patched() ? 'Completions.create still patched' : undefined),
  });
  const client = new sdk.OpenAI({
    apiKey: 'bench-key',
    baseURL: `${targets.gateway(targets.sdkTransport)}/v1`,
    maxRetries: 0,
    fetch: callTimeFetch,
  });
  addWorkload(openaiCall(`openai6 call ${targets.sdkTransport}`, client), ['this', 'openai']);
  addWorkload(openaiStream(`openai6 stream ${targets.sdkTransport}`, client, payloads), ['this', 'openai']);
}

/**
 * The openai 6 SDK (installed as `openai6`), loaded from a copy under `node_modules/openai`:
 * require hooks know a module by that directory name, and instrumentation-openai 0.22 only
 * patches `openai` >=4.19 <7.
 */
function loadOpenai6(): { OpenAI: typeof import('openai6').OpenAI; version: string } {
  const source = join(root, 'node_modules', 'openai6');
  const copy = join(readOptions().outDir, 'openai6', 'node_modules', 'openai');
  const version = versionOf('openai6');
  const copied = existsSync(join(copy, 'package.json')) && readVersion(copy);
  if (copied !== version) {
    rmSync(copy, { recursive: true, force: true });
    cpSync(source, copy, { recursive: true });
  }
  return { OpenAI: (requireHere(copy) as typeof import('openai6')).OpenAI, version };
}

async function checkTlsIsVerified(origin: string): Promise<void> {
  if (process.env.NODE_TLS_REJECT_UNAUTHORIZED === '0')
    throw new Error(
      'NODE_TLS_REJECT_UNAUTHORIZED=0: the bench trusts its certificate through NODE_EXTRA_CA_CERTS instead',
    );
  try {
    await (await fetch(`${origin}/v1/chat/completions`, { method: 'POST', body: '{}' })).arrayBuffer();
  } catch (error) {
    throw new Error(
      `TLS to the bench server failed (is NODE_EXTRA_CA_CERTS its certificate?): ${String((error as Error).cause ?? error)}`,
      { cause: error },
    );
  }
}

// ================================================================== modes

async function runGroup(group: Group, outPath: string): Promise<void> {
  const options = readOptions();
  const setup = await setUp(group, options);
  const comparisons: Comparison[] = [];
  // A first pass of every workload, bare: JIT and connections before any comparison.
  for (const workload of new Set(setup.plan.map(([w]) => w)))
    await block(
      setup.bench,
      setup.workloads.get(workload)!,
      setup.workloads.get(workload)!.kind === 'stream' ? 10 : 200,
    );
  for (const [workloadName, variantName] of setup.plan) {
    const workload = setup.workloads.get(workloadName)!;
    const perSide = workload.kind === 'stream' ? streamsPerSide(options, workload.sdk) : callsPerSide(options);
    const comparison = await compare(setup.bench, workload, setup.variants.get(variantName)!, {
      rounds: options.rounds,
      perSide,
    });
    comparisons.push(comparison);
    const s = comparison.summary;
    const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
    process.stdout.write(
      `  ${workloadName} / ${variantName}: ${s.timeRatio.median.toFixed(3)}x [${s.timeRatio.min.toFixed(3)}-${s.timeRatio.max.toFixed(3)}], ` +
        `${s.addedCpuUs.median >= 0 ? '+' : ''}${s.addedCpuUs.median.toFixed(0)} µs CPU/call; server ${pct(Math.max(s.serverUtilA, s.serverUtilB))}, client ${pct(Math.min(s.clientUtilA, s.clientUtilB))} of a core, client waited for a CPU ${pct(s.clientRunQueue)}` +
        `${comparison.flags.length ? `  !! ${comparison.flags.join('; ')}` : ''}\n`,
    );
  }
  await setup.bench.telemetry.shutdown();
  const result: WorkerResult = {
    group,
    node: process.version,
    variants: Object.fromEntries(
      [...new Set(setup.plan.map(([, v]) => v))].map((v) => [v, setup.variants.get(v)!.description]),
    ),
    comparisons,
    exported: setup.bench.telemetry.counts(),
    payload: {
      chatJsonBytes: setup.payloads.chatJson.length,
      sseBytes: setup.payloads.sseBytes,
      sseEvents: setup.payloads.sseJsonEvents,
      sseWrites: setup.payloads.sseWrites.length,
    },
  };
  writeFileSync(outPath, JSON.stringify(result));
  setup.stop();
}

/** One variant on one workload, long enough for `node --cpu-prof` (BENCHMARKS.md, "Profile"). */
async function profile(variantName: string, workloadName: string, count: number): Promise<void> {
  const options = readOptions();
  const setup = await setUp(workloadName.startsWith('openai6') ? 'openai' : 'main', options);
  const workload = setup.workloads.get(workloadName);
  const variant = setup.variants.get(variantName);
  if (!workload || !variant)
    throw new Error(
      `workloads: ${[...setup.workloads.keys()].join(', ')}; variants: ${[...setup.variants.keys()].join(', ')}`,
    );
  variant.enable();
  await block(setup.bench, workload, Math.ceil(count / 5));
  const side = await block(setup.bench, workload, count);
  console.log(
    `${variantName}, ${workloadName}: ${(side.cpuUs / count).toFixed(0)} µs CPU and ${((side.wallMs * 1000) / count).toFixed(0)} µs wall per ${workload.kind}, over ${count}` +
      (side.reads > 0 ? `, ${(side.reads / count).toFixed(0)} reads per stream` : ''),
  );
  setup.stop();
}

const args = process.argv.slice(2);
const main =
  args[0] === '--profile'
    ? profile(args[1], args[2], Number(args[3] ?? 20_000))
    : args[0] === '--group'
      ? runGroup(args[1] as Group, args[3])
      : Promise.reject(
          new Error(
            'bench/worker.ts is started by bench/run.ts (npm run bench), or with --profile <variant> <workload> [count]',
          ),
        );
main.then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
