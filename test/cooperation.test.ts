import { OITracer } from '@arizeai/openinference-core';
import { context, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { AlwaysOffSampler, InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { findOuterGenAiSpan } from '../src/cooperation';

// Recognition of another instrumentation's inference span, on real SDK spans. The scope names,
// kinds and attributes are those the packages set (test/frameworks.test.ts runs the packages
// themselves): @opentelemetry/instrumentation-openai 0.22 (dist/instrumentation.cjs,
// _startChatCompletionsSpan), @arizeai/openinference-instrumentation-openai 4.2 (through its
// OITracer, dist/src/instrumentation.js), @ai-sdk/otel 1.0 (src/open-telemetry.ts and
// src/legacy-open-telemetry.ts).

const provider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
});

function active(
  scope: string,
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  parent: Context = ROOT_CONTEXT,
): { span: Span; context: Context } {
  const span = provider.getTracer(scope, '1.0.0').startSpan(name, { kind, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

const OPENAI_CHAT = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-5', 'gen_ai.system': 'openai' };

describe('findOuterGenAiSpan', () => {
  it('finds nothing when no span is active', () => {
    expect(findOuterGenAiSpan(ROOT_CONTEXT)).toBeUndefined();
    expect(findOuterGenAiSpan(context.active(), 'gpt-5')).toBeUndefined();
  });

  it("recognises @opentelemetry/instrumentation-openai's chat span, which records token metrics itself", () => {
    const { span, context: ctx } = active(
      '@opentelemetry/instrumentation-openai',
      'chat gpt-5',
      SpanKind.CLIENT,
      OPENAI_CHAT,
    );
    expect(findOuterGenAiSpan(ctx, 'gpt-5')).toEqual({
      span,
      scope: '@opentelemetry/instrumentation-openai',
      recordsTokenMetrics: true,
      convention: 'gen_ai',
      model: 'gpt-5',
    });
  });

  it("does not take instrumentation-openai's embeddings span for an inference span", () => {
    const { context: ctx } = active('@opentelemetry/instrumentation-openai', 'embeddings e5', SpanKind.CLIENT, {
      'gen_ai.operation.name': 'embeddings',
      'gen_ai.request.model': 'e5',
    });
    expect(findOuterGenAiSpan(ctx)).toBeUndefined();
  });

  it("recognises OpenInference's LLM span through the OISpan wrapper it puts in the context, and returns the wrapper", () => {
    const oiTracer = new OITracer({
      tracer: provider.getTracer('@arizeai/openinference-instrumentation-openai', '4.2.7'),
    });
    const span = oiTracer.startSpan('OpenAI Chat Completions', {
      kind: SpanKind.INTERNAL,
      attributes: { 'openinference.span.kind': 'LLM', 'llm.model_name': 'gpt-5', 'llm.system': 'openai' },
    });
    const found = findOuterGenAiSpan(trace.setSpan(ROOT_CONTEXT, span), 'gpt-5');
    expect(found).toMatchObject({
      scope: '@arizeai/openinference-instrumentation-openai',
      recordsTokenMetrics: false,
      convention: 'openinference',
      model: 'gpt-5',
    });
    // Writes go through the wrapper, which applies the user's OpenInference masking config.
    expect(found?.span).toBe(span);
  });

  it("does not take OpenInference's CHAIN or EMBEDDING spans for an inference span", () => {
    const oiTracer = new OITracer({ tracer: provider.getTracer('@arizeai/openinference-instrumentation-openai') });
    for (const kind of ['CHAIN', 'EMBEDDING', 'AGENT']) {
      const span = oiTracer.startSpan('x', { attributes: { 'openinference.span.kind': kind } });
      expect(findOuterGenAiSpan(trace.setSpan(ROOT_CONTEXT, span))).toBeUndefined();
    }
  });

  it("recognises @ai-sdk/otel's chat span, not the invoke_agent and step spans above it", () => {
    const agent = active('gen_ai', 'invoke_agent gpt-5', SpanKind.INTERNAL, {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.request.model': 'gpt-5',
    });
    const step = active(
      'gen_ai',
      'step 1',
      SpanKind.INTERNAL,
      { 'gen_ai.operation.name': 'agent_step' },
      agent.context,
    );
    const chat = active(
      'gen_ai',
      'chat gpt-5',
      SpanKind.CLIENT,
      { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-5', 'gen_ai.provider.name': 'assemblyai' },
      step.context,
    );
    expect(findOuterGenAiSpan(agent.context, 'gpt-5')).toBeUndefined();
    expect(findOuterGenAiSpan(step.context, 'gpt-5')).toBeUndefined();
    expect(findOuterGenAiSpan(chat.context, 'gpt-5')).toMatchObject({
      span: chat.span,
      scope: 'gen_ai',
      recordsTokenMetrics: false,
      convention: 'gen_ai',
    });
  });

  it("recognises the AI SDK's ai.generateText.doGenerate and ai.streamText.doStream spans, not the ai.generateText wrapper", () => {
    const wrapper = active('ai', 'ai.generateText', SpanKind.INTERNAL, {
      'ai.operationId': 'ai.generateText',
      'ai.model.id': 'gpt-5',
    });
    expect(findOuterGenAiSpan(wrapper.context, 'gpt-5')).toBeUndefined();
    for (const operationId of [
      'ai.generateText.doGenerate',
      'ai.streamText.doStream',
      'ai.generateObject.doGenerate',
      'ai.streamObject.doStream',
    ]) {
      const call = active(
        'ai',
        operationId,
        SpanKind.INTERNAL,
        { 'ai.operationId': operationId, 'ai.model.id': 'gpt-5', 'gen_ai.system': 'assemblyai.chat' },
        wrapper.context,
      );
      expect(findOuterGenAiSpan(call.context, 'gpt-5')).toMatchObject({
        scope: 'ai',
        model: 'gpt-5',
        recordsTokenMetrics: false,
      });
    }
    const tool = active('ai', 'ai.toolCall', SpanKind.INTERNAL, { 'ai.operationId': 'ai.toolCall' }, wrapper.context);
    expect(findOuterGenAiSpan(tool.context)).toBeUndefined();
  });

  it("never takes an application's own span for one, even one that looks like a chat span", () => {
    const plain = active('my-app', 'handle request', SpanKind.SERVER, {});
    expect(findOuterGenAiSpan(plain.context)).toBeUndefined();
    const manual = active('my-app', 'chat gpt-5', SpanKind.CLIENT, OPENAI_CHAT);
    expect(findOuterGenAiSpan(manual.context, 'gpt-5')).toBeUndefined();
  });

  it('does not recognise a span for another model: that span is not this call', () => {
    const { context: ctx } = active(
      '@opentelemetry/instrumentation-openai',
      'chat gpt-5',
      SpanKind.CLIENT,
      OPENAI_CHAT,
    );
    expect(findOuterGenAiSpan(ctx, 'claude-sonnet-4-6')).toBeUndefined();
    // Unknown on either side (an http.request whose body comes later): recognised.
    expect(findOuterGenAiSpan(ctx)).toBeDefined();
  });

  it('does not recognise a span that has ended', () => {
    const { span, context: ctx } = active(
      '@opentelemetry/instrumentation-openai',
      'chat gpt-5',
      SpanKind.CLIENT,
      OPENAI_CHAT,
    );
    span.end();
    expect(findOuterGenAiSpan(ctx)).toBeUndefined();
  });

  it('does not recognise a span the sampler dropped, nor a remote parent', () => {
    const unsampled = new TracerProvider({ sampler: new AlwaysOffSampler() });
    const span = unsampled
      .getTracer('@opentelemetry/instrumentation-openai')
      .startSpan('chat gpt-5', { kind: SpanKind.CLIENT, attributes: OPENAI_CHAT });
    expect(findOuterGenAiSpan(trace.setSpan(ROOT_CONTEXT, span))).toBeUndefined();
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
    });
    expect(findOuterGenAiSpan(remote)).toBeUndefined();
  });

  it("reads an older SDK's instrumentationLibrary, and survives span objects it cannot read", () => {
    const older = {
      instrumentationLibrary: { name: '@opentelemetry/instrumentation-openai' },
      kind: SpanKind.CLIENT,
      attributes: OPENAI_CHAT,
      isRecording: () => true,
      spanContext: () => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }),
    } as unknown as Span;
    expect(findOuterGenAiSpan(trace.setSpan(ROOT_CONTEXT, older))?.scope).toBe('@opentelemetry/instrumentation-openai');

    const hostile = new Proxy(
      { isRecording: () => true },
      {
        get(target, key) {
          if (key === 'isRecording') return target.isRecording;
          throw new Error(`no ${String(key)}`);
        },
      },
    ) as unknown as Span;
    expect(findOuterGenAiSpan(trace.setSpan(ROOT_CONTEXT, hostile))).toBeUndefined();
    const noAttributes = { ...older, attributes: undefined } as unknown as Span;
    expect(findOuterGenAiSpan(trace.setSpan(ROOT_CONTEXT, noAttributes))).toBeUndefined();
  });
});
