import { redactUrl } from './gateway';
import type { RateLimitInfo } from './parse/headers';
import type { RequestInfo, ResponseInfo } from './parse/types';
import type { LlmGatewayContext } from './types';

/** The request's headers as the transport sent them, read lazily and only for diagnostics. */
export interface RequestHeaders {
  names(): string[];
  get(name: string): string | undefined;
}

/** How a call ended. */
export type Outcome =
  | { kind: 'completed' }
  | { kind: 'failed'; error: unknown }
  | { kind: 'cancelled' }
  | { kind: 'abandoned'; why: 'unread' | 'max_duration' };

/**
 * Everything known about one finished call, gathered once by GatewayCall and handed to each
 * step that reports it (span, metrics, diagnostics, record). Times are performance.now() ms.
 */
export interface CallFacts {
  readonly operation: string;
  readonly method: string;
  readonly url: URL;
  readonly serverAddress: string;
  readonly serverPort: number;
  readonly region: string;
  readonly request: RequestInfo | undefined;
  /** The request's headers as sent: read by diagnostics only, never copied to telemetry. */
  readonly requestHeaders: RequestHeaders | undefined;
  readonly application: LlmGatewayContext | undefined;
  /** Absent when no response arrived. */
  readonly status: number | undefined;
  readonly rateLimit: RateLimitInfo;
  readonly isEventStream: boolean;
  readonly response: ResponseInfo;
  /** The body's request_id, else an `x-request-id` header. */
  readonly requestId: string | undefined;
  readonly outcome: Outcome;
  /** The gateway's error code, when the gateway (or a stream's error event) reported a failure. */
  readonly errorCode: string | undefined;
  /** `error.type`: the error code, or the transport cause of a failure. */
  readonly errorType: string | undefined;
  /** The span status message of a failed call. */
  readonly statusMessage: string | undefined;
  /** Only when the request named fallbacks: a fallback served the call. */
  readonly fallbackUsed: boolean | undefined;
  readonly startedAt: number;
  readonly endedAt: number;
  /** Streams: when the first body chunk arrived. */
  readonly firstChunkAt: number | undefined;
}

export function durationSeconds(facts: CallFacts): number {
  return (facts.endedAt - facts.startedAt) / 1000;
}

/** Streams only: seconds from the request to the first body chunk. */
export function timeToFirstChunkSeconds(facts: CallFacts): number | undefined {
  return facts.isEventStream && facts.firstChunkAt !== undefined
    ? (facts.firstChunkAt - facts.startedAt) / 1000
    : undefined;
}

/** The port a URL addresses, defaults included (semconv `server.port`). */
export function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'http:' ? 80 : 443;
}

/**
 * A low-cardinality `error.type` for a transport failure: `aborted`, `timeout`, the
 * system/undici error code (`ECONNRESET`, `UND_ERR_SOCKET`, ...), else the error's name.
 */
export function errorTypeOf(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '_OTHER';
  const e = error as { name?: unknown; code?: unknown; cause?: unknown };
  if (e.name === 'AbortError') return 'aborted';
  if (e.name === 'TimeoutError') return 'timeout';
  const cause = e.cause as { code?: unknown; name?: unknown } | undefined;
  if (cause && typeof cause === 'object') {
    if (cause.name === 'AbortError') return 'aborted';
    if (
      cause.name === 'TimeoutError' ||
      cause.code === 'UND_ERR_HEADERS_TIMEOUT' ||
      cause.code === 'UND_ERR_BODY_TIMEOUT'
    )
      return 'timeout';
    if (typeof cause.code === 'string') return cause.code;
  }
  if (e.code === 'ETIMEDOUT' || e.code === 'ESOCKETTIMEDOUT') return 'timeout';
  if (typeof e.code === 'string') return e.code;
  return typeof e.name === 'string' && e.name ? e.name : '_OTHER';
}

/**
 * An error message fit for a span status: bounded, and with every URL in it reduced to its
 * origin and path (undici quotes whole URLs, userinfo and query string included).
 */
export function safeMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, (url) => {
      try {
        return redactUrl(new URL(url));
      } catch {
        return 'REDACTED-URL';
      }
    })
    .replace(/\bbearer\s+\S+/gi, 'Bearer REDACTED')
    .slice(0, 200);
}
