import type { ConsumedBody, GatewayCall } from '../call';
import {
  ReadableStream as WebReadableStream,
  type ReadableStreamDefaultReader,
  type ReadableStreamReadResult,
} from 'node:stream/web';
import { responseHeadOf } from '../parse/headers';
import type { TransportHost } from './host';

/**
 * Observes a fetch Response where undici does not publish its body (Node 22, or a fetch that is
 * not undici's): the application's own Response object (same identity, headers, internal body;
 * still `instanceof Response`) gets a prototype of its own that shadows the ways to read a body.
 */

/** One installation of the fetch wrapper: the fetch it wraps, and what it learned about it. */
export interface FetchTransport {
  readonly host: TransportHost;
  readonly original: typeof globalThis.fetch;
  /** The wrapped fetch turned out not to return Node's Responses (a polyfill): pass through. */
  foreign: boolean;
}

/** Waits for the response head, then observes the body through the tap. */
export async function observeResponseTap(
  transport: FetchTransport,
  pending: Promise<Response>,
  call: GatewayCall,
): Promise<Response> {
  let response: Response;
  try {
    response = await pending;
  } catch (error) {
    call.fail(error);
    throw error;
  }
  return observeResponse(transport, response, call);
}

// Statuses whose Response may not be constructed with a body (fetch spec, "null body status").
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** A response body and its clones: they carry the same bytes to the same call. */
interface SharedBody {
  readonly call: GatewayCall;
  /** How many body bytes the call was handed, by whichever copy was read furthest. */
  fed: number;
  /** Copies (the response, its clones, or the `body` streams handed out) still reachable. */
  live: number;
}

/**
 * Ends a call whose body became unreachable before it was read to the end, once every copy
 * of it has: a Response is registered until the application takes its `body`, then the
 * stream is (an application may keep reading `response.body` after dropping the Response).
 */
const unreadBodies = new FinalizationRegistry<SharedBody>((shared) => {
  if (--shared.live === 0) shared.call.abandon('unread');
});

function observeResponse(transport: FetchTransport, response: Response, call: GatewayCall): Response {
  try {
    call.responseHead(
      response.status,
      responseHeadOf((name) => response.headers.get(name)),
    );
    if (Object.getPrototypeOf(response) !== Response.prototype) {
      // A global fetch replaced by a polyfill (node-fetch) returns its own Response class,
      // whose body cannot be observed from here. Its requests go through node:http, where
      // the http transport sees them whole: let it, from the next call on.
      transport.host.diag.debug(
        'llm-gateway: globalThis.fetch does not return Node Responses; leaving its calls to the http transport',
      );
      transport.foreign = true;
      call.bodyEnd();
      return response;
    }
    if (response.body === null || NULL_BODY_STATUSES.has(response.status)) {
      call.bodyEnd();
      return response;
    }
    observeBody(response, { call, fed: 0, live: 0 });
  } catch (error) {
    transport.host.diag.error('llm-gateway: could not observe a response body; passing it through', error);
    call.bodyEnd();
  }
  return response;
}

/** Per observed Response: the body it shares with its clones, and the tap handed out as `body`. */
interface ObservedBody {
  readonly shared: SharedBody;
  tap: ReadableStream<Uint8Array> | undefined;
}
const observedBodies = new WeakMap<Response, ObservedBody>();

/**
 * Observes the body of the application's own Response object (same identity, headers,
 * internal body; still `instanceof Response`) by giving it a prototype that sits on top of
 * Response.prototype and shadows the ways to read a body. One prototype change per response
 * is far cheaper than defining properties on each one.
 */
function observeBody(response: Response, shared: SharedBody): void {
  observedBodies.set(response, { shared, tap: undefined });
  Object.setPrototypeOf(response, observedResponsePrototype);
  shared.live++;
  unreadBodies.register(response, shared, response);
}

// The native methods, taken before they are shadowed, and always called on a Response.
// eslint-disable-next-line @typescript-eslint/unbound-method -- a getter, called with Reflect.apply on a Response
const nativeBody = Object.getOwnPropertyDescriptor(Response.prototype, 'body')!.get as (
  this: Response,
) => ReadableStream<Uint8Array> | null;
const nativeClone = Response.prototype.clone;

/**
 * `json()`/`text()`/`arrayBuffer()`/`bytes()` call the native method and look at what it
 * returns: no copy and no second read. `body` hands out a pass-through tap over the native
 * stream, created on first access; it locks the native stream only at the first read.
 */
const observedResponsePrototype = Object.create(Response.prototype, {
  ...readWhole('json', (json: unknown) => ({ json })),
  ...readWhole('text', (text: string) => ({ text })),
  ...readWhole('arrayBuffer', (buffer: ArrayBuffer) => ({ bytes: new Uint8Array(buffer) })),
  // `bytes()` is newer than some Node 22 releases: readWhole shadows only what exists.
  ...readWhole('bytes', (bytes: Uint8Array) => ({ bytes })),
  ...readWhole('blob', () => undefined),
  ...readWhole('formData', () => undefined),
  body: {
    configurable: true,
    get(this: Response) {
      const observed = observedBodies.get(this);
      return observed === undefined ? Reflect.apply(nativeBody, this, []) : tapOf(this, observed);
    },
  },
  clone: {
    configurable: true,
    writable: true,
    value: function clone(this: Response): Response {
      const copy = Reflect.apply(nativeClone, this, []);
      const observed = observedBodies.get(this);
      if (observed !== undefined) {
        // clone() tees the native stream: a tap not yet read would sit on a locked stream.
        observed.tap = undefined;
        observeBody(copy, observed.shared);
      }
      return copy;
    },
  },
}) as object;

/** The tap over a response's native body stream, created once. */
function tapOf(response: Response, observed: ObservedBody): ReadableStream<Uint8Array> {
  if (observed.tap === undefined) {
    observed.tap = tapBody(Reflect.apply(nativeBody, response, [])!, observed.shared);
    // From now on the application may hold the stream without the Response: the stream
    // stands for this copy (a Response whose tap was replaced after clone() keeps both).
    if (unreadBodies.unregister(response)) unreadBodies.register(observed.tap, observed.shared);
    else {
      observed.shared.live++;
      unreadBodies.register(observed.tap, observed.shared);
    }
  }
  return observed.tap;
}

type BodyReader = 'arrayBuffer' | 'blob' | 'bytes' | 'formData' | 'json' | 'text';

function readWhole(name: BodyReader, toBody: (value: never) => ConsumedBody | undefined): PropertyDescriptorMap {
  const native = (Response.prototype as unknown as Record<string, ((this: Response) => Promise<unknown>) | undefined>)[
    name
  ];
  if (typeof native !== 'function') return {};
  const read = function (this: Response): Promise<unknown> {
    const observed = observedBodies.get(this);
    if (observed === undefined) return Reflect.apply(native, this, []);
    // The native stream is locked only when the tap is first read: a tap the application
    // holds a reader of must make this read fail as it would natively.
    if (observed.tap?.locked) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
    const { call } = observed.shared;
    if (call.isEventStream) {
      // An event stream read whole still passes through the tap chunk by chunk, so the
      // first chunk is timed; the native reader then decodes exactly as it would have.
      try {
        return Reflect.apply(native, new Response(tapOf(this, observed), { headers: this.headers }), []);
      } catch (error) {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rejects with what the native read threw
        return Promise.reject(error);
      }
    }
    if (name === 'json') return readJson(this, call);
    const result = Reflect.apply(native, this, []);
    result.then(
      (value) => {
        const body = toBody(value as never);
        if (body === undefined) call.bodyEnd();
        else call.bodyRead(body);
      },
      // A body read to the end that is not JSON (a proxy's HTML page) is not a failed call.
      (error: unknown) => (isSyntaxError(error) ? call.bodyEnd() : call.fail(error)),
    );
    return result;
  };
  Object.defineProperty(read, 'name', { value: name });
  return { [name]: { configurable: true, writable: true, value: read } };
}

const nativeText = Response.prototype.text;

/**
 * json() is JSON.parse of the UTF-8 text of the body, as text() decodes it (fetch spec, "parse
 * JSON from bytes"). Taking the two steps here gives the application the same value or the
 * same SyntaxError, and keeps the text of a body that is not JSON (a cut body, a proxy's page)
 * for what it can still tell.
 */
function readJson(response: Response, call: GatewayCall): Promise<unknown> {
  return Reflect.apply(nativeText, response, []).then(
    (text) => {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        call.bodyRead({ text });
        throw error;
      }
      call.bodyRead({ json: value });
      return value;
    },
    (error: unknown) => {
      call.fail(error);
      throw error;
    },
  );
}

function isSyntaxError(error: unknown): boolean {
  return error instanceof SyntaxError;
}

/**
 * A pass-through byte stream over the original body. It pulls only when the application
 * pulls (highWaterMark 0), so there is no read-ahead and no buffering, and the same bytes
 * reach the application at the same pace. A byte stream, like fetch's own body, so BYOB
 * readers keep working. No tee()/clone(): an unread branch would buffer without bound.
 */
export function tapBody(source: ReadableStream<Uint8Array>, shared: SharedBody): ReadableStream<Uint8Array> {
  const { call } = shared;
  // Locked at the first read, not before: taking `body` alone must not make json() fail.
  let sourceReader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let offset = 0;
  const reader = () => (sourceReader ??= source.getReader());
  // node:stream/web's ReadableStream is the global one; its typings know byte streams.
  const tap = new WebReadableStream(
    {
      type: 'bytes',
      async pull(controller) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader().read();
        } catch (error) {
          call.fail(error);
          controller.error(error);
          return;
        }
        if (result.done) {
          controller.close();
          // A BYOB read pending at the end must be answered with zero bytes.
          controller.byobRequest?.respond(0);
          call.bodyEnd();
          return;
        }
        // Observe before enqueue: a byte stream transfers (detaches) the chunk's buffer.
        // A response and its clones each pass every byte: the call is handed each byte once,
        // in order, or the parsers would see two interleaved copies of one stream.
        const chunk = result.value;
        const end = offset + chunk.byteLength;
        if (end > shared.fed) {
          call.bodyChunk(shared.fed > offset ? chunk.subarray(shared.fed - offset) : chunk);
          shared.fed = end;
        }
        offset = end;
        controller.enqueue(chunk);
      },
      cancel(reason) {
        call.cancel();
        return reader().cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return tap;
}
