// A CommonJS application run by test/frameworks.test.ts and scripts/frameworks-trace.ts:
//   node --preserve-symlinks --import tsx frameworks-app.ts <framework> <mode>[,<mode>...]
// It sets up telemetry the way an application does (global tracer and meter providers, the
// framework's own instrumentation registered before the client library loads), then, for each
// mode, makes one chat call and one streamed chat call to the (simulated) gateway through the
// framework. It prints, per call, what was exported: the spans of its trace, the token metric
// points every scope recorded for it, the span lifecycle counts, the usage the client library
// handed the application, and what findOuterGenAiSpan() made of the context the call's fetch
// ran in.
//
// Frameworks:
//   openai                  the plain `openai` SDK (7), nothing else: the control
//   ai-sdk                  `ai` 7 + `@ai-sdk/openai-compatible` + `@ai-sdk/otel` (OpenTelemetry)
//   ai-sdk-legacy           the same with @ai-sdk/otel's LegacyOpenTelemetry (the `ai.*` spans)
//   instrumentation-openai  `@opentelemetry/instrumentation-openai` + `openai` 6 (it patches <7 only);
//                           OPENAI6_DIR names a directory whose node_modules/openai is `openai` 6
//   openinference           `@arizeai/openinference-instrumentation-openai` + `openai` 7
//   langchain               `@langchain/openai` (no tracing of its own) under the app's own span
// Modes: `default` (no option), or a value of the proposed `outerGenAiSpan` option, set with
// setConfig() before the mode's calls.
import { context, diag, DiagLogLevel, metrics, trace, type Attributes, type AttributeValue } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type HistogramMetricData,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { startSimulatedGateway } from '../../../examples/simulated-gateway/server';
import { LlmGatewayInstrumentation } from '../../../src';
import { findOuterGenAiSpan, type OuterGenAiSpan } from '../../../src/cooperation';
import type { LlmGatewayInstrumentationConfig } from '../../../src/types';
import { LifecycleCounter } from '../telemetry';

export type Framework =
  'openai' | 'ai-sdk' | 'ai-sdk-legacy' | 'instrumentation-openai' | 'openinference' | 'langchain';

export interface AppSpan {
  name: string;
  kind: number;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** AttributeValue is `unknown` (API 1.10): it covers the undefined of an absent attribute. */
  attributes: Record<string, AttributeValue>;
}

export interface TokenPoint {
  scope: string;
  tokenType: string;
  count: number;
  sum: number;
}

export interface Recognised {
  scope: string;
  recordsTokenMetrics: boolean;
  convention: string;
  model: string | undefined;
  /** The recognised span's id: the active span's, or the one its wrapper holds. */
  spanId: string;
}

export interface CallRun {
  mode: string;
  stream: boolean;
  /** A call the gateway failed (503, retried once by the client): no usage. */
  failed: boolean;
  spans: AppSpan[];
  tokenPoints: TokenPoint[];
  lifecycle: { started: number; ended: number; endedTwice: string[] };
  /** What the client library gave the application: the usage the gateway sent, once. */
  usage: { input: number; output: number } | undefined;
  /** findOuterGenAiSpan(context.active()) for each fetch the call made, null when none. */
  recognised: (Recognised | null)[];
  /**
   * For each gateway call that ended (the onCallEnd hook, called as the call finishes, where
   * its facts would be written onto the outer span): was the recognised span still recording?
   */
  outerRecordingAtCallEnd: (boolean | null)[];
}

export interface AppOutput {
  runs: CallRun[];
  warnings: string[];
}

const MODEL = 'gpt-5';
const PROMPT = 'What is the capital of France?';
const APP_SCOPE = 'frameworks-app';
// The live gateway is not known to put request_id in stream chunks; the simulated one does on
// request, so that "request_id is on a span of the trace" can be checked for streams too.
const SIM_HEADERS: Record<string, string> = { 'x-sim-stream-request-id': 'true' };
/** The failing call: every attempt gets a 503 (no Retry-After, so clients retry at once). */
const FAIL_HEADERS: Record<string, string> = { 'x-sim-status': '503' };

const framework = process.argv[2] as Framework;
const modes = (process.argv[3] ?? 'default').split(',');

const warnings: string[] = [];
diag.setLogger(
  {
    error: (...a: unknown[]) => warnings.push(a.join(' ')),
    warn: (...a: unknown[]) => warnings.push(a.join(' ')),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  },
  DiagLogLevel.WARN,
);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const lifecycle = new LifecycleCounter();
trace.setGlobalTracerProvider(
  new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter }), lifecycle] }),
);

/** Delta temporality: each collect() gives the points recorded since the last, i.e. one call's. */
class DeltaReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}
const reader = new DeltaReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

let recognised: (Recognised | null)[] = [];
let lastOuter: OuterGenAiSpan | undefined;
let outerRecordingAtCallEnd: (boolean | null)[] = [];

async function main(): Promise<void> {
  const gateway = await startSimulatedGateway();
  const target = { baseURL: `${gateway.url}/v1`, apiKey: 'sim-key' };
  const baseConfig: LlmGatewayInstrumentationConfig = {
    hosts: [{ host: `127.0.0.1:${gateway.port}` }],
    onCallEnd: () => outerRecordingAtCallEnd.push(lastOuter ? lastOuter.span.isRecording() : null),
  };
  const gatewayInstrumentation = new LlmGatewayInstrumentation(baseConfig);
  const instrumentations: Instrumentation[] = [gatewayInstrumentation];
  if (framework === 'instrumentation-openai') {
    const { OpenAIInstrumentation } =
      require('@opentelemetry/instrumentation-openai') as typeof import('@opentelemetry/instrumentation-openai');
    instrumentations.push(new OpenAIInstrumentation());
  }
  if (framework === 'openinference') {
    const { OpenAIInstrumentation } =
      require('@arizeai/openinference-instrumentation-openai') as typeof import('@arizeai/openinference-instrumentation-openai');
    instrumentations.push(new OpenAIInstrumentation());
  }
  registerInstrumentations({ instrumentations });
  installRecognitionProbe();

  const runs: CallRun[] = [];
  try {
    for (const mode of modes) {
      gatewayInstrumentation.setConfig(
        mode === 'default' ? baseConfig : ({ ...baseConfig, outerGenAiSpan: mode } as LlmGatewayInstrumentationConfig),
      );
      for (const stream of [false, true])
        runs.push(await observe(mode, stream, false, () => CALLS[framework](target, { stream, fail: false })));
    }
    // One failing call, retried once by the client: the retry runs under the same framework span.
    gatewayInstrumentation.setConfig(baseConfig);
    runs.push(
      await observe('default', false, true, () =>
        CALLS[framework](target, { stream: false, fail: true }).catch(() => undefined),
      ),
    );
  } finally {
    await gateway.close();
  }
  console.log(JSON.stringify({ runs, warnings } satisfies AppOutput));
}

/** Runs one call and returns what was exported for it alone. */
async function observe(
  mode: string,
  stream: boolean,
  failed: boolean,
  call: () => Promise<CallRun['usage']>,
): Promise<CallRun> {
  exporter.reset();
  lifecycle.started = 0;
  lifecycle.ended = 0;
  lifecycle.endedTwice.length = 0;
  recognised = [];
  lastOuter = undefined;
  outerRecordingAtCallEnd = [];
  const usage = await call();
  // Spans end when bodies end, asynchronously; a framework may end its own a tick later still.
  const deadline = Date.now() + 3000;
  while (lifecycle.ended < lifecycle.started && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20));
  const { resourceMetrics } = await reader.collect();
  return {
    mode,
    stream,
    failed,
    spans: exporter.getFinishedSpans().map((span) => ({
      name: span.name,
      kind: span.kind,
      scope: span.instrumentationScope.name,
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
      parentSpanId: span.parentSpanContext?.spanId,
      attributes: interesting(span.attributes),
    })),
    tokenPoints: resourceMetrics.scopeMetrics.flatMap((scopeMetrics) =>
      scopeMetrics.metrics
        .filter(
          (m): m is HistogramMetricData =>
            m.descriptor.name === 'gen_ai.client.token.usage' && m.dataPointType === DataPointType.HISTOGRAM,
        )
        .flatMap((m) =>
          m.dataPoints
            .filter((point) => point.value.count > 0)
            .map((point) => ({
              scope: scopeMetrics.scope.name,
              tokenType: String(point.attributes['gen_ai.token.type']),
              count: point.value.count,
              sum: point.value.sum ?? 0,
            })),
        ),
    ),
    lifecycle: { started: lifecycle.started, ended: lifecycle.ended, endedTwice: [...lifecycle.endedTwice] },
    usage,
    recognised,
    outerRecordingAtCallEnd,
  };
}

/**
 * Wraps the (already instrumented) global fetch to record what findOuterGenAiSpan() sees in
 * the context each request is sent from, the context the gateway instrumentation gets. Clients
 * are created after this, so they all pick it up.
 */
function installRecognitionProbe(): void {
  const instrumentedFetch = globalThis.fetch;
  globalThis.fetch = function probe(input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> {
    const outer = findOuterGenAiSpan(context.active(), MODEL);
    lastOuter = outer;
    recognised.push(
      outer
        ? {
            scope: outer.scope,
            recordsTokenMetrics: outer.recordsTokenMetrics,
            convention: outer.convention,
            model: outer.model,
            spanId: outer.span.spanContext().spanId,
          }
        : null,
    );
    return instrumentedFetch(input, init);
  };
}

interface Target {
  baseURL: string;
  apiKey: string;
}

type Usage = NonNullable<CallRun['usage']>;
interface CallOptions {
  stream: boolean;
  /** Make the gateway answer 503, and let the client retry once. */
  fail: boolean;
}
const headersFor = (fail: boolean) => (fail ? { ...SIM_HEADERS, ...FAIL_HEADERS } : SIM_HEADERS);
const retriesFor = (fail: boolean) => (fail ? 1 : 0);

let openai6: typeof import('openai') | undefined;

const CALLS: Record<Framework, (target: Target, options: CallOptions) => Promise<Usage>> = {
  openai: (target, options) => openaiCall(require('openai') as typeof import('openai'), target, options),
  'instrumentation-openai': (target, options) => {
    const dir = process.env.OPENAI6_DIR;
    if (!dir) throw new Error('OPENAI6_DIR is not set');
    // Resolved as `openai` (a symlink kept by --preserve-symlinks), as an application on openai 6 has it.
    openai6 ??= createRequire(join(dir, 'app.js'))('openai') as typeof import('openai');
    return openaiCall(openai6, target, options);
  },
  openinference: (target, options) => openaiCall(require('openai') as typeof import('openai'), target, options),
  'ai-sdk': (target, options) => aiSdkCall(target, options, 'current'),
  'ai-sdk-legacy': (target, options) => aiSdkCall(target, options, 'legacy'),
  langchain: langchainCall,
};

async function openaiCall(
  openai: typeof import('openai'),
  { baseURL, apiKey }: Target,
  { stream, fail }: CallOptions,
): Promise<Usage> {
  const client = new openai.OpenAI({
    apiKey,
    baseURL,
    organization: null,
    project: null,
    defaultHeaders: headersFor(fail),
    maxRetries: retriesFor(fail),
  });
  const messages = [{ role: 'user' as const, content: PROMPT }];
  if (!stream) {
    const completion = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 100 });
    return { input: completion.usage!.prompt_tokens, output: completion.usage!.completion_tokens };
  }
  const chunks = await client.chat.completions.create({
    model: MODEL,
    messages,
    max_tokens: 100,
    stream: true,
    stream_options: { include_usage: true },
  });
  let last: { prompt_tokens: number; completion_tokens: number } | undefined;
  for await (const chunk of chunks) last = chunk.usage ?? last;
  // The gateway repeats a running usage on every chunk: the last one is the call's.
  return { input: last!.prompt_tokens, output: last!.completion_tokens };
}

let telemetryRegistered = false;

async function aiSdkCall(
  { baseURL, apiKey }: Target,
  { stream, fail }: CallOptions,
  integration: 'current' | 'legacy',
): Promise<Usage> {
  const { registerTelemetry, generateText, streamText } = require('ai') as typeof import('ai');
  const { OpenTelemetry, LegacyOpenTelemetry } = require('@ai-sdk/otel') as typeof import('@ai-sdk/otel');
  const { createOpenAICompatible } = require('@ai-sdk/openai-compatible') as typeof import('@ai-sdk/openai-compatible');
  if (!telemetryRegistered)
    registerTelemetry(integration === 'current' ? new OpenTelemetry() : new LegacyOpenTelemetry());
  telemetryRegistered = true;
  const provider = createOpenAICompatible({
    name: 'assemblyai',
    baseURL,
    apiKey,
    includeUsage: true,
    headers: headersFor(fail),
  });
  const model = provider.chatModel(MODEL);
  if (!stream) {
    const result = await generateText({ model, prompt: PROMPT, maxOutputTokens: 100, maxRetries: retriesFor(fail) });
    return { input: result.usage.inputTokens!, output: result.usage.outputTokens! };
  }
  const result = streamText({ model, prompt: PROMPT, maxOutputTokens: 100 });
  for await (const _text of result.textStream) {
    // read to the end, as an application rendering the answer does
  }
  const usage = await result.usage;
  return { input: usage.inputTokens!, output: usage.outputTokens! };
}

async function langchainCall({ baseURL, apiKey }: Target, { stream, fail }: CallOptions): Promise<Usage> {
  const { ChatOpenAI } = require('@langchain/openai') as typeof import('@langchain/openai');
  const chat = new ChatOpenAI({
    model: MODEL,
    apiKey,
    maxTokens: 100,
    streamUsage: true,
    maxRetries: retriesFor(fail),
    configuration: { baseURL, defaultHeaders: headersFor(fail) },
  });
  // LangChain traces nothing itself (LangSmith is off): the application's own span is the parent.
  return trace.getTracer(APP_SCOPE).startActiveSpan('answer question', async (span) => {
    try {
      if (!stream) {
        const message = await chat.invoke(PROMPT);
        return { input: message.usage_metadata!.input_tokens, output: message.usage_metadata!.output_tokens };
      }
      let usage: Usage | undefined;
      for await (const chunk of await chat.stream(PROMPT)) {
        if (chunk.usage_metadata)
          usage = { input: chunk.usage_metadata.input_tokens, output: chunk.usage_metadata.output_tokens };
      }
      return usage!;
    } finally {
      span.end();
    }
  });
}

// What a span is to a backend: its operation and model (Langfuse's observation type mapping
// reads these), its provider.
const KEPT_ATTRIBUTES = new Set([
  'gen_ai.operation.name',
  'gen_ai.request.model',
  'gen_ai.response.model',
  'gen_ai.provider.name',
  'gen_ai.system',
  'gen_ai.tool.name',
  'gen_ai.tool.call.id',
  'openinference.span.kind',
  'llm.model_name',
  'ai.operationId',
  'ai.model.id',
  'operation.name',
  'model',
  'langfuse.observation.type',
  'langfuse.observation.model.name',
  'error.type',
]);

/** The attributes the tests and the README trees look at (no message content). */
function interesting(attributes: Attributes): AppSpan['attributes'] {
  const kept: AppSpan['attributes'] = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (
      key.startsWith('gen_ai.usage.') ||
      key.startsWith('llm.token_count.') ||
      key.startsWith('assemblyai.') ||
      KEPT_ATTRIBUTES.has(key)
    ) {
      kept[key] = value;
    }
  }
  return kept;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
