// The "B" side of each comparison. Every variant is turned on for its B blocks only and off
// again for the A blocks; `bareProblems()` checks that off really leaves nothing in the path.
import * as diagnosticsChannel from 'node:diagnostics_channel';
import { context, metrics, SpanKind, trace } from '@opentelemetry/api';

export interface Variant {
  /** `ours`, `undici`, `floor`, ... */
  readonly name: string;
  /** One line for the report. */
  readonly description: string;
  /** Which calls its B blocks must export a span for: the check that it was really at work. */
  readonly spans: 'gateway calls' | 'every call' | 'none';
  enable(): void;
  disable(): void;
  /** Anything it left behind when disabled, beyond what bareProblems() checks. */
  leftovers?(): string | undefined;
}

export interface Toggle {
  enable(): void;
  disable(): void;
}

/** An OpenTelemetry instrumentation, turned on and off by its own enable() and disable(). */
export function instrumentationVariant(
  name: string,
  description: string,
  spans: Variant['spans'],
  instrumentation: Toggle,
): Variant {
  return { name, description, spans, enable: () => instrumentation.enable(), disable: () => instrumentation.disable() };
}

/** Several instrumentations at once, as NodeSDK with auto-instrumentations runs them. */
export function together(name: string, description: string, spans: Variant['spans'], parts: Toggle[]): Variant {
  return {
    name,
    description,
    spans,
    enable: () => parts.forEach((p) => p.enable()),
    disable: () => [...parts].reverse().forEach((p) => p.disable()),
  };
}

/** A vs A: the B side is the A side. Its ratio shows what noise alone gives. */
export const selfVariant: Variant = {
  name: 'A vs A',
  description: 'nothing on either side: the noise of the method',
  spans: 'none',
  enable: () => {},
  disable: () => {},
};

type Fetch = typeof globalThis.fetch;

/**
 * What any fetch instrumentation must at least do: a wrapper that starts one span and records
 * one histogram point per call, ended when the response head arrives. Nothing else. With
 * `inContext`, fetch is called in the span's context, as an instrumentation must for the HTTP
 * instrumentation's span to be a child of its own: what the context alone adds.
 */
export function floorVariant({ inContext = false } = {}): Variant {
  const tracer = trace.getTracer('bench-floor');
  const duration = metrics.getMeter('bench-floor').createHistogram('bench.floor.duration', { unit: 's' });
  let bare: Fetch | undefined;
  return {
    name: inContext ? 'floor+context' : 'floor',
    description: inContext
      ? "the floor, with fetch called in the span's context"
      : 'globalThis.fetch wrapper: 1 span + 1 histogram point per call, nothing else',
    spans: 'every call',
    enable() {
      const original = (bare = globalThis.fetch);
      globalThis.fetch = async function floorFetch(input, init) {
        const span = tracer.startSpan('fetch', { kind: SpanKind.CLIENT });
        const start = performance.now();
        try {
          return await (inContext
            ? context.with(trace.setSpan(context.active(), span), () => original(input, init))
            : original(input, init));
        } finally {
          duration.record((performance.now() - start) / 1000);
          span.end();
        }
      };
    },
    disable() {
      globalThis.fetch = bare!;
    },
  };
}

/** undici's request channels subscribed with handlers that do nothing: what being told costs. */
export function channelsVariant(): Variant {
  const names = CHANNELS.filter((name) => name.startsWith('undici:request:'));
  const nothing = (): void => {};
  return {
    name: 'channels only',
    description: "undici's 7 request channels subscribed, handlers that do nothing",
    spans: 'none',
    enable() {
      for (const name of names) diagnosticsChannel.subscribe(name, nothing);
    },
    disable() {
      for (const name of names) diagnosticsChannel.unsubscribe(name, nothing);
    },
  };
}

/** The floor without its telemetry: what an async wrapper around fetch costs by itself. */
export function wrapperVariant(): Variant {
  let bare: Fetch | undefined;
  return {
    name: 'wrapper only',
    description: 'globalThis.fetch async wrapper that awaits the response, no span',
    spans: 'none',
    enable() {
      const original = (bare = globalThis.fetch);
      globalThis.fetch = async function wrappedFetch(input, init) {
        return await original(input, init);
      };
    },
    disable() {
      globalThis.fetch = bare!;
    },
  };
}

// Channels an HTTP instrumentation subscribes to (undici's and node:http's). With no subscriber
// a channel's publish is skipped; one left subscribed costs the A side too.
const CHANNELS = [
  'undici:request:create',
  'undici:request:bodySent',
  'undici:request:bodyChunkSent',
  'undici:request:bodyChunkReceived',
  'undici:request:headers',
  'undici:request:trailers',
  'undici:request:error',
  'undici:client:sendHeaders',
  'undici:client:beforeConnect',
  'undici:client:connected',
  'undici:client:connectError',
  'http.client.request.created',
  'http.client.request.start',
  'http.client.request.error',
  'http.client.response.created',
  'http.client.response.finish',
];

/** What differs from the bare process on an A block: a replaced fetch, subscribed channels. */
export function bareProblems(bareFetch: Fetch): string[] {
  const problems: string[] = [];
  if (globalThis.fetch !== bareFetch) problems.push('globalThis.fetch is not the bare fetch');
  for (const name of CHANNELS) if (diagnosticsChannel.hasSubscribers(name)) problems.push(`${name} has subscribers`);
  return problems;
}
