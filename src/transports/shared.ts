import { context as contextApi, type Context } from '@opentelemetry/api';

/**
 * What every enabled instance and every loaded copy of this package must agree on, kept on
 * globalThis. The fetch wrappers of two instances nest, undici's diagnostics channels are global
 * by name (every undici copy in the process publishes on them), and node:http publishes every
 * ClientRequest once: without one shared record, two instances or two copies would each make a
 * span for the same request.
 */
interface SharedTransportState {
  /**
   * Above zero while a transport synchronously hands an observed call to the layer below it
   * (the original fetch, http.request). A synchronous counter, not a context value: contexts
   * propagate into the application's callbacks, and a gateway call made from one of those is a
   * call of its own.
   */
  sending: number;
  /**
   * The fetch call being sent right now. undici publishes `undici:request:create` synchronously
   * inside `fetch()`, so the request created while this is set is this call's: the link needs
   * no context manager.
   */
  fetchCall: UndiciRequestClaim | undefined;
  /** undici requests (any copy of undici) an observer has taken. */
  readonly undiciRequests: WeakSet<object>;
  /** node:http ClientRequests an observer has taken. */
  readonly httpRequests: WeakSet<object>;
}

/** How the fetch wrapper being sent takes the undici request created for it. */
export interface UndiciRequestClaim {
  claim(request: object): void;
}

const KEY = Symbol.for('opentelemetry-instrumentation-llm-gateway.transports.v1');

export const shared: SharedTransportState = ((globalThis as Record<symbol, SharedTransportState | undefined>)[KEY] ??= {
  sending: 0,
  fetchCall: undefined,
  undiciRequests: new WeakSet(),
  httpRequests: new WeakSet(),
});

export function isInsideObservedCall(): boolean {
  return shared.sending > 0;
}

/**
 * Runs the layer below a transport for a call: in the call's context (its span the parent of the
 * HTTP span an HTTP instrumentation starts there), marked as an observed call being sent.
 */
export function sendObserved<T>(call: { readonly context: Context }, send: () => T): T {
  shared.sending++;
  try {
    return contextApi.with(call.context, send);
  } finally {
    shared.sending--;
  }
}
