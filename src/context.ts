import { context as contextApi, createContextKey, propagation, type Context } from '@opentelemetry/api';
import { shortString } from './parse/values';
import type { LlmGatewayContext } from './types';

const APPLICATION_CONTEXT = createContextKey('opentelemetry-instrumentation-llm-gateway application context');

/**
 * Runs `fn` with per-call facts for every gateway call made inside it, through any client:
 * `gen_ai.conversation.id`, `gen_ai.prompt.name` and `gen_ai.prompt.version` on their spans.
 * Values merge over those of an enclosing `withLlmGatewayContext`. Calls made after an `await`
 * inside `fn` see the values only when a context manager is registered (the NodeSDK registers one).
 *
 * ```ts
 * await withLlmGatewayContext({ conversationId: session.id, promptName: 'summarise' }, () =>
 *   openai.chat.completions.create({ ... }));
 * ```
 */
export function withLlmGatewayContext<T>(values: LlmGatewayContext, fn: () => T): T {
  return contextApi.with(setLlmGatewayContext(contextApi.active(), values), fn);
}

/** `context` with the given per-call facts set (for frameworks that manage contexts themselves). */
export function setLlmGatewayContext(context: Context, values: LlmGatewayContext): Context {
  const enclosing = context.getValue(APPLICATION_CONTEXT) as LlmGatewayContext | undefined;
  const merged: LlmGatewayContext = { ...enclosing };
  for (const key of KEYS) {
    const value = shortString(values[key]);
    if (value !== undefined) merged[key] = value;
  }
  return context.setValue(APPLICATION_CONTEXT, Object.freeze(merged));
}

/** The per-call facts in `context`, completed from baggage when the user opted in. */
export function applicationContextOf(context: Context, fromBaggage: boolean): LlmGatewayContext | undefined {
  const values = context.getValue(APPLICATION_CONTEXT) as LlmGatewayContext | undefined;
  if (!fromBaggage) return values;
  const baggage = propagation.getBaggage(context);
  if (baggage === undefined) return values;
  const merged: LlmGatewayContext = { ...values };
  for (const key of KEYS) merged[key] ??= shortString(baggage.getEntry(BAGGAGE_KEYS[key])?.value);
  return merged;
}

const KEYS = ['conversationId', 'promptName', 'promptVersion'] as const;
/** The baggage entries read with `readContextFromBaggage`: the attribute names themselves. */
const BAGGAGE_KEYS: Readonly<Record<(typeof KEYS)[number], string>> = {
  conversationId: 'gen_ai.conversation.id',
  promptName: 'gen_ai.prompt.name',
  promptVersion: 'gen_ai.prompt.version',
};
