import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppOutput, AppSpan, CallRun, Framework } from './apps/frameworks-app';
import { runNode } from './child';
import { childEnv, REPO_ROOT } from './package-build';
import { show } from './show';

export type { AppOutput, AppSpan, CallRun, Framework } from './apps/frameworks-app';

export const FRAMEWORKS: readonly Framework[] = [
  'openai',
  'ai-sdk',
  'ai-sdk-legacy',
  'instrumentation-openai',
  'openinference',
  'langchain',
];
export const GATEWAY_SCOPE = 'opentelemetry-instrumentation-llm-gateway';
const APP = join(REPO_ROOT, 'test', 'support', 'apps', 'frameworks-app.ts');

/**
 * A directory whose node_modules/openai is the `openai6` devDependency: run with
 * --preserve-symlinks, `require('openai')` from there loads openai 6 under the name `openai`,
 * which is the name @opentelemetry/instrumentation-openai hooks.
 */
export function makeOpenai6Dir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'openai6-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(join(REPO_ROOT, 'node_modules', 'openai6'), join(dir, 'node_modules', 'openai'), 'dir');
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs the app in a process of its own (the framework instrumentations patch `openai` as it
 * loads): one call and one streamed call per mode.
 */
export async function runFrameworkApp(
  framework: Framework,
  modes: readonly string[],
  openai6Dir?: string,
): Promise<AppOutput> {
  const args = ['--preserve-symlinks', '--import', 'tsx', APP, framework, modes.join(',')];
  const env = childEnv(openai6Dir ? { OPENAI6_DIR: openai6Dir } : {});
  const result = await runNode(args, { cwd: REPO_ROOT, env, timeoutMs: 120_000 });
  if (result.code !== 0)
    throw new Error(`${framework} app failed (${result.code}):\n${result.stderr}\n${result.stdout}`);
  return JSON.parse(result.stdout) as AppOutput;
}

const USAGE_PREFIXES = ['gen_ai.usage.', 'llm.token_count.'];
/**
 * The AI SDK's agent-level spans repeat the total of their model calls; Langfuse skips usage on
 * them for that reason (OtelIngestionProcessor.isAiSdkAgentOperation), as should any backend.
 */
const AGGREGATE_OPERATIONS = ['invoke_agent', 'agent_step'];

/** Spans a backend counts tokens from: usage attributes of either convention, aggregates aside. */
export function usageSpans(spans: AppSpan[]): AppSpan[] {
  return spans.filter(
    (s) =>
      Object.keys(s.attributes).some((key) => USAGE_PREFIXES.some((prefix) => key.startsWith(prefix))) &&
      !AGGREGATE_OPERATIONS.includes(String(s.attributes['gen_ai.operation.name'])),
  );
}

/** The trace as an indented tree: name [scope, kind] and the usage and gateway facts it carries. */
export function renderTree(spans: AppSpan[]): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = (parent: string | undefined) =>
    spans.filter((s) =>
      parent === undefined ? s.parentSpanId === undefined || !ids.has(s.parentSpanId) : s.parentSpanId === parent,
    );
  const lines: string[] = [];
  const walk = (span: AppSpan, depth: number) => {
    lines.push(`${'  '.repeat(depth)}${span.name}  [${span.scope}, ${KINDS[span.kind]}]${describe(span)}`);
    for (const child of children(span.spanId)) walk(child, depth + 1);
  };
  for (const root of children(undefined)) walk(root, 0);
  return lines.join('\n');
}

const KINDS = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

function describe(span: AppSpan): string {
  const a = span.attributes;
  const notes: string[] = [];
  if (a['gen_ai.operation.name'] !== undefined) notes.push(`op=${show(a['gen_ai.operation.name'])}`);
  if (a['openinference.span.kind'] !== undefined) notes.push(`openinference=${show(a['openinference.span.kind'])}`);
  if (a['ai.operationId'] !== undefined) notes.push(`ai.operationId=${show(a['ai.operationId'])}`);
  const input = a['gen_ai.usage.input_tokens'] ?? a['llm.token_count.prompt'];
  const output = a['gen_ai.usage.output_tokens'] ?? a['llm.token_count.completion'];
  if (input !== undefined || output !== undefined) {
    const which = a['gen_ai.usage.input_tokens'] !== undefined ? 'gen_ai.usage' : 'llm.token_count';
    notes.push(`usage(${which})=${show(input)}/${show(output)}`);
  }
  if (a['assemblyai.request_id'] !== undefined) notes.push('request_id');
  if (a['assemblyai.region'] !== undefined) notes.push(`region=${show(a['assemblyai.region'])}`);
  if (a['assemblyai.ratelimit.remaining'] !== undefined) notes.push('ratelimit');
  if (a['assemblyai.error.code'] !== undefined) notes.push(`error=${show(a['assemblyai.error.code'])}`);
  return notes.length ? `  ${notes.join(' ')}` : '';
}

/** Sum and count of gen_ai.client.token.usage points per token type, over every scope. */
export function tokenTotals(
  output: Pick<CallRun, 'tokenPoints'>,
): Record<'input' | 'output', { sum: number; count: number; scopes: string[] }> {
  const totals = {
    input: { sum: 0, count: 0, scopes: [] as string[] },
    output: { sum: 0, count: 0, scopes: [] as string[] },
  };
  for (const point of output.tokenPoints) {
    const total = totals[point.tokenType as 'input' | 'output'];
    if (!total) continue;
    total.sum += point.sum;
    total.count += point.count;
    if (!total.scopes.includes(point.scope)) total.scopes.push(point.scope);
  }
  return totals;
}

/**
 * The Langfuse observation type of a span, by the rules of Langfuse's OTel ingestion
 * (langfuse/langfuse packages/shared/src/server/otel/ObservationTypeMapper.ts at 62751446,
 * the mappers that can apply here, in their priority order). A GENERATION is what Langfuse
 * bills: it takes the span's usage, or, when there is none and the model is known, counts the
 * tokens of the span's input and output itself (worker IngestionService getUsageUnits).
 */
export function langfuseObservationType(a: AppSpan['attributes']): string {
  const value = (key: string): string | undefined => {
    const v = a[key];
    return v === undefined || v === null || v === '' ? undefined : show(v);
  };
  const direct = value('langfuse.observation.type');
  if (direct && OBSERVATION_TYPES.has(direct.toUpperCase())) return direct.toUpperCase();
  const openInference = OPENINFERENCE_TYPES[value('openinference.span.kind') ?? ''];
  if (openInference) return openInference;
  const genAi = GEN_AI_OPERATION_TYPES[value('gen_ai.operation.name') ?? ''];
  if (genAi) return genAi;
  const aiSdkOperation = (prefixes: string[]) =>
    prefixes.some((p) => value('operation.name')?.startsWith(p)) || prefixes.includes(value('ai.operationId') ?? '');
  const hasAiSdkModel = [
    'langfuse.observation.model.name',
    'ai.model.id',
    'gen_ai.request.model',
    'gen_ai.response.model',
  ].some((k) => value(k));
  if (hasAiSdkModel && aiSdkOperation(AI_SDK_GENERATIONS)) return 'GENERATION';
  if (hasAiSdkModel && aiSdkOperation(AI_SDK_EMBEDDINGS)) return 'EMBEDDING';
  if (aiSdkOperation(['ai.toolCall'])) return 'TOOL';
  if (value('gen_ai.tool.name') || value('gen_ai.tool.call.id')) return 'TOOL';
  if (
    [
      'langfuse.observation.model.name',
      'gen_ai.request.model',
      'gen_ai.response.model',
      'llm.model_name',
      'model',
    ].some((k) => value(k))
  )
    return 'GENERATION';
  return 'SPAN';
}

const OBSERVATION_TYPES = new Set([
  'SPAN',
  'EVENT',
  'GENERATION',
  'AGENT',
  'TOOL',
  'CHAIN',
  'RETRIEVER',
  'EVALUATOR',
  'EMBEDDING',
  'GUARDRAIL',
]);
const OPENINFERENCE_TYPES: Record<string, string> = {
  CHAIN: 'CHAIN',
  RETRIEVER: 'RETRIEVER',
  LLM: 'GENERATION',
  EMBEDDING: 'EMBEDDING',
  AGENT: 'AGENT',
  TOOL: 'TOOL',
  GUARDRAIL: 'GUARDRAIL',
  EVALUATOR: 'EVALUATOR',
};
const GEN_AI_OPERATION_TYPES: Record<string, string> = {
  chat: 'GENERATION',
  completion: 'GENERATION',
  text_completion: 'GENERATION',
  generate_content: 'GENERATION',
  generate: 'GENERATION',
  embeddings: 'EMBEDDING',
  invoke_agent: 'AGENT',
  create_agent: 'AGENT',
  execute_tool: 'TOOL',
};
const AI_SDK_GENERATIONS = [
  'ai.generateText.doGenerate',
  'ai.streamText.doStream',
  'ai.generateObject.doGenerate',
  'ai.streamObject.doStream',
];
const AI_SDK_EMBEDDINGS = ['ai.embedMany.doEmbed', 'ai.embed.doEmbed'];
