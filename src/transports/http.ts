import { context as contextApi, type Context } from '@opentelemetry/api';
import * as diagnosticsChannel from 'node:diagnostics_channel';
import { errorMonitor } from 'node:events';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeader } from 'node:http';
import type { CallStart, GatewayCall } from '../call';
import type { TransportHost } from './host';
import { authorityOfClientRequest, operationOf } from '../gateway';
import { responseHeadOf } from '../parse/headers';
import type { RequestHeaders } from '../facts';
import { EntryPointWrappers, type AnyMethod, type EntryTarget } from './http-entry-points';
import { RequestBodySample } from './request-body';
import { isInsideObservedCall, sendObserved, shared } from './shared';
import { SideDecoder } from './side-decoder';
import { guard, guarded } from '../guard';

export { noteHttpModuleLoaded } from './http-entry-points';

// Published in the ClientRequest constructor (Node >= 22.12, so on every supported Node),
// before any write, in the caller's context.
const REQUEST_CREATED = 'http.client.request.created';
// Published once the response head is parsed, before `'response'` is emitted and before the
// first body chunk is pushed.
const RESPONSE_FINISH = 'http.client.response.finish';

const observedRequests = new WeakMap<ClientRequest, ObservedRequest>();

/**
 * Ends a call whose response is dropped unread. The request is registered: it and its
 * response reference each other (`req.res`, `res.req`), so it lives as long as either is used.
 */
const unreadRequests = new FinalizationRegistry<GatewayCall>((call) => call.abandon('unread'));

/**
 * Observes gateway calls made with node:http and node:https (axios, node-fetch v2, the openai
 * v4 SDK, `https.request`) through diagnostics channels: the request body through the
 * request's own write/end, the response body through its push(), never consuming either.
 * Returns the function that undoes it.
 */
export function installHttpTransport(host: TransportHost): () => void {
  let pendingEntryCall: PendingEntryCall | undefined;
  let warnedAboutNesting = false;

  const onRequestCreated = (message: unknown): void => {
    const request = (message as { request: ClientRequest }).request;
    const entry = pendingEntryCall;
    if (entry !== undefined) {
      pendingEntryCall = undefined;
      entry.adopt(request);
      observeRequest(host, request, entry.region, entry.call);
      return;
    }
    const region = host.regionOf(authorityOfClientRequest(request));
    if (region === undefined || isInsideObservedCall()) return;
    if (entryPoints.keepOnTop() && !warnedAboutNesting) {
      warnedAboutNesting = true;
      host.diag.warn(
        'llm-gateway: node:http was wrapped by another instrumentation after this one was enabled; ' +
          'wrapped it again so that gateway calls are the parents of its HTTP spans. Calls made before ' +
          'this one may have their GenAI span under the HTTP span. Register this instrumentation last to avoid it.',
      );
    }
    observeRequest(host, request, region, undefined);
  };

  const onResponseFinish = (message: unknown): void => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    const observed = observedRequests.get(request);
    // Every enabled instance subscribes: the one that took the request observes its response.
    if (observed?.host === host) observed.responseArrived(response);
  };

  /** Starts a call before the wrapped entry point runs, so spans started inside are its children. */
  const runEntryCall = (target: EntryTarget | undefined, send: () => unknown): unknown => {
    const region = target === undefined ? undefined : host.regionOf(target.authority);
    if (target === undefined || region === undefined || isInsideObservedCall()) return send();
    let created: WeakRef<ClientRequest> | undefined;
    let call: GatewayCall | undefined;
    try {
      const { url, method } = target.describe();
      call = host.startCall({
        method,
        url,
        region,
        operation: operationOf(method, url.pathname),
        // Written after the request is created: the call learns it at end().
        request: undefined,
        requestHeaders: headersOf(() => created?.deref()),
      });
    } catch (error) {
      host.diag.error('llm-gateway: could not start a span for a node:http call', error);
    }
    if (call === undefined) return send();
    const entry: PendingEntryCall = { call, region, adopt: (request) => (created = new WeakRef(request)) };
    pendingEntryCall = entry;
    try {
      return sendObserved(call, send);
    } catch (error) {
      call.fail(error);
      throw error;
    } finally {
      if (pendingEntryCall === entry) {
        // Something under us returned without creating a ClientRequest (a mock, an interceptor).
        pendingEntryCall = undefined;
        host.diag.debug('llm-gateway: a node:http entry point created no ClientRequest; ending its span');
        call.cancel();
      }
    }
  };

  const entryPoints = new EntryPointWrappers(runEntryCall);
  const subscriptions: [string, (message: unknown) => void][] = [
    [REQUEST_CREATED, guarded(host.diag, `observing ${REQUEST_CREATED} failed`, onRequestCreated)],
    [RESPONSE_FINISH, guarded(host.diag, `observing ${RESPONSE_FINISH} failed`, onResponseFinish)],
  ];
  for (const [name, handler] of subscriptions) diagnosticsChannel.subscribe(name, handler);
  entryPoints.keepOnTop();

  return () => {
    for (const [name, handler] of subscriptions) diagnosticsChannel.unsubscribe(name, handler);
    entryPoints.uninstall();
  };
}

/** A call started by an entry-point wrapper, waiting for its ClientRequest to be created. */
interface PendingEntryCall {
  call: GatewayCall;
  region: string;
  adopt(request: ClientRequest): void;
}

function observeRequest(
  host: TransportHost,
  request: ClientRequest,
  region: string,
  call: GatewayCall | undefined,
): void {
  // A second enabled instance (or copy) of the instrumentation sees the same channel message.
  if (shared.httpRequests.has(request)) return;
  shared.httpRequests.add(request);
  try {
    observedRequests.set(request, new ObservedRequest(host, request, region, call));
  } catch (error) {
    host.diag.error('llm-gateway: could not observe a node:http request', error);
    call?.bodyEnd();
  }
}

/**
 * One gateway request and its response. Everything it attaches (instance methods, listeners,
 * errorMonitor rather than 'error') leaves the application's view of the streams unchanged:
 * no flowing-mode switch, no swallowed error, no listener that Node's own logic counts.
 */
class ObservedRequest {
  private readonly requestBody: RequestBodySample;
  /** The context the request was created in: the parent of a call started later, at end(). */
  private readonly parent: Context = contextApi.active();
  private startAttempted = false;
  private response: IncomingMessage | undefined;
  private decoder: SideDecoder | undefined;
  private responseEnded = false;
  private timedOut = false;
  private abortedByApplication = false;
  private cancelledByApplication = false;

  constructor(
    readonly host: TransportHost,
    private readonly request: ClientRequest,
    private readonly region: string,
    private call: GatewayCall | undefined,
  ) {
    this.requestBody = new RequestBodySample(host.captureMessageContent);
    if (call !== undefined) {
      this.startAttempted = true;
      unreadRequests.register(request, call);
    }
    const bodyWritten = (chunk: unknown, encoding: unknown) => this.guard(() => this.requestBody.add(chunk, encoding));
    const bodyEnded = (chunk: unknown, encoding: unknown) =>
      this.guard(() => {
        if (typeof chunk !== 'function') this.requestBody.add(chunk, encoding);
        this.requestComplete();
      });
    // destroy() without an error (or with an AbortError, as Node passes for a signal) is the
    // application giving up: the socket errors that follow are its consequence, not the cause.
    const destroyed = (error: unknown) => {
      if (error == null || isAbortError(error)) this.abortedByApplication = true;
    };
    wrapInstanceMethod(
      request,
      'write',
      (write) =>
        function (this: unknown, ...args: unknown[]) {
          bodyWritten(args[0], args[1]);
          return Reflect.apply(write, this, args);
        },
    );
    wrapInstanceMethod(
      request,
      'end',
      (end) =>
        function (this: unknown, ...args: unknown[]) {
          bodyEnded(args[0], args[1]);
          return Reflect.apply(end, this, args);
        },
    );
    wrapInstanceMethod(
      request,
      'destroy',
      (destroy) =>
        function (this: unknown, ...args: unknown[]) {
          destroyed(args[0]);
          return Reflect.apply(destroy, this, args);
        },
    );
    request.on(errorMonitor, (error) => this.failed(error));
    request.on('timeout', () => {
      this.timedOut = true;
    });
    request.on('close', () => {
      // After a response, the response's own events tell how the call ended.
      if (this.response === undefined) this.failed(undefined);
    });
  }

  /** end() was called: the request body is known. */
  private requestComplete(): void {
    if (this.call !== undefined) {
      const request = this.requestBody.requestInfo();
      if (request !== undefined) this.call.requestBody(request);
      return;
    }
    this.ensureCall();
  }

  /** The response head was parsed; no body chunk has been pushed yet. */
  responseArrived(response: IncomingMessage): void {
    this.response = response;
    const call = this.ensureCall();
    // Ended already: the duration cap passed before the gateway answered.
    if (call === undefined || call.isEnded) return;
    const head = responseHeadOf((name) => headerValue(response.headers[name]));
    call.responseHead(response.statusCode ?? 0, head);
    const encoding = head.contentEncoding;
    if (encoding !== undefined) {
      // An encoding we cannot decode: the span still gets everything but the body's content.
      this.decoder = SideDecoder.for(encoding, (chunk) => call.bodyChunk(chunk), this.host.diag);
    }
    // The parser hands every body slice to push() (and null at the end): wrapping it sees the
    // body as it arrives without a 'data' listener, so the flowing mode stays the application's.
    const bodyPushed = (chunk: unknown) => this.guard(() => this.bodyArrived(chunk, encoding));
    const destroyed = (error: unknown) => {
      if (error == null) this.cancelledByApplication = true;
    };
    wrapInstanceMethod(
      response,
      'push',
      (push) =>
        function (this: unknown, ...args: unknown[]) {
          bodyPushed(args[0]);
          return Reflect.apply(push, this, args);
        },
    );
    wrapInstanceMethod(
      response,
      'destroy',
      (destroy) =>
        function (this: unknown, ...args: unknown[]) {
          destroyed(args[0]);
          return Reflect.apply(destroy, this, args);
        },
    );
    response.on('end', () => this.responseEnd(call));
    response.on(errorMonitor, (error) => this.failed(error));
    response.on('close', () => this.responseClosed(call));
  }

  /** Runs observer code inside the application's write/end and Node's parser: it must not throw there. */
  private guard(fn: () => void): void {
    guard(this.host.diag, 'observing a node:http call failed', fn);
  }

  private bodyArrived(chunk: unknown, encoding: string | undefined): void {
    if (chunk === null) {
      this.decoder?.end();
      return;
    }
    const call = this.call;
    if (call === undefined || call.isEnded || !(chunk instanceof Uint8Array)) return;
    if (!encoding || encoding === 'identity') {
      call.bodyChunk(chunk);
      return;
    }
    call.compressedBodyChunk();
    this.decoder?.write(chunk);
  }

  /** The application read the whole body. */
  private responseEnd(call: GatewayCall): void {
    this.responseEnded = true;
    if (this.decoder !== undefined) this.decoder.whenDone(() => call.bodyEnd());
    else call.bodyEnd();
  }

  private responseClosed(call: GatewayCall): void {
    if (this.responseEnded) return;
    this.decoder?.destroy();
    if (this.cancelledByApplication && !this.abortedByApplication) call.cancel();
    else this.failed(undefined);
  }

  private failed(error: unknown): void {
    const call = this.ensureCall();
    if (call === undefined || call.isEnded) return;
    this.decoder?.destroy();
    call.fail(this.failureCause(error));
  }

  /** Names the cause as the application would: its timeout, its abort, else what the socket said. */
  private failureCause(error: unknown): unknown {
    const message = error instanceof Error ? error.message : undefined;
    if (this.timedOut || isClientTimeout(error)) return namedError('TimeoutError', message ?? 'the request timed out');
    if ((this.abortedByApplication || isClientCancel(error)) && !isAbortError(error)) {
      return namedError('AbortError', message ?? 'the request was aborted');
    }
    if (error !== undefined) return error;
    return Object.assign(new Error('the connection closed before the response was complete'), { code: 'ECONNRESET' });
  }

  /** The call, started now (in the request's creation context) if the body path has not yet. */
  private ensureCall(): GatewayCall | undefined {
    if (this.startAttempted) return this.call;
    this.startAttempted = true;
    try {
      const request = this.request;
      const url = urlOfRequest(request);
      const method = request.method;
      const start: CallStart = {
        method,
        url,
        region: this.region,
        operation: operationOf(method, url.pathname),
        request: this.requestBody.requestInfo(),
        requestHeaders: headersOf(weakly(request)),
      };
      this.call = contextApi.with(this.parent, () => this.host.startCall(start));
      if (this.call !== undefined) unreadRequests.register(request, this.call);
    } catch (error) {
      this.host.diag.error('llm-gateway: could not start a span for a node:http call', error);
    }
    return this.call;
  }
}

function urlOfRequest(request: ClientRequest): URL {
  // Through a forward proxy the path is the absolute URL, which then wins over the base.
  return new URL(request.path, `${request.protocol}//${authorityOfClientRequest(request)}`);
}

/**
 * The request's headers, read only when diagnostics ask. The call must not keep the request
 * alive: the finalization registry that ends unread calls holds the call.
 */
function headersOf(request: () => ClientRequest | undefined): RequestHeaders {
  return {
    names: () => request()?.getHeaderNames() ?? [],
    get: (name) => headerValue(request()?.getHeader(name)),
  };
}

function weakly<T extends object>(value: T): () => T | undefined {
  const ref = new WeakRef(value);
  return () => ref.deref();
}

function headerValue(value: OutgoingHttpHeader | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}

/**
 * A client library's own timeout, given as the reason it destroyed the request. axios runs a
 * wall-clock timer of its own and reports `ECONNABORTED` "timeout of N ms exceeded"
 * (`ETIMEDOUT` with clarifyTimeoutError), so Node's 'timeout' event may never fire.
 */
function isClientTimeout(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    code === 'ETIMEDOUT' || (code === 'ECONNABORTED' && typeof message === 'string' && /\btimeout\b/i.test(message))
  );
}

/** A client library's cancellation (axios `CanceledError`, code `ERR_CANCELED`). */
function isClientCancel(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_CANCELED';
}

function namedError(name: 'AbortError' | 'TimeoutError', message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** Replaces a method on one object (not its prototype), calling the one it shadows. */
function wrapInstanceMethod<T extends object>(target: T, name: string, wrap: (original: AnyMethod) => AnyMethod): void {
  const original = (target as Record<string, unknown>)[name];
  if (typeof original !== 'function') return;
  Object.defineProperty(target, name, { configurable: true, writable: true, value: wrap(original as AnyMethod) });
}
