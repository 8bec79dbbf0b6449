import type { GatewayCall } from '../call';
import type { RequestHeaders } from '../facts';
import { authorityOfUrl, operationOf } from '../gateway';
import { MAX_CAPTURED_REQUEST_CHARS, MAX_PARSED_REQUEST_CHARS } from '../parse/limits';
import { parseRequestBody } from '../parse/request';
import type { RequestInfo } from '../parse/types';
import { observeResponseTap, type FetchTransport } from './fetch-tap';
import type { TransportHost } from './host';
import { isInsideObservedCall, sendObserved, shared, type UndiciRequestClaim } from './shared';
import { NODE_UNDICI_PUBLISHES_BODIES, observeUndiciRequest } from './undici';

type Fetch = typeof globalThis.fetch;
type FetchInput = Parameters<Fetch>[0];
type FetchInit = Parameters<Fetch>[1];

/**
 * Replaces `globalThis.fetch` with a wrapper that starts the span of each gateway call before
 * the request leaves (samplers see the model; the undici instrumentation's HTTP span becomes
 * its child), and returns the function that undoes it.
 *
 * Where Node's undici publishes the body channels (Node >= 24.4) the response is observed at
 * the wire (transports/undici.ts) and the application gets the very promise and Response fetch
 * made. Elsewhere (Node 22) the response is observed through a pass-through tap of its body
 * (transports/fetch-tap.ts).
 */
export function installFetchTransport(host: TransportHost): () => void {
  const original = globalThis.fetch;
  if (typeof original !== 'function') {
    host.diag.warn('llm-gateway: globalThis.fetch is not a function; fetch calls are not observed');
    return () => {};
  }
  let active = true;
  const transport: FetchTransport = { host, original, foreign: false };

  // The arguments are handed on exactly as received (their count included).
  const instrumentedFetch = function fetch(this: unknown, ...args: Parameters<Fetch>): Promise<Response> {
    if (!active || transport.foreign) return Reflect.apply(original, this, args);
    const region = regionOfInput(host, args[0]);
    if (region === undefined || isInsideObservedCall()) return Reflect.apply(original, this, args);
    return observeFetch(transport, this, args, region);
  };
  globalThis.fetch = instrumentedFetch;

  return () => {
    active = false;
    // Someone may have wrapped fetch after us: then the flag makes ours a pass-through.
    if (globalThis.fetch === instrumentedFetch) globalThis.fetch = original;
  };
}

function regionOfInput(host: TransportHost, input: FetchInput): string | undefined {
  let url: string;
  if (typeof input === 'string') url = input;
  else if (input instanceof URL) return host.regionOf(input.host);
  else if (input instanceof Request) url = input.url;
  else return undefined;
  const authority = authorityOfUrl(url);
  return authority === undefined ? undefined : host.regionOf(authority);
}

/** The undici request created synchronously inside the original fetch belongs to this call. */
class FetchCallClaim implements UndiciRequestClaim {
  claimed = false;

  constructor(
    private readonly host: TransportHost,
    private readonly call: GatewayCall,
    private readonly signal: AbortSignal | undefined,
    private readonly needsRequestBody: boolean,
  ) {}

  claim(request: object): void {
    this.claimed = true;
    if (NODE_UNDICI_PUBLISHES_BODIES)
      observeUndiciRequest(this.host, request, this.call, this.signal, this.needsRequestBody);
  }
}

function observeFetch(
  transport: FetchTransport,
  thisArg: unknown,
  args: Parameters<Fetch>,
  region: string,
): Promise<Response> {
  const { host, original } = transport;
  const [input, init] = args;
  let call: GatewayCall;
  let claim: FetchCallClaim;
  let requestBodyLater: Promise<RequestInfo | undefined> | undefined;
  try {
    const body = init?.body !== undefined && init.body !== null ? init.body : undefined;
    const request = body === undefined ? undefined : requestInfoFromBody(body, host);
    const requestObject = input instanceof Request ? input : undefined;
    const needsRequestBody = request === undefined && (body !== undefined || requestObject?.body != null);
    // Without the wire (Node 22), a Request's body is read from a clone, asynchronously: the
    // request leaves at once and the call learns the body when the clone's bytes are read.
    if (needsRequestBody && !NODE_UNDICI_PUBLISHES_BODIES && body === undefined)
      requestBodyLater = requestInfoFromRequest(requestObject!, host);
    const url = new URL(requestObject?.url ?? (typeof input === 'string' ? input : (input as URL).href));
    const method = (init?.method ?? requestObject?.method ?? 'GET').toUpperCase();
    call = host.startCall({
      method,
      url,
      region,
      operation: operationOf(method, url.pathname),
      request,
      requestHeaders: lazyRequestHeaders(input, init),
    });
    claim = new FetchCallClaim(host, call, init?.signal ?? requestObject?.signal ?? undefined, needsRequestBody);
  } catch (error) {
    // Only synchronous work before the request left can throw here: send it unobserved.
    host.diag.error('llm-gateway: could not observe a fetch call', error);
    return Reflect.apply(original, thisArg, args);
  }
  if (requestBodyLater !== undefined) void requestBodyLater.then((info) => info && call.requestBody(info));

  let response: Promise<Response>;
  try {
    response = sendObserved(call, () => {
      shared.fetchCall = claim;
      try {
        return Reflect.apply(original, thisArg, args);
      } finally {
        if (shared.fetchCall === claim) shared.fetchCall = undefined;
      }
    });
  } catch (error) {
    call.fail(error);
    throw error;
  }
  if (claim.claimed && NODE_UNDICI_PUBLISHES_BODIES) {
    // Observed at the wire: the application gets fetch's own promise. undici reports failures
    // on its error channel; this catches one that fails before undici could.
    response.then(undefined, (error: unknown) => call.fail(error));
    return response;
  }
  return observeResponseTap(transport, response, call);
}

function requestInfoFromBody(body: unknown, host: TransportHost): RequestInfo | undefined {
  try {
    if (typeof body === 'string') return parseRequestBody(body, host.captureMessageContent);
    if (body instanceof ArrayBuffer) return parseRequestBody(utf8.decode(body), host.captureMessageContent);
    if (ArrayBuffer.isView(body)) return parseRequestBody(utf8.decode(body as Uint8Array), host.captureMessageContent);
  } catch (error) {
    host.diag.debug('llm-gateway: could not read the request body', error);
  }
  return undefined;
}

const utf8 = new TextDecoder();

/**
 * The body of a Request, from a clone read only as far as the parser needs (the clone is a
 * tee branch: what it is not read of is not buffered for it once it is cancelled).
 */
async function requestInfoFromRequest(request: Request, host: TransportHost): Promise<RequestInfo | undefined> {
  const limit = host.captureMessageContent ? MAX_CAPTURED_REQUEST_CHARS : MAX_PARSED_REQUEST_CHARS;
  try {
    const reader: ReadableStreamDefaultReader<Uint8Array> = request.clone().body!.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    while (size <= limit) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.byteLength;
    }
    if (size > limit) void reader.cancel().catch(() => {});
    return parseRequestBody(utf8.decode(Buffer.concat(parts)), host.captureMessageContent);
  } catch (error) {
    host.diag.debug('llm-gateway: could not read the Request body', error);
    return undefined;
  }
}

/**
 * The headers fetch will send (init.headers replace a Request's), read only when asked: one
 * header straight from the application's object, all names (a copy) only for a failed call.
 * Only the headers are kept, not `init`: a call lives as long as its body and must not pin
 * the request body.
 */
function lazyRequestHeaders(input: FetchInput, init: FetchInit): RequestHeaders {
  const source = init?.headers ?? (input instanceof Request ? input.headers : undefined);
  return new FetchRequestHeaders(source);
}

class FetchRequestHeaders implements RequestHeaders {
  private copy: Headers | undefined;

  constructor(private readonly source: ConstructorParameters<typeof Headers>[0] | undefined) {}

  names(): string[] {
    return [...this.all().keys()];
  }

  get(name: string): string | undefined {
    const source = this.source;
    if (source === undefined || source === null) return undefined;
    if (source instanceof Headers) return source.get(name) ?? undefined;
    if (Array.isArray(source) || typeof (source as unknown as Iterable<unknown>)[Symbol.iterator] === 'function') {
      return this.all().get(name) ?? undefined;
    }
    // A plain object, the common case (SDKs and the docs' examples): no copy.
    for (const key in source) {
      if (key.length === name.length && key.toLowerCase() === name)
        return String((source as Record<string, unknown>)[key]);
    }
    return undefined;
  }

  private all(): Headers {
    return (this.copy ??= new Headers(this.source));
  }
}
