import { context as contextApi, diag, type DiagLogger } from '@opentelemetry/api';
import * as diagnosticsChannel from 'node:diagnostics_channel';
import type { CallStart, GatewayCall } from '../call';
import type { RequestHeaders } from '../facts';
import { authorityOfUrl, operationOf } from '../gateway';
import { guarded } from '../guard';
import { parseRequestBody } from '../parse/request';
import type { RequestInfo } from '../parse/types';
import type { TransportHost } from './host';
import { responseHeadOfRaw } from './raw-headers';
import { RequestBodySample } from './request-body';
import { isInsideObservedCall, shared } from './shared';
import { SideDecoder } from './side-decoder';

/**
 * Observes gateway requests made through undici, Node's fetch and every npm copy of undici
 * (`fetch`, `request`, `stream`, `pipeline`, any dispatcher), through the diagnostics channels
 * undici publishes for every request. Nothing of the application's is wrapped or touched: the
 * Response, its prototype and its body stream stay exactly as undici made them.
 *
 * From undici 7.11 (Node 24.4) the body channels carry the bytes of both directions as they
 * cross the wire, so a body the application never reads (an SDK retrying a 429) still gives its
 * request_id. Older undici (Node 22) publishes the rest: such a request gets a span with its
 * status and headers, but no body facts.
 */

/** undici's request object as its channels publish it (every copy since 6.x). */
interface UndiciRequest {
  readonly origin?: unknown;
  readonly path?: unknown;
  readonly method?: unknown;
  /** A flat `[name, value, ...]` array (6.x, 7.x), or one string (5.x). */
  readonly headers?: unknown;
  /** A string or bytes for `undici.request()` bodies; an async iterable for fetch. */
  readonly body?: unknown;
}

/**
 * Node's own undici publishes the body channels: fetch responses are then observed at the wire
 * and left untouched, and the fetch wrapper only starts the span.
 */
export const NODE_UNDICI_PUBLISHES_BODIES = versionAtLeast(process.versions.undici, 7, 11);

/** One gateway request, in the order undici announces it. */
class ObservedUndiciRequest {
  /** Set when the call does not know its request body yet: learnt from the bytes sent. */
  private requestSample: RequestBodySample | undefined;
  private decoder: SideDecoder | undefined;
  private encoded = false;
  private headArrived = false;

  constructor(
    private readonly host: TransportHost,
    private readonly call: GatewayCall,
    /** The fetch's signal, when the fetch wrapper saw the call: an abort, not a cancel. */
    private readonly signal: AbortSignal | undefined,
    needsRequestBody: boolean,
  ) {
    if (needsRequestBody) this.requestSample = new RequestBodySample(host.captureMessageContent);
    // undici hands the body channel fresh buffers it never reuses.
    call.chunksAreStable();
  }

  /** 1st message (undici >= 7.11): a chunk of the request body, as written. */
  bodyChunkSent(chunk: unknown): void {
    this.requestSample?.add(chunk, undefined);
  }

  /** 2nd: the request body is sent: the model and request attributes are known. */
  bodySent(): void {
    const sample = this.requestSample;
    if (sample === undefined) return;
    this.requestSample = undefined;
    const request = sample.requestInfo();
    if (request !== undefined) this.call.requestBody(request);
  }

  /** 3rd: the response head. */
  headers(statusCode: number, rawHeaders: unknown): void {
    this.bodySent();
    this.headArrived = true;
    const head = responseHeadOfRaw(rawHeaders);
    this.call.responseHead(statusCode, head);
    const encoding = head.contentEncoding;
    if (encoding !== undefined) {
      this.encoded = true;
      // The body channel carries the bytes as they arrived, still compressed.
      const call = this.call;
      this.decoder = SideDecoder.for(encoding, (chunk) => call.bodyChunk(chunk), this.host.diag);
    }
  }

  /** 4th (undici >= 7.11): a chunk of the response body, as received. */
  bodyChunkReceived(chunk: unknown): void {
    if (!(chunk instanceof Uint8Array) || this.call.isEnded) return;
    if (!this.encoded) {
      this.call.bodyChunk(chunk);
      return;
    }
    this.call.compressedBodyChunk();
    this.decoder?.write(chunk);
  }

  /** 5th: the whole response body was received. */
  trailers(): void {
    const decoder = this.decoder;
    if (decoder === undefined) {
      this.call.bodyEnd();
      return;
    }
    decoder.end();
    decoder.whenDone(() => this.call.bodyEnd());
  }

  /** Instead of the rest: the request failed, was aborted or cancelled, or its body dropped. */
  error(error: unknown): void {
    this.decoder?.destroy();
    if (error === GARBAGE_COLLECTED) {
      this.call.abandon('unread');
    } else if (this.isCancel(error)) {
      this.call.cancel();
    } else {
      this.call.fail(error);
    }
  }

  /**
   * The application's own `body.cancel()` (or a `break` out of `for await`) reaches undici as an
   * abort with the cancel's reason: undici's default AbortError, or whatever reason was given.
   * A signal's abort arrives the same way, with the signal's reason. When the fetch wrapper saw
   * the call, that reason tells them apart; otherwise only undici's own default (after the
   * response head) is taken for a cancel.
   */
  private isCancel(error: unknown): boolean {
    if (!this.headArrived) return false;
    // A signal's abort arrives with the signal's own reason; a cancel (even one an SDK follows
    // with an abort of its own signal, as the openai SDK does on `break`) with another.
    if (this.signal !== undefined)
      return !(this.signal.aborted && error === this.signal.reason) && !hasErrorCode(error);
    return typeof error === 'string' || (isAbortError(error) && (error as Error).message === UNDICI_CANCEL_MESSAGE);
  }
}

/** The reason undici gives when a Response is garbage collected before its body was read. */
const GARBAGE_COLLECTED = 'Response object has been garbage collected';
/** The message of undici's own AbortError, used when a body is cancelled without a reason. */
const UNDICI_CANCEL_MESSAGE = 'The operation was aborted.';

const observed = new WeakMap<object, ObservedUndiciRequest>();
/** The enabled instances of this copy; the channels are subscribed while there is one. */
const hosts = new Set<TransportHost>();
const channelDiag: DiagLogger = diag.createComponentLogger({ namespace: 'opentelemetry-instrumentation-llm-gateway' });

/**
 * Starts observing `request` for `call`: the fetch wrapper calls this for the request undici
 * created synchronously inside the original fetch.
 */
export function observeUndiciRequest(
  host: TransportHost,
  request: object,
  call: GatewayCall,
  signal: AbortSignal | undefined,
  needsRequestBody: boolean,
): void {
  observed.set(request, new ObservedUndiciRequest(host, call, signal, needsRequestBody));
}

/** Subscribes `host` to undici's channels; returns the function that undoes it. */
export function installUndiciTransport(host: TransportHost): () => void {
  hosts.add(host);
  if (hosts.size === 1) for (const [name, handler] of SUBSCRIPTIONS) diagnosticsChannel.subscribe(name, handler);
  return () => {
    if (!hosts.delete(host) || hosts.size > 0) return;
    for (const [name, handler] of SUBSCRIPTIONS) diagnosticsChannel.unsubscribe(name, handler);
  };
}

type Message = {
  request: UndiciRequest & object;
  chunk?: unknown;
  response?: { statusCode: number; headers: unknown };
  error?: unknown;
};

function onCreate({ request }: Message): void {
  if (request.method === 'CONNECT' || shared.undiciRequests.has(request)) return;
  const fetchCall = shared.fetchCall;
  if (fetchCall !== undefined) {
    // Created synchronously inside a fetch the wrapper is observing: that call's request.
    shared.fetchCall = undefined;
    shared.undiciRequests.add(request);
    fetchCall.claim(request);
    return;
  }
  if (isInsideObservedCall()) return;
  const authority = authorityOfUndiciRequest(request);
  if (authority === undefined) return;
  for (const host of hosts) {
    const region = host.regionOf(authority);
    if (region === undefined) continue;
    shared.undiciRequests.add(request);
    startCall(host, request, region);
    return;
  }
}

/** A request the fetch wrapper did not see: a fetch captured before enable(), npm undici. */
function startCall(host: TransportHost, request: UndiciRequest & object, region: string): void {
  const url = urlOfUndiciRequest(request);
  const method = typeof request.method === 'string' ? request.method : 'GET';
  const body = request.body;
  // undici.request() hands its string or bytes body over as is; fetch's is a stream, learnt
  // from the bytes sent.
  const requestInfo =
    typeof body === 'string' || body instanceof Uint8Array
      ? requestInfoOf(body, host.captureMessageContent)
      : undefined;
  const start: CallStart = {
    method,
    url,
    region,
    operation: operationOf(method, url.pathname),
    request: requestInfo,
    requestHeaders: requestHeadersOf(request),
  };
  const call = host.startCall(start, contextApi.active());
  observed.set(request, new ObservedUndiciRequest(host, call, undefined, requestInfo === undefined));
}

function requestInfoOf(body: string | Uint8Array, captureContent: boolean): RequestInfo {
  return parseRequestBody(typeof body === 'string' ? body : utf8.decode(body), captureContent);
}
const utf8 = new TextDecoder();

const SUBSCRIPTIONS: [string, (message: unknown) => void][] = (
  [
    ['undici:request:create', onCreate],
    ['undici:request:bodyChunkSent', ({ request, chunk }) => observed.get(request)?.bodyChunkSent(chunk)],
    ['undici:request:bodySent', ({ request }) => observed.get(request)?.bodySent()],
    [
      'undici:request:headers',
      ({ request, response }) => observed.get(request)?.headers(response!.statusCode, response!.headers),
    ],
    ['undici:request:bodyChunkReceived', ({ request, chunk }) => observed.get(request)?.bodyChunkReceived(chunk)],
    ['undici:request:trailers', ({ request }) => observed.get(request)?.trailers()],
    ['undici:request:error', ({ request, error }) => observed.get(request)?.error(error)],
  ] as [string, (message: Message) => void][]
).map(([name, handler]) => [
  name,
  guarded(channelDiag, `observing ${name} failed`, handler as (message: unknown) => void),
]);

/**
 * `host[:port]` the request goes to: its origin, or, through a forward proxy that is sent
 * absolute URLs, the URL in its path.
 */
function authorityOfUndiciRequest(request: UndiciRequest): string | undefined {
  const path = request.path;
  if (typeof path === 'string' && !path.startsWith('/')) return authorityOfUrl(path);
  const origin = originOf(request);
  return origin === undefined ? undefined : authorityOfUrl(origin);
}

function urlOfUndiciRequest(request: UndiciRequest): URL {
  const path = typeof request.path === 'string' ? request.path : '/';
  return new URL(path, originOf(request));
}

/** undici gives the origin as a string (a URL in some versions). */
function originOf(request: UndiciRequest): string | undefined {
  const origin = request.origin;
  return typeof origin === 'string' ? origin : origin instanceof URL ? origin.origin : undefined;
}

/** The request's headers (a flat array, or one string in old undici), read only when asked. */
function requestHeadersOf(request: UndiciRequest): RequestHeaders {
  const pairs = (): [string, string][] => {
    const raw = request.headers;
    const out: [string, string][] = [];
    if (Array.isArray(raw)) {
      for (let i = 0; i + 1 < raw.length; i += 2) out.push([String(raw[i]).toLowerCase(), String(raw[i + 1])]);
    } else if (typeof raw === 'string') {
      for (const line of raw.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) out.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
      }
    }
    return out;
  };
  return {
    names: () => pairs().map(([name]) => name),
    get: (name) => pairs().find(([key]) => key === name)?.[1],
  };
}

function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}

function hasErrorCode(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string';
}

function versionAtLeast(version: string | undefined, major: number, minor: number): boolean {
  if (version === undefined) return false;
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}
